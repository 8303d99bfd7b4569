"""WeCom group robot (企业微信群机器人): markdown with working <@userid> mentions, @all by text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tidings.channels import digest, escape, identity
from tidings.channels import markdown as md
from tidings.channels.base import (
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
    fit,
    http_outcome,
    in_groups,
    not_accepted,
    platform_code,
)
from tidings.notify.content import Message, Note
from tidings.schema import IDS, Model

if TYPE_CHECKING:
    from tidings.channels.ports import SystemView

WEBHOOK_TYPE = "wechat"
# markdown.content at most 4096 UTF-8 bytes; 20 messages a minute per robot, failures included.
MAX_CONTENT = 4096
LIMITS = Limits(max_content_bytes=MAX_CONTENT, per_minute=20)
HEADERS = {"Content-Type": "application/json"}

_HINTS = {
    93000: "the robot's webhook key is wrong or the robot was removed from the group",
    40058: "the message is too long",
}


@dataclass
class WechatConfig(Model):
    """wechat_notification_config (Zadig's fields)."""

    hook_address: str
    at_users: list[str] = field(default_factory=list, metadata=IDS)
    is_at_all: bool = False


def destination(config: WechatConfig, system: SystemView | None = None) -> Destination:
    return Destination(
        identity.address_key(WEBHOOK_TYPE, [config.hook_address]), config.hook_address
    )


MENTIONS = "##### **相关人员**: "


def _ids(users: list[str]) -> list[str]:
    """The user ids as `<@userid>` takes them; "All" is WeCom's @all, sent as text."""
    ids = (escape.plain(uid).replace(">", "") for uid in users)
    return [uid for uid in ids if uid and uid != "All"]


def _mention_lines(ids: list[str]) -> list[str]:
    """Zadig's mention line: `<@userid>` is what WeCom markdown notifies. (Zadig gates it on
    a deprecated field and so never sends it; here it works.) Hundreds of people do not fit
    one message (4096 bytes): then several lines, each within it, everyone on one of them."""
    budget = MAX_CONTENT - _size(MENTIONS) - 2  # the head and the closing " \n"
    groups = in_groups([f"<@{uid}>" for uid in ids], budget, _size)
    return [MENTIONS + " ".join(tags) + " \n" for tags in groups]


def _content(message: Message, mentions: str) -> str:
    text = md.heading(message) + md.body(message) + mentions
    url = escape.safe_url(message.url)
    if url:
        gap = "" if message.approval else "\n\n"  # the approval message: right after the text
        text += f"{gap}[{message.link_text}]({url})"
    return text


def _size(content: str) -> int:
    return len(content.encode("utf-8"))


# A mention line up to this size goes in the message, as Zadig puts it; a longer one (about 60
# people or more) follows in messages of its own, so that the message keeps room for its text.
INLINE_MENTIONS = MAX_CONTENT // 4


def _placed(users: list[str]) -> tuple[str, list[str]]:
    """The mention line to put in the message, and the mention lines to send after it."""
    lines = _mention_lines(_ids(users))
    if len(lines) == 1 and _size(lines[0]) <= INLINE_MENTIONS:
        return lines[0], []
    return "", lines


def _markdown(content: str, ctx: RenderContext, label: str = "markdown") -> Request:
    return Request(
        channel=WEBHOOK_TYPE,
        destination=ctx.destination,
        body={"msgtype": "markdown", "markdown": {"content": content}},
        headers=dict(HEADERS),
        label=label,
    )


def _at_all(title: str, ctx: RenderContext) -> Request:
    """markdown cannot mention everyone; a text message with mentioned_list ["@all"] can."""
    return Request(
        channel=WEBHOOK_TYPE,
        destination=ctx.destination,
        body={"msgtype": "text", "text": {"content": title, "mentioned_list": ["@all"]}},
        headers=dict(HEADERS),
        label="at-all",
    )


def render(message: Message, config: WechatConfig, ctx: RenderContext) -> list[Request]:
    """The message with its mention line; many people's mentions follow in their own
    messages (each within 4096 bytes); @all as a text message."""
    inline, after = _placed(config.at_users)
    content = fit(message, lambda m: _content(m, inline), _size, MAX_CONTENT)
    requests = [_markdown(content, ctx)]
    requests += [_markdown(line, ctx, "mentions") for line in after]
    if config.is_at_all:
        requests.append(_at_all(escape.plain(message.short_title()), ctx))
    return requests


def render_note(note: Note, config: WechatConfig, ctx: RenderContext) -> list[Request]:
    """Zadig's notification job on WeCom (sendWorkWxMessage): the title, the content and the
    link; the mentions as a second markdown message (more when they are hundreds)."""
    content = f"### {note.title}\n{note.content}\n"
    url = escape.safe_url(note.url)
    if url:
        content += f"[{note.text('more')}]({url})"
    content = clip_bytes(content, MAX_CONTENT, note.text("truncated"))
    requests = [_markdown(content, ctx)]
    for line in _mention_lines(_ids(config.at_users)):
        requests.append(_markdown(line, ctx, "mentions"))
    if config.is_at_all:
        requests.append(_at_all(note.title, ctx))
    return requests


def _digest_content(d: digest.Digest, mentions: str) -> str:
    """A digest as WeCom markdown: the title, each workflow in bold with one line per task
    (icon, linked task id, status, creator), the mentions once each."""
    out = [f"### {escape.plain(d.title())}\n"]
    for workflow, found in d.groups():
        out.append(f"**{escape.markdown(workflow)}**\n")
        for line in found:
            out.append(f"> {d.row(line, md.link, escape.markdown)}\n")
    out.append(mentions)
    return "".join(out)


def render_digest(
    items: list[digest.Item], ctx: RenderContext
) -> list[tuple[list[Request], list[digest.Item]]]:
    """A backlog as markdown digests, each within 4096 bytes of content; @all, when any
    merged ctl asked for it, once after the digest (markdown cannot mention everyone). Many
    people's mentions follow each digest in messages of their own."""

    def content_of(d: digest.Digest) -> str:
        return _digest_content(d, _placed(d.mentions.get("at_users", []))[0])

    packed = digest.pack(items, content_of, _size, MAX_CONTENT - 64)
    rendered = []
    for d, content, carried in packed:
        requests = [_markdown(content, ctx, "digest")]
        after = _placed(d.mentions.get("at_users", []))[1]
        requests += [_markdown(line, ctx, "mentions") for line in after]
        if d.mentions.get("is_at_all"):
            requests.append(_at_all(escape.plain(d.title()), ctx))
        rendered.append((requests, carried))
    return rendered


def interpret(response: Response) -> Outcome:
    decided = http_outcome(response)
    if decided is not None:
        return decided
    data = response.json()
    if not isinstance(data, dict) or "errcode" not in data:
        return Fail(f"HTTP {response.status}: not a WeCom answer: {response.body[:200]!r}")
    code = platform_code(data["errcode"])
    if code is None:
        return Fail(f"HTTP {response.status}: unreadable errcode {data['errcode']!r}")
    message = str(data.get("errmsg", ""))
    if code == 0:
        return Ok("ok", code) if accepted(response) else not_accepted(response, "errcode 0")
    if code in (45009, -1):  # rate limited; system busy
        return Retry(f"errcode {code}: {message}", after=60.0 if code == 45009 else None, code=code)
    hint = _HINTS.get(code, "") if isinstance(code, int) else ""
    return Fail(f"errcode {code}: {message}" + (f" — {hint}" if hint else ""), code)


CHANNEL = Channel(
    webhook_type=WEBHOOK_TYPE,
    config_key="wechat_notification_config",
    config_type=WechatConfig,
    limits=LIMITS,
    destination=destination,
    render=render,
    render_note=render_note,
    interpret=interpret,
    sandbox="wecom",
    known_as=("wecom", "weixin", "wework", "qywx", "workwechat"),
    escape=escape.markdown,
    url_fields=("hook_address",),
    mentions="at_users",
    at_all="is_at_all",
    deprecated={
        "hook_address": "weChat_webHook",
        "at_users": "wechat_user_ids",
        "is_at_all": "is_at_all",
    },
    deprecated_required=("weChat_webHook",),
    render_digest=render_digest,
    digest_mentions=("at_users", "is_at_all"),
)
