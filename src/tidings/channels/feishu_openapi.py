"""The Feishu / Lark open platform as a self-built app: tenant token, id lookup, message send.

Shared by `feishu_app` (a group chat) and `feishu_person` (each person). Rendering stays
pure: a stored request holds the message API body without the token, without the `uuid`
(the delivery id, added when sent) and, for the task creator, without the receiver's id
(looked up by phone, then email, when sent). `deliver` runs those steps (feishu_steps) with
the worker's cache, so one tenant token serves every message of an app until it nears expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from tidings.channels import escape, identity
from tidings.channels.base import (
    Destination,
    Fail,
    Limits,
    Ok,
    Outcome,
    Problems,
    Request,
    Response,
    Retry,
    accepted,
    encode_json,
    fit,
    http_outcome,
    not_accepted,
    platform_code,
)
from tidings.channels.feishu_steps import (
    APP_LIMITS,
    INVALID_TOKEN,
    JSON_HEADERS,
    LOOKUP_PATH,
    LOOKUP_TYPES,
    RATE_LIMITED,
    TOKEN_PATH,
    App,
    app_sends,
    code_of,
    lookup,
    pace_app,
    post,
    reset_after,
    tenant_token,
)
from tidings.channels.ports import TransportFailure
from tidings.notify import texts
from tidings.notify.content import Message, Note
from tidings.people import Person
from tidings.redact import MASK
from tidings.schema import Model, before

if TYPE_CHECKING:
    from tidings.channels.ports import ConfigView, LarkApp, SendIO, SystemView

# 5 messages a second to one chat or one user; an app's own limits (50 a second, 1000 a
# minute, across its destinations) are paced by feishu_steps.pace_app when it sends.
LIMITS = Limits(per_second=5)
MESSAGES_PATH = "/open-apis/im/v1/messages"
MAX_CARD_BYTES = 30 * 1024  # `content` of an interactive message

_HINTS = {
    230001: "the message content was refused as invalid",
    230013: "{target} is outside the app's availability (可用范围): add them in the developer "
    "console, or fix the id",
    230025: "the message is too long",
    99991672: "the app lacks a permission (im:message / contact:user.id:readonly): enable it "
    "in the developer console and publish a new version",
    99992402: "a field was refused: check the ids and their id_type",
}


# --- configuration ------------------------------------------------------------------------

# Feishu receive_id_type values a person can be addressed by (specs/platforms.md); and
# `mobile` (an extension, feishu_person): the person is looked up by phone when sent.
LARK_ID_TYPES = ("open_id", "union_id", "user_id", "email", "mobile")


def _user_id_type(value: Any) -> Any:
    return value or "user_id"  # Zadig leaves it empty for user_id


@dataclass
class LarkUser(Model):
    """Zadig's lark.UserInfo: a Feishu user by id (of `id_type`), or the task creator
    (is_executor) or whoever may run the manual stage the task waits at (is_stage_executor)."""

    id: str = ""
    id_type: Literal["open_id", "union_id", "user_id", "email", "mobile"] = dataclass_field(
        default="user_id", metadata=before(_user_id_type)
    )
    name: str = ""
    avatar: str = ""
    is_executor: bool = False
    is_stage_executor: bool = False


@dataclass
class LarkChat(Model):
    chat_id: str
    chat_name: str = ""


def recipient_entry(kind: str, value: str) -> LarkUser:
    """A person named by dynamic_recipients, as an at_users / target_users entry (a mobile
    only for feishu_person, which looks the person up when it sends)."""
    id_type = {"email": "email", "mobile": "mobile"}.get(kind, "user_id")
    return LarkUser(id=value, id_type=id_type)  # type: ignore[arg-type]


def app_problems(config_key: str, app_ref: str, config: ConfigView) -> Problems:
    """The im_apps entry a sub-config's app_id names must exist."""
    if config.system.im_app(app_ref) is not None:
        return []
    known = ", ".join(repr(app.id) for app in config.system.im_apps)
    hint = (
        f"one of the system.im_apps ids: {known}"
        if known
        else "add the Feishu app under system.im_apps (id, app_id, app_secret)"
    )
    return [((config_key, "app_id"), f"unknown app {app_ref!r}; {hint}")]


