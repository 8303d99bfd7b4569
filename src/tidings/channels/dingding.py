"""DingTalk custom robot (钉钉自定义机器人): markdown / actionCard, @mobiles, 加签 at send time."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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

WEBHOOK_TYPE = "dingding"
# 20 messages a minute per robot (over it, the robot is throttled for 10 minutes); 20000-byte body.
MAX_BODY = 20000
LIMITS = Limits(max_body_bytes=MAX_BODY, per_minute=20)
THROTTLE_SECONDS = 600.0
HEADERS = {"Content-Type": "application/json;charset=utf-8"}

_HINTS = {
    "keywords not in content": KEYWORD_HINT,
    "sign not match": "dingding_notification_config.secret does not match the robot's 加签 secret",
    "invalid timestamp": "this machine's clock is off by more than an hour",
    "ip not in whitelist": "add this machine's public IP to the robot's IP whitelist",
}


@dataclass
class DingdingConfig(Model):
    """dingding_notification_config (Zadig's fields; `secret` is a tidings extension: 加签)."""

    hook_address: str
    at_mobiles: list[str] = field(default_factory=list, metadata=IDS)
    at_user_ids: list[str] = field(default_factory=list, metadata=IDS)
    dynamic_recipients: list[str] = field(default_factory=list)
    is_at_all: bool = False
    secret: str | None = None


def destination(config: DingdingConfig, system: SystemView | None = None) -> Destination:
    """The robot is its URL (with its access_token); the 加签 secret is today's, not its name."""
    key = identity.address_key(WEBHOOK_TYPE, [config.hook_address])
    return Destination(key=key, url=config.hook_address, secret=config.secret or None)


MENTION_PREFIX = "##### **相关人员**:"  # Zadig's, in Chinese whatever the language


def _mention_line(config: DingdingConfig) -> str:
    """`##### **相关人员**: @138...@139...` — DingTalk notifies only the mobiles (and user
    ids) written in the text; without any, `@所有人` for is_at_all (buildDingDingMarkdownText)."""
    people = [*config.at_mobiles, *config.at_user_ids]
    if people:
        return f"{MENTION_PREFIX} @{'@'.join(people)}"
    if config.is_at_all:
        return f"{MENTION_PREFIX} @{texts.TEXTS[texts.ZH_CN]['at_all']}"
    return ""


def _at(config: DingdingConfig) -> dict[str, Any]:
    return {
        "atMobiles": list(config.at_mobiles),
        "atUserIds": list(config.at_user_ids),
        "isAtAll": config.is_at_all,
    }


def _has_mentions(config: DingdingConfig) -> bool:
    return bool(config.at_mobiles or config.at_user_ids or config.is_at_all)


# `@mobile` text up to this size stays in the message, as Zadig writes it; more (a few hundred
# people) follows in messages of their own, so that each body stays within 20000 bytes.
INLINE_MENTIONS = 4096


def _inline(mobiles: list[str], user_ids: list[str]) -> bool:
    """Whether these people's `@` line is short enough to stay in the message."""
    return len(("@" + "@".join([*mobiles, *user_ids])).encode("utf-8")) <= INLINE_MENTIONS


def _apart(mobiles: list[str], user_ids: list[str]) -> list[tuple[list[str], list[str]]]:
    """When the people to mention are too many for the message: them in groups, each for a
    message of its own, (mobiles, user ids); else nothing (they stay in the message)."""
    if _inline(mobiles, user_ids):
        return []
    people = [*mobiles, *user_ids]
    # Each person is written twice: `@138…` in the text and "138…" in the at list.
    budget = MAX_BODY - 2048

    def size(person: str) -> int:
        return 2 * len(person.encode("utf-8")) + 4

    mobile = set(mobiles)
    return [
        ([p for p in group if p in mobile], [p for p in group if p not in mobile])
        for group in in_groups(people, budget, size)
    ]


def _mention_requests(
    title: str, groups: list[tuple[list[str], list[str]]], ctx: RenderContext
) -> list[Request]:
    """The people of each group as a markdown message: the title first (a robot protected by
    a keyword accepts it), their `@` line, and them in `at` so DingTalk notifies them."""
    requests = []
    for mobiles, user_ids in groups:
        line = f"{MENTION_PREFIX} @{'@'.join([*mobiles, *user_ids])}"
        body = {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": f"{title}\n{line}"},
            "at": {"atMobiles": mobiles, "atUserIds": user_ids, "isAtAll": False},
        }
        requests.append(_request(body, ctx, "mentions"))
    return requests


def action_url(url: str) -> str:
    """Open the link in DingTalk's side panel on desktop, as Zadig does."""
    return f"dingtalk://dingtalkclient/page/link?url={quote(url, safe='')}&pc_slide=false"


def _message(
    title: str, text: str, url: str | None, link: str, config: DingdingConfig
) -> dict[str, Any]:
    """Zadig's BuildDingDingMessage: an actionCard with the link as its button, or, to
    mention people, markdown with the link and the mention line after the text."""
    if _has_mentions(config) or not url:
        text = text.strip()
        if url:
            text = f"{text}\n\n[{link}]({url})"
        mentions = _mention_line(config)
        if mentions and MENTION_PREFIX not in text:
            text = f"{text}\n{mentions}"
        return {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": text.strip()},
            "at": _at(config),
        }
    return {
        "msgtype": "actionCard",
        "actionCard": {
            "hideAvatar": "0",
            "btnOrientation": "0",
            "text": text,
            "title": title,
            "btns": [{"title": link, "actionURL": action_url(url)}],
        },
        "at": _at(config),
    }


def _workflow_body(message: Message, config: DingdingConfig) -> dict[str, Any]:
    text = md.heading(message, dingtalk=True)
    text += md.body(message, prefix="##### ", job_separator="\n\n---\n\n")
    title = escape.plain(message.plain_title())
    return _message(title, text, escape.safe_url(message.url), message.link_text, config)


def _request(body: dict[str, Any], ctx: RenderContext, label: str) -> Request:
    return Request(
        channel=WEBHOOK_TYPE,
        destination=ctx.destination,
        body=body,
        headers=dict(HEADERS),
        sign="dingtalk",
        label=label,
    )


def render(message: Message, config: DingdingConfig, ctx: RenderContext) -> list[Request]:
    """The message, its mentions in it; a few hundred people's follow in their own."""
    groups = _apart(config.at_mobiles, config.at_user_ids)
    inline = replace(config, at_mobiles=[], at_user_ids=[]) if groups else config
    body = fit(
        message,
        lambda m: _workflow_body(m, inline),
        lambda b: len(encode_json(b)),
        MAX_BODY,
    )
    title = escape.plain(message.plain_title())
    return [_request(body, ctx, body["msgtype"]), *_mention_requests(title, groups, ctx)]


def render_note(note: Note, config: DingdingConfig, ctx: RenderContext) -> list[Request]:
    """Zadig's notification job on DingTalk (generateDingDingNotificationMessage): a blue
    bold title, the content, the people to notify; the link as the card's button."""
    # The author's markdown is kept as written, only cut to fit the body limit.
    groups = _apart(config.at_mobiles, config.at_user_ids)
    inline = replace(config, at_mobiles=[], at_user_ids=[]) if groups else config
    room = MAX_BODY - 2048 - INLINE_MENTIONS
    content = clip_bytes(note.content, room, note.text("truncated"))
    mentions = ""
    if inline.at_mobiles or inline.at_user_ids:
        mentions = f"{MENTION_PREFIX} @{'@'.join([*inline.at_mobiles, *inline.at_user_ids])} \n"
    text = f"### <font color={texts.APPROVAL_COLOUR}>**{note.title}**</font>\n{content}\n{mentions}"
    body = _message(note.title, text, escape.safe_url(note.url), note.text("more"), inline)
    return [_request(body, ctx, body["msgtype"]), *_mention_requests(note.title, groups, ctx)]


def _digest_body(d: digest.Digest) -> dict[str, Any]:
    """A digest as markdown: the title, each workflow in bold with its tasks below, one
    line each (icon, linked task id, status, creator), the mentions once each (unless they
    are too many: then they follow the digest, see render_digest)."""
    out = [f"### {escape.plain(d.title())} \n"]
    for workflow, found in d.groups():
        out.append(f"\n**{escape.markdown(workflow)}**  \n")
        for line in found:
            out.append(f"- {d.row(line, md.link, escape.markdown)}  \n")
    mentions = d.mentions
    if not _inline(list(mentions.get("at_mobiles", [])), list(mentions.get("at_user_ids", []))):
        mentions = {**mentions, "at_mobiles": [], "at_user_ids": []}
    people = [*mentions.get("at_mobiles", []), *mentions.get("at_user_ids", [])]
    if people:
        out.append(f"\n{MENTION_PREFIX} @{'@'.join(people)}")
    elif mentions.get("is_at_all"):
        out.append(f"\n{MENTION_PREFIX} @{texts.TEXTS[texts.ZH_CN]['at_all']}")
    at = {
        "atMobiles": list(mentions.get("at_mobiles", [])),
        "atUserIds": list(mentions.get("at_user_ids", [])),
        "isAtAll": bool(mentions.get("is_at_all")),
    }
    text = "".join(out).strip()
    return {"msgtype": "markdown", "markdown": {"title": d.title(), "text": text}, "at": at}


def render_digest(
    items: list[digest.Item], ctx: RenderContext
) -> list[tuple[list[Request], list[digest.Item]]]:
    """A backlog as markdown digests, each within the robot's 20000-byte body; a few hundred
    people's mentions follow each digest in messages of their own."""
    packed = digest.pack(items, _digest_body, lambda b: len(encode_json(b)), MAX_BODY - 256)
    rendered = []
    for d, body, carried in packed:
        people = list(d.mentions.get("at_mobiles", [])), list(d.mentions.get("at_user_ids", []))
        mentions = _mention_requests(escape.plain(d.title()), _apart(*people), ctx)
        rendered.append(([_request(body, ctx, "digest"), *mentions], carried))
    return rendered


def interpret(response: Response) -> Outcome:
    decided = http_outcome(response)
    if decided is not None:
        return decided
    data = response.json()
    if not isinstance(data, dict) or "errcode" not in data:
        return Fail(f"HTTP {response.status}: not a DingTalk answer: {response.body[:200]!r}")
    code = platform_code(data["errcode"])
    if code is None:
        return Fail(f"HTTP {response.status}: unreadable errcode {data['errcode']!r}")
    message = str(data.get("errmsg", ""))
    if code == 0:
        return Ok("ok", code) if accepted(response) else not_accepted(response, "errcode 0")
    if code == 130101:
        return Retry(f"errcode 130101: {message}", after=THROTTLE_SECONDS, code=code)
    if code == -1:  # "system busy"
        return Retry(f"errcode -1: {message}", code=code)
    hint = next((h for key, h in _HINTS.items() if key in message), "")
    return Fail(f"errcode {code}: {message}" + (f" — {hint}" if hint else ""), code)


CHANNEL = Channel(
    webhook_type=WEBHOOK_TYPE,
    config_key="dingding_notification_config",
    config_type=DingdingConfig,
    limits=LIMITS,
    destination=destination,
    render=render,
    render_note=render_note,
    interpret=interpret,
    sandbox="dingtalk",
    known_as=("dingtalk", "ding"),
    escape=escape.markdown,
    url_fields=("hook_address",),
    mentions="at_mobiles",
    at_all="is_at_all",
    secret_fields=("secret",),
    recipient_fields={"mobile": "at_mobiles", "user_id": "at_user_ids"},
    deprecated={
        "hook_address": "dingding_webhook",
        "at_mobiles": "at_mobiles",
        "is_at_all": "is_at_all",
    },
    deprecated_required=("dingding_webhook",),
    render_digest=render_digest,
    digest_mentions=("at_mobiles", "at_user_ids", "is_at_all"),
)
