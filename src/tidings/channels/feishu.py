"""Feishu/Lark custom bot (飞书自定义机器人): an interactive card, then a text message with <at>.

The card header is green / orange / red by status; the signature goes in the body at send time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidings.channels import digest, escape, identity
from tidings.channels import markdown as md
from tidings.channels.base import (
    KEYWORD_HINT,
    Channel,
    Destination,
    Fail,
    Limits,
    Ok,
    Outcome,
    RenderContext,
    Request,
    Response,
    Retry,
    accepted,
    clip_bytes,
    encode_json,
    fit,
    http_outcome,
    in_groups,
    not_accepted,
    platform_code,
)
from tidings.notify import texts
from tidings.notify.content import Message, Note
from tidings.schema import IDS, Model

if TYPE_CHECKING:
    from tidings.channels.ports import SystemView

WEBHOOK_TYPE = "feishu"
# Body at most 20 KB; 5 a second and 100 a minute per bot. Room is kept for timestamp and sign.
MAX_BODY = 20 * 1024
LIMITS = Limits(max_body_bytes=MAX_BODY, per_second=5, per_minute=100)
_SIGN_ROOM = 120
HEADERS = {"Content-Type": "application/json"}

_HINTS = {
    19001: "the bot's webhook address is wrong or the bot was removed",
    19021: "lark_hook_notification_config.secret does not match the bot's signature secret "
    "(or this machine's clock is off by more than an hour)",
    19022: "add this machine's public IP to the bot's IP whitelist",
    19024: KEYWORD_HINT,
}


@dataclass
class LarkHookConfig(Model):
    """lark_hook_notification_config (Zadig's fields; `secret` is a tidings extension: the
    bot's signature verification)."""

    hook_address: str
    app_id: str = ""
    at_users: list[str] = field(default_factory=list, metadata=IDS)
    dynamic_recipients: list[str] = field(default_factory=list)
    is_at_all: bool = False
    secret: str | None = None


def destination(config: LarkHookConfig, system: SystemView | None = None) -> Destination:
    key = identity.address_key(WEBHOOK_TYPE, [config.hook_address])
    return Destination(key=key, url=config.hook_address, secret=config.secret or None)


def _field(content: str) -> dict[str, Any]:
    return {"is_short": False, "text": {"content": content, "tag": "lark_md"}}


def _card(template: str, title: str, elements: list[dict[str, Any]]) -> dict[str, Any]:
    """Zadig's LarkCard: the header, then i18n_elements.zh_cn (its only language)."""
    return {
        "config": {"wide_screen_mode": True},
        "header": {"template": template, "title": {"content": title, "tag": "plain_text"}},
        "i18n_elements": {"zh_cn": elements},
    }


def card(message: Message, header_template: str | None = None) -> dict[str, Any]:
    """Zadig's card: the info lines as fields of one div, a div per job, the link button."""
    info = [_field(md.line(item, "", escape.lark_md)) for item in message.info]
    elements: list[dict[str, Any]] = [{"fields": info, "tag": "div"}] if info else []
    status_label = message.text("status")
    for job in message.jobs:
        block = md.job_block(job, status_label, escape.lark_md)
        elements.append({"fields": [_field(block)], "tag": "div"})
    if message.hidden_jobs:
        elements.append({"fields": [_field(message.hidden_jobs_line())], "tag": "div"})
    url = escape.safe_url(message.url)
    if url:
        elements.append(button(message.link_text, url))
    if header_template is None:  # the approval message is green (getApproveNotificationContent)
        header_template = "green" if message.approval else texts.feishu_template(message.status)
    return _card(header_template, escape.plain(message.plain_title()), elements)


def note_card(note: Note, room: int) -> dict[str, Any]:
    """Zadig's notification job card (sendLarkMessage): blue, the title, the content as
    lark_md, the link button."""
    content = clip_bytes(note.content, room, note.text("truncated"))
    elements = [{"fields": [_field(content)], "tag": "div"}]
    url = escape.safe_url(note.url)
    if url:
        elements.append(button(note.text("more"), url))
    return _card("blue", note.title, elements)


def button(text: str, url: str) -> dict[str, Any]:
    action = {
        "tag": "button",
        "text": {"content": text, "tag": "plain_text"},
        "type": "primary",
        "url": url,
    }
    return {"tag": "action", "actions": [action]}


_SAFE_ID = re.compile(r"[^A-Za-z0-9_\-.@]")


def at_tags(user_ids: list[str], at_all: bool, language: str) -> list[str]:
    """`<at user_id="ou_x"></at>` for each id (from the config, sanitised; an email address,
    as dynamic_recipients may add, as `<at email="…">`), then everyone."""
    tags = [
        f'<at {"email" if "@" in uid else "user_id"}="{_SAFE_ID.sub("", uid)}"></at>'
        for uid in user_ids
    ]
    if at_all:
        tags.append(f'<at user_id="all">{texts.TEXTS[language]["at_all"]}</at>')
    return tags


def _request(body: dict[str, Any], ctx: RenderContext, label: str) -> Request:
    return Request(
        channel=WEBHOOK_TYPE,
        destination=ctx.destination,
        body=body,
        headers=dict(HEADERS),
        sign="feishu",
        label=label,
    )


def _mention_requests(
    title: str, users: list[str], at_all: bool, language: str, ctx: RenderContext
) -> list[Request]:
    """The mentions as text messages after the card (a card cannot notify anyone), the title
    first so that a bot protected by a keyword accepts them too; hundreds of people in as
    many messages as keep each within the bot's 20 KB body."""
    tags = at_tags(users, at_all, language)
    if not tags:
        return []

    def body(group: list[str]) -> dict[str, Any]:
        return {"msg_type": "text", "content": {"text": f"{title} {' '.join(group)}"}}

    budget = MAX_BODY - _SIGN_ROOM - len(encode_json(body([])))
    groups = in_groups(tags, budget, lambda tag: len(encode_json(tag)) - 2)  # in its JSON
    return [_request(body(group), ctx, "mentions") for group in groups]


def render(message: Message, config: LarkHookConfig, ctx: RenderContext) -> list[Request]:
    body = fit(
        message,
        lambda m: {"msg_type": "interactive", "card": card(m)},
        lambda b: len(encode_json(b)),
        MAX_BODY - _SIGN_ROOM,
    )
    title = escape.plain(message.short_title())
    mentions = _mention_requests(title, config.at_users, config.is_at_all, message.language, ctx)
    return [_request(body, ctx, "card"), *mentions]


def render_note(note: Note, config: LarkHookConfig, ctx: RenderContext) -> list[Request]:
    """A notification job on the Feishu bot (an extension: Zadig's notification job has no
    Feishu bot): the card of Zadig's Feishu app notification job, then the mentions."""
    body = {"msg_type": "interactive", "card": note_card(note, MAX_BODY - _SIGN_ROOM - 1024)}
    mentions = _mention_requests(note.title, config.at_users, config.is_at_all, note.language, ctx)
    return [_request(body, ctx, "card"), *mentions]


def _lark_link(text: str, url: str) -> str:
    return md.link(text, url, escape.lark_md)


def _digest_card(d: digest.Digest) -> dict[str, Any]:
    """A digest as a blue card: a div per workflow, one lark_md line per task (icon, linked
    task id, status, creator)."""
    elements: list[dict[str, Any]] = []
    for workflow, found in d.groups():
        rows = [f"**{escape.lark_md(workflow)}**"]
        rows += [d.row(line, _lark_link, escape.lark_md) for line in found]
        elements.append({"fields": [_field("\n".join(rows))], "tag": "div"})
    return {"msg_type": "interactive", "card": _card("blue", escape.plain(d.title()), elements)}


def render_digest(
    items: list[digest.Item], ctx: RenderContext
) -> list[tuple[list[Request], list[digest.Item]]]:
    """A backlog as card digests within the bot's 20 KB body; the mentions, once each, in a
    text message after each digest (a card cannot notify anyone)."""
    limit = MAX_BODY - _SIGN_ROOM - 256
    packed = digest.pack(items, _digest_card, lambda b: len(encode_json(b)), limit)
    rendered = []
    for d, body, carried in packed:
        users, at_all = list(d.mentions.get("at_users", [])), bool(d.mentions.get("is_at_all"))
        title = escape.plain(d.title())
        mentions = _mention_requests(title, users, at_all, d.language, ctx)
        rendered.append(([_request(body, ctx, "digest"), *mentions], carried))
    return rendered


def interpret(response: Response) -> Outcome:
    data = response.json()
    if isinstance(data, dict) and ("code" in data or "StatusCode" in data):
        raw = data.get("code", data.get("StatusCode"))
        code = platform_code(raw)
        message = str(data.get("msg", data.get("StatusMessage", "")))
        if code == 0:
            if not accepted(response):
                return not_accepted(response, "code 0")
            return Ok(message or "success", code)
        if code is None and http_outcome(response) is None:
            return Fail(f"HTTP {response.status}: unreadable code {raw!r}")
        if code == 11232 or response.status == 429:  # frequency limited
            return Retry(f"code {code}: {message}", after=1.0, code=code)
        if response.status >= 500:
            return Retry(f"HTTP {response.status}, code {code}: {message}", code=code)
        hint = _HINTS.get(code, "") if isinstance(code, int) else ""
        return Fail(f"code {code}: {message}" + (f" — {hint}" if hint else ""), code)
    decided = http_outcome(response)
    if decided is not None:
        return decided
    return Fail(f"HTTP {response.status}: not a Feishu answer: {response.body[:200]!r}")


CHANNEL = Channel(
    webhook_type=WEBHOOK_TYPE,
    config_key="lark_hook_notification_config",
    config_type=LarkHookConfig,
    limits=LIMITS,
    destination=destination,
    render=render,
    render_note=render_note,
    interpret=interpret,
    sandbox="feishu",
    known_as=("lark", "feishu_hook", "lark_hook"),
    escape=escape.lark_md,
    url_fields=("hook_address",),
    mentions="at_users",
    at_all="is_at_all",
    secret_fields=("secret",),
    recipient_fields={"user_id": "at_users", "email": "at_users"},
    deprecated={
        "hook_address": "feishu_webhook",
        "at_users": "lark_user_ids",
        "is_at_all": "is_at_all",
    },
    deprecated_required=("feishu_webhook",),
    manual_pause=True,
    render_digest=render_digest,
    digest_mentions=("at_users", "is_at_all"),
)
