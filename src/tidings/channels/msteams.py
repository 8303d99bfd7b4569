"""Microsoft Teams incoming webhook: an Adaptive Card (MessageCard is retired), its header
coloured by status, an "open" action, and mentions by email declared in msteams.entities.

Teams answers HTTP 200 with the text "1"; refusals are plain text (400 bad payload, 413 too
large, 429 too fast), and an overloaded connector may answer 200 with an error text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    clip_bytes,
    encode_json,
    fit,
    http_outcome,
)
from tidings.notify import texts
from tidings.notify.content import Message, Note
from tidings.schema import IDS, Model

if TYPE_CHECKING:
    from tidings.channels.ports import SystemView

WEBHOOK_TYPE = "msteams"
# 28 KB a message, 4 requests a second per webhook.
MAX_BODY = 28 * 1024
LIMITS = Limits(max_body_bytes=MAX_BODY, per_second=4)
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
HEADERS = {"Content-Type": "application/json"}
_HINTS = {
    400: "Teams could not render the card",
    404: "the webhook was deleted: create a new one and update hook_address",
    410: "the webhook was deleted: create a new one and update hook_address",
    413: "the message is too large",
}


@dataclass
class MsTeamsConfig(Model):
    """msteams_notification_config (Zadig's fields)."""

    hook_address: str
    at_emails: list[str] = field(default_factory=list, metadata=IDS)
    dynamic_recipients: list[str] = field(default_factory=list)


def destination(config: MsTeamsConfig, system: SystemView | None = None) -> Destination:
    return Destination(
        identity.address_key(WEBHOOK_TYPE, [config.hook_address]), config.hook_address
    )


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def mention_entities(emails: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """(`<at>a@x</at> ...` to show, the entities that make Teams notify them)."""
    clean = [e.strip() for e in emails if e.strip() and "<" not in e and ">" not in e]
    entities = [
        {"type": "mention", "text": f"<at>{e}</at>", "mentioned": {"id": e, "name": e}}
        for e in clean
    ]
    return " ".join(f"<at>{e}</at>" for e in clean), entities


def _card(
    body: list[dict[str, Any]], url: str | None, link: str, emails: list[str]
) -> dict[str, Any]:
    mentions, entities = mention_entities(emails)
    if mentions:
        body.append(_text(mentions))
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full", **({"entities": entities} if entities else {})},
    }
    if url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": link, "url": url}]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE, "contentUrl": None, "content": content}],
    }


def _workflow_card(message: Message, config: MsTeamsConfig) -> dict[str, Any]:
    """Zadig's sendMSTeamsMessage: the title coloured by status, then the markdown of the
    other IM messages below it, the mentions, the link."""
    colour = texts.teams_colour(message.status)
    title = escape.markdown(message.plain_title())
    body: list[dict[str, Any]] = [
        _text(title, weight="Bolder", size="Large", color=colour.capitalize()),
        _text(md.body(message)),
    ]
    return _card(body, escape.safe_url(message.url), message.link_text, config.at_emails)


def _request(body: dict[str, Any], ctx: RenderContext, label: str) -> Request:
    return Request(WEBHOOK_TYPE, ctx.destination, body, headers=dict(HEADERS), label=label)


def render(message: Message, config: MsTeamsConfig, ctx: RenderContext) -> list[Request]:
    body = fit(
        message,
        lambda m: _workflow_card(m, config),
        lambda b: len(encode_json(b)),
        MAX_BODY - 512,
    )
    return [_request(body, ctx, "card")]


def render_note(note: Note, config: MsTeamsConfig, ctx: RenderContext) -> list[Request]:
    """Zadig's notification job on Teams: the title, the author's markdown, the link."""
    room = MAX_BODY - 4096
    body = [
        {
            "type": "Container",
            "style": "accent",
            "bleed": True,
            "items": [_text(note.title, weight="Bolder", size="Medium")],
        },
        _text(clip_bytes(note.content, room, note.text("truncated"))),
    ]
    card = _card(body, escape.safe_url(note.url), note.text("more"), config.at_emails)
    return [_request(card, ctx, "card")]


def _digest_card(d: digest.Digest) -> dict[str, Any]:
    """A digest as an adaptive card: the title, a block per workflow with one markdown line
    per task (icon, linked task id, status, creator), the mentions once each."""
    body: list[dict[str, Any]] = [_text(escape.markdown(d.title()), weight="Bolder", size="Large")]
    for workflow, found in d.groups():
        rows = [f"**{escape.markdown(workflow)}**"]
        for line in found:
            rows.append(f"- {d.row(line, md.link, escape.markdown)}")
        body.append(_text("\n".join(rows)))
    return _card(body, None, "", list(d.mentions.get("at_emails", [])))


def render_digest(
    items: list[digest.Item], ctx: RenderContext
) -> list[tuple[list[Request], list[digest.Item]]]:
    """A backlog as card digests within Teams' 28 KB."""
    packed = digest.pack(items, _digest_card, lambda b: len(encode_json(b)), MAX_BODY - 512)
    return [([_request(body, ctx, "digest")], carried) for _, body, carried in packed]


def interpret(response: Response) -> Outcome:
    text = response.body[:300].decode("utf-8", "replace").strip()
    if 200 <= response.status < 300:
        if text in ("", "1"):
            return Ok(f"HTTP {response.status}", response.status)
        if "429" in text:  # the connector passes Teams' throttling on with HTTP 200
            return Retry(f"HTTP {response.status}: {text}", after=1.0, code=429)
        return Fail(f"HTTP {response.status}: {text}", response.status)
    decided = http_outcome(response)
    if decided is not None:
        reason = f"{decided.reason}: {text}" if text else decided.reason
        return Retry(reason, decided.after, response.status)
    if response.status == 408:
        return Retry(f"HTTP 408: {text}", code=408)
    hint = _HINTS.get(response.status, "")
    return Fail(f"HTTP {response.status}: {text}" + (f" — {hint}" if hint else ""), response.status)


CHANNEL = Channel(
    webhook_type=WEBHOOK_TYPE,
    config_key="msteams_notification_config",
    config_type=MsTeamsConfig,
    limits=LIMITS,
    destination=destination,
    render=render,
    render_note=render_note,
    interpret=interpret,
    sandbox="msteams",
    known_as=("teams", "ms_teams"),
    escape=escape.markdown,
    url_fields=("hook_address",),
    mentions="at_emails",
    recipient_fields={"email": "at_emails"},
    render_digest=render_digest,
    digest_mentions=("at_emails",),
)
