"""Slack incoming webhook (a tidings extension: Zadig has none): a Block Kit message with the
same content as the other IM channels, its colour bar by status, mentions `<@U…>` /
`<!channel>`, and the link as a button.

Slack answers HTTP 200 with the text `ok`; refusals are plain-text codes with their own HTTP
status (400 invalid_payload, 403 action_prohibited, 404 channel_not_found / no_service,
410 channel_is_archived, 429 rate_limited with Retry-After, 500 rollup_error). One message a
second per webhook (short bursts are tolerated, not promised): paced to one a second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidings.channels import digest, identity
from tidings.channels import escape as shared
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
    clip_bytes,
    encode_json,
    fit,
    http_outcome,
)
from tidings.notify import texts
from tidings.notify.content import Line, Message, Note
from tidings.schema import IDS, Model

if TYPE_CHECKING:
    from tidings.channels.ports import SystemView

WEBHOOK_TYPE = "slack"
CONFIG_KEY = "slack_notification_config"
# 40,000 characters of text; 50 blocks, 3,000 characters a section, 150 a header, 75 a
# button's text. One message a second per webhook.
MAX_BODY = 40_000
LIMITS = Limits(max_body_bytes=MAX_BODY, per_second=1)
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_BUTTON = 75
HEADERS = {"Content-Type": "application/json; charset=utf-8"}
_HINTS = {
    "invalid_payload": "Slack could not read the message: report it (tidings' own bug)",
    "invalid_blocks": "Slack refused the message's layout: report it (tidings' own bug)",
    "user_not_found": "a user in at_users does not exist in this workspace",
    "action_prohibited": "the workspace does not let this webhook post here (an admin setting)",
    "channel_not_found": "the webhook's channel was deleted: create a new webhook and update "
    "hook_address",
    "channel_is_archived": "the webhook's channel was archived: unarchive it, or create a "
    "webhook for another channel and update hook_address",
    "no_service": "the webhook was removed or disabled: create a new one and update hook_address",
    "no_team": "the webhook's workspace is gone: create a new webhook and update hook_address",
}
_MENTION_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass
class SlackConfig(Model):
    """slack_notification_config (tidings extension)."""

    hook_address: str  # https://hooks.slack.com/services/T…/B…/… (the URL is the secret)
    at_users: list[str] = field(default_factory=list, metadata=IDS)  # member ids, U…/W…
    dynamic_recipients: list[str] = field(default_factory=list)
    is_at_all: bool = False  # <!channel>


def destination(config: SlackConfig, system: SystemView | None = None) -> Destination:
    return Destination(
        identity.address_key(WEBHOOK_TYPE, [config.hook_address]), config.hook_address
    )


# --- escaping ------------------------------------------------------------------------------


def escape(text: str, *, block: bool = False) -> str:
    """User text in Slack mrkdwn: `&`, `<`, `>` as entities (so it can never be `<@U…>`,
    `<!channel>` or `<url|link>`), formatting tokens broken (`*`, `_`, `~`, `` ` ``); the
    texts are also sent `verbatim`, so bare URLs and #channels stay text."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([*_~`])", "\\1" + shared.ZWSP, text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not block:
        return " ".join(part.strip() for part in text.split("\n") if part.strip())
    return text


def _link(text: str, url: str) -> str:
    safe = shared.safe_url(url)
    return f"<{safe}|{escape(text)}>" if safe else escape(text)


def _line(item: Line) -> str:
    value = escape(item.value, block=item.block)
    links = " ".join(_link(text, url) for text, url in item.links)
    shown = " ".join(part for part in (value, links) if part)
    if item.block and "\n" in shown:
        shown = "\n" + shown
    return f"*{item.label}*：{shown}"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _mentions(config: SlackConfig) -> str:
    people = [f"<@{uid}>" for uid in config.at_users if _MENTION_ID.match(uid)]
    if config.is_at_all:
        people.append("<!channel>")
    return " ".join(people)


def _message(
    fallback: str,
    colour: str,
    blocks: list[dict[str, Any]],
    url: str | None,
    link: str,
    config: SlackConfig,
) -> dict[str, Any]:
    if url:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": link[:MAX_BUTTON]},
            "url": url,
            "style": "primary",
        }
        blocks.append({"type": "actions", "elements": [button]})
    mentions = _mentions(config)
    if mentions:
        blocks.append({"type": "section", "text": _mrkdwn(mentions)})
        fallback = f"{fallback} {mentions}"
    # `text` is what notifications and clients without blocks show; the blocks sit in an
    # attachment so the bar beside them shows the status's colour.
    return {"text": fallback, "attachments": [{"color": colour, "blocks": blocks}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:MAX_HEADER]}}