def app_of(system: SystemView | None, app_ref: str) -> LarkApp:
    """The im_apps entry a sub-config names (ValueError: the delivery cannot be sent)."""
    app = system.im_app(app_ref) if system is not None else None
    if app is None:
        raise ValueError(f"Feishu app {app_ref!r} is no longer in system.im_apps")
    return app


def destination(app: LarkApp, channel: str, parts: list[str], display: str) -> Destination:
    """The app is its open platform and app_id (not the im_apps id that names it in the
    file): `parts` add what of it the ctl addresses (a chat)."""
    return Destination(
        key=identity.address_key(channel, [app.base, app.app_id, *parts]),
        url=app.base,
        secret=app.app_secret,
        display=display,
        options={"im_app": app.id, "app_id": app.app_id},
    )


# --- rendering (pure) ----------------------------------------------------------------------


def card_content(message: Message) -> dict[str, Any]:
    """The Feishu bot's card (the same layout), fitted to the app's 30 KB content limit."""
    from tidings.channels.feishu import card

    return fit(message, card, lambda c: len(encode_json(c)), MAX_CARD_BYTES - 256)


def note_content(note: Note) -> dict[str, Any]:
    """A notification job's card (Zadig's sendLarkMessage), within the 30 KB limit."""
    from tidings.channels.feishu import note_card

    return note_card(note, MAX_CARD_BYTES - 2048)


def message_request(
    channel: str,
    key: str,
    *,
    receive_id_type: str,
    receive_id: str,
    msg_type: str,
    content: dict[str, Any],
    label: str,
    target: str,
    executor: Person | None = None,
) -> Request:
    """A message to send. `target` names the receiver in errors; `executor` is looked up."""
    body: dict[str, Any] = {
        "receive_id_type": receive_id_type,
        "receive_id": receive_id,
        "msg_type": msg_type,
        "content": encode_json(content).decode("utf-8"),  # a JSON *string*, as the API wants
        "target": target,
    }
    if executor is not None:
        body["executor"] = {
            "name": executor.name,
            "mobile": executor.phone,
            "email": executor.email,
        }
    return Request(channel, key, body, headers=dict(JSON_HEADERS), label=label)


def mention_text(title: str, users: list[LarkUser], at_all: bool, language: str) -> dict[str, str]:
    """`<at user_id="…">Name</at>` for each configured user, then everyone."""
    tags = []
    for user in users:
        name = escape.plain(user.name or user.id).replace("<", "").replace(">", "")
        uid = "".join(ch for ch in user.id if ch.isalnum() or ch in "_-.@")
        attr = "email" if user.id_type == "email" else "user_id"
        tags.append(f'<at {attr}="{uid}">{name}</at>')
    if at_all:
        tags.append(f'<at user_id="all">{texts.TEXTS[language]["at_all"]}</at>')
    return {"text": f"{title} {' '.join(tags)}"}


# --- sending -------------------------------------------------------------------------------


def _split(request: Request) -> tuple[str, str, dict[str, Any] | None, dict[str, Any]]:
    """(receive_id_type, target, executor, the API body without tidings' own fields)."""
    body = dict(request.body)
    id_type = str(body.pop("receive_id_type"))
    target = str(body.pop("target", ""))
    executor = body.pop("executor", None)
    return id_type, target, executor, body