def _workflow(message: Message, config: SlackConfig) -> dict[str, Any]:
    title = " ".join(message.plain_title().split())
    blocks: list[dict[str, Any]] = [_header(title)]
    if message.info:
        blocks.append({"type": "section", "text": _mrkdwn("\n".join(map(_line, message.info)))})
    status_label = message.text("status")
    for job in message.jobs:
        head = f"*{job.type_text}*: {escape(job.name)}    *{status_label}*: {job.status_text}"
        blocks.append({"type": "divider"})
        text = "\n".join([head, *map(_line, job.lines)])
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    if message.hidden_jobs:
        blocks.append({"type": "context", "elements": [_mrkdwn(message.hidden_jobs_line())]})
    url = shared.safe_url(message.url)
    colour = texts.colour(message.status)
    return _message(escape(title), colour, blocks, url, message.link_text, config)


def _size(body: dict[str, Any]) -> int:
    """Its size on the wire, or more than any limit when a block is over Slack's own."""
    blocks = body["attachments"][0]["blocks"]
    too_long = any(len((b.get("text") or {}).get("text", "")) > MAX_SECTION for b in blocks)
    if len(blocks) > MAX_BLOCKS or too_long:
        return MAX_BODY + 1
    return len(encode_json(body))


def _request(body: dict[str, Any], ctx: RenderContext, label: str) -> Request:
    return Request(WEBHOOK_TYPE, ctx.destination, body, headers=dict(HEADERS), label=label)


def render(message: Message, config: SlackConfig, ctx: RenderContext) -> list[Request]:
    body = fit(message, lambda m: _workflow(m, config), _size, MAX_BODY - 512)
    return [_request(body, ctx, "message")]


def render_note(note: Note, config: SlackConfig, ctx: RenderContext) -> list[Request]:
    """A notification job on Slack: the title, the author's text as written, the link."""
    content = clip_bytes(note.content, MAX_SECTION - 64, note.text("truncated"))
    blocks: list[dict[str, Any]] = [_header(" ".join(note.title.split()))]
    if content:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": content}})
    url = shared.safe_url(note.url)
    body = _message(escape(note.title), "#3270e3", blocks, url, note.text("more"), config)
    return [_request(body, ctx, "message")]


_DIGEST_ROWS = 12  # task lines per section: well within a section's 3000 characters


def _digest(d: digest.Digest) -> dict[str, Any]:
    """A digest: the title, then each workflow in bold with one line per task (icon, linked
    task id, status, creator), a section per dozen lines; the mentions once each."""
    title = " ".join(d.title().split())
    blocks: list[dict[str, Any]] = [_header(title)]
    for workflow, found in d.groups():
        rows = [d.row(line, _link, escape) for line in found]
        for start in range(0, len(rows), _DIGEST_ROWS):
            head = [f"*{escape(workflow)}*"] if start == 0 else []
            text = "\n".join(head + rows[start : start + _DIGEST_ROWS])
            blocks.append({"type": "section", "text": _mrkdwn(text)})
    people = [f"<@{uid}>" for uid in d.mentions.get("at_users", []) if _MENTION_ID.match(uid)]
    if d.mentions.get("is_at_all"):
        people.append("<!channel>")
    fallback = escape(title)
    if people:
        blocks.append({"type": "section", "text": _mrkdwn(" ".join(people))})
        fallback = f"{fallback} {' '.join(people)}"
    return {"text": fallback, "attachments": [{"color": "#3270e3", "blocks": blocks}]}


def render_digest(
    items: list[digest.Item], ctx: RenderContext
) -> list[tuple[list[Request], list[digest.Item]]]:
    """A backlog as digests within Slack's 50 blocks and 40,000 bytes."""
    packed = digest.pack(items, _digest, _size, MAX_BODY - 512)
    return [([_request(body, ctx, "digest")], carried) for _, body, carried in packed]


def interpret(response: Response) -> Outcome:
    text = response.body[:300].decode("utf-8", "replace").strip()
    if 200 <= response.status < 300:
        if text in ("ok", ""):
            return Ok(f"HTTP {response.status}", response.status)
        return Fail(f"HTTP {response.status}: {text}", response.status)
    decided = http_outcome(response)  # 429 (Retry-After) and 5xx: again later
    if decided is not None:
        reason = f"{decided.reason}: {text}" if text else decided.reason
        return Retry(reason, decided.after, text or response.status)
    hint = _HINTS.get(text, "")
    return Fail(f"HTTP {response.status}: {text}" + (f" — {hint}" if hint else ""), text)


CHANNEL = Channel(
    webhook_type=WEBHOOK_TYPE,
    config_key=CONFIG_KEY,
    config_type=SlackConfig,
    limits=LIMITS,
    destination=destination,
    render=render,
    render_note=render_note,
    interpret=interpret,
    sandbox="slack",
    known_as=("slack_webhook",),
    escape=escape,
    url_fields=("hook_address",),
    mentions="at_users",
    at_all="is_at_all",
    recipient_fields={"user_id": "at_users"},
    render_digest=render_digest,
    digest_mentions=("at_users", "is_at_all"),
)