async def deliver(
    request: Request, destination: Destination, delivery_id: str, io: SendIO
) -> tuple[Outcome, int | None]:
    """Send one message: token (cached), receiver lookup (cached), send with uuid; on an
    invalid token refresh once and send again."""
    app = App(destination)
    id_type, target, executor, body = _split(request)
    body["uuid"] = delivery_id  # a retried send is not shown twice
    stale: str | None = None
    try:
        for _ in range(2):
            token = await tenant_token(io, app, stale)
            if not isinstance(token, str):
                return token, None
            if executor is not None:
                found = await lookup(io, app, token, executor, id_type)
                if found is None:  # the token was refused
                    stale = token
                    continue
                if not isinstance(found, tuple):
                    return found, None
                id_type, body["receive_id"] = found
            paced = await pace_app(io, app)
            if paced is not None:
                return paced, None
            try:
                response = await post(
                    io, f"{app.base}{MESSAGES_PATH}?receive_id_type={quote(id_type)}", body, token
                )
            finally:
                io.answered(app_sends(app), APP_LIMITS)
            if code_of(response) == INVALID_TOKEN and stale is None:
                stale = token
                continue
            return interpret(response, target), response.status
    except TransportFailure as exc:
        if exc.permanent:
            return Fail(str(exc)), None
        return Retry(f"network error: {exc}"), None
    return Retry("the tenant token was refused twice in a row"), None


def interpret(response: Response, target: str = "") -> Outcome:
    """The message API's answer: errors come as HTTP 400 with a code (or 429 / 5xx)."""
    data = response.json()
    code = platform_code(data.get("code")) if isinstance(data, dict) else None
    if response.status == 429 or code == RATE_LIMITED:
        return Retry(
            f"rate limited (HTTP {response.status}, code {code})",
            after=reset_after(response),
            code=code if code is not None else response.status,
        )
    if isinstance(code, int):
        message = str(data.get("msg", ""))
        if code == 0:
            if not accepted(response):
                return not_accepted(response, "code 0")
            message_id = (data.get("data") or {}).get("message_id", "")
            return Ok(f"message {message_id}" if message_id else "ok", code)
        if response.status >= 500:
            return Retry(f"HTTP {response.status}, code {code}: {message}", code=code)
        if code == INVALID_TOKEN:
            return Retry(f"code {code}: {message}", code=code)
        hint = _hint(code, target)
        return Fail(f"code {code}: {message}" + (f" — {hint}" if hint else ""), code)
    decided = http_outcome(response)
    if decided is not None:
        return decided
    return Fail(f"HTTP {response.status}: not a Feishu answer: {response.body[:200]!r}")


def _hint(code: int, target: str) -> str:
    if code == 230002:
        chat = f"the group {target}" if target else "the group"
        return (
            f"the app's bot is not in {chat}: add it (group settings → 群机器人 → 添加机器人) "
            "or fix chat.chat_id"
        )
    return _HINTS.get(code, "").format(target=target or "the receiver")


# --- preview -------------------------------------------------------------------------------


def preview(
    request: Request, destination: Destination, delivery_id: str, now: float
) -> list[dict[str, Any]]:
    """The calls deliver would make (token, lookup, message), secrets masked. The token
    request is made once per app; the preview shows it with every message."""
    app = App(destination)
    id_type, _target, executor, body = _split(request)
    auth = {**JSON_HEADERS, "Authorization": f"Bearer {MASK}"}
    rows: list[dict[str, Any]] = [
        {
            "label": "tenant_access_token",
            "method": "POST",
            "url": app.base + TOKEN_PATH,
            "headers": dict(JSON_HEADERS),
            "body": {"app_id": app.app_id, "app_secret": MASK},
        }
    ]
    if executor is not None and not (id_type == "email" and executor.get("email")):
        kind = id_type if id_type in LOOKUP_TYPES else "open_id"
        rows.append(
            {
                "label": "batch_get_id",
                "method": "POST",
                "url": f"{app.base}{LOOKUP_PATH}?user_id_type={kind}",
                "headers": auth,
                "body": {
                    "mobiles": [executor["mobile"]] if executor.get("mobile") else [],
                    "emails": [executor["email"]] if executor.get("email") else [],
                    "include_resigned": False,
                },
            }
        )
        id_type, body["receive_id"] = kind, f"<{kind} of {executor.get('name') or '?'}>"
    elif executor is not None:
        body["receive_id"] = executor["email"]
    rows.append(
        {
            "label": request.label,
            "method": "POST",
            "url": f"{app.base}{MESSAGES_PATH}?receive_id_type={quote(id_type)}",
            "headers": auth,
            "body": {**body, "uuid": delivery_id},
        }
    )
    return rows
