"""Each fired ctl's messages as its platform shows them, from the requests `tidings preview`
prepares (`tidings.sending.preview.prepared_calls`: the exact calls, secrets masked).

A `Shown` is what one platform client displays for one request: the template
(`_platform.html`) draws it by `kind`. Markup inside a message goes through
`console.markup`; every other value is text, escaped by the template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from tidings.console.markup import markdown, mrkdwn, safe_href
from tidings.dispatch.plan import Plan, Planned
from tidings.sending.preview import prepared_calls

FEISHU_COLOURS = {
    "blue",
    "wathet",
    "turquoise",
    "green",
    "yellow",
    "orange",
    "red",
    "carmine",
    "violet",
    "purple",
    "indigo",
    "grey",
}
HELPER_LABELS = ("tenant_access_token", "batch_get_id")  # calls before the message itself


@dataclass
class Shown:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fired:
    """One fired ctl to one destination: what its platform shows, and the calls as sent."""

    webhook_type: str
    key: str  # the destination key (what a test message is sent to)
    source: str  # the ctl: release/notify_ctls[0]
    address: str  # redacted
    shown: list[Shown]
    calls: list[dict[str, Any]]


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {"text": value}
    return value


def _button(text: str, url: str, primary: bool = False) -> dict[str, Any]:
    return {"text": text, "href": safe_href(url or ""), "primary": primary}


def dingtalk(body: dict[str, Any]) -> Shown:
    kind = body.get("msgtype")
    if kind == "markdown":
        part = body.get("markdown") or {}
        return Shown(
            "dingtalk-markdown",
            {"title": part.get("title", ""), "text": markdown(part.get("text", ""))},
        )
    if kind == "actionCard":
        card = body.get("actionCard") or {}
        buttons = [
            _button(b.get("title", ""), b.get("actionURL", "")) for b in card.get("btns") or []
        ]
        if card.get("singleTitle"):
            buttons.append(_button(card["singleTitle"], card.get("singleURL", "")))
        return Shown(
            "dingtalk-actioncard",
            {
                "title": card.get("title", ""),
                "text": markdown(card.get("text", "")),
                "buttons": buttons,
            },
        )
    text = (body.get("text") or {}).get("content", "")
    return Shown("text", {"text": text, "app": "DingTalk"})


def wecom(body: dict[str, Any]) -> Shown:
    if body.get("msgtype") == "markdown":
        return Shown(
            "wecom-markdown", {"text": markdown((body.get("markdown") or {}).get("content", ""))}
        )
    part = body.get("text") or {}
    mentions = ["@all" if m == "@all" else f"@{m}" for m in part.get("mentioned_list") or []]
    return Shown("text", {"text": part.get("content", ""), "mentions": mentions, "app": "WeCom"})


def feishu_card(card: dict[str, Any]) -> Shown:
    header = card.get("header") or {}
    colour = header.get("template", "blue")
    i18n = card.get("i18n_elements") or {}
    elements = card.get("elements") or i18n.get("zh_cn") or i18n.get("en_us") or []
    blocks: list[dict[str, Any]] = []
    for element in elements:
        tag = element.get("tag")
        if tag == "div":
            text = element.get("text") or {}
            blocks.append(
                {
                    "kind": "div",
                    "text": markdown(text.get("content", "")) if text else Markup(""),
                    "fields": [
                        markdown((f.get("text") or {}).get("content", ""))
                        for f in element.get("fields") or []
                    ],
                }
            )
        elif tag in ("markdown", "lark_md"):
            blocks.append(
                {"kind": "div", "text": markdown(element.get("content", "")), "fields": []}
            )
        elif tag == "hr":
            blocks.append({"kind": "hr"})
        elif tag == "action":
            blocks.append(
                {
                    "kind": "buttons",
                    "buttons": [
                        _button(
                            (a.get("text") or {}).get("content", ""),
                            a.get("url", ""),
                            a.get("type") == "primary",
                        )
                        for a in element.get("actions") or []
                    ],
                }
            )
        elif tag == "note":
            texts = [(e.get("content") or "") for e in element.get("elements") or []]
            blocks.append({"kind": "note", "text": " ".join(texts)})
    return Shown(
        "feishu-card",
        {
            "colour": colour if colour in FEISHU_COLOURS else "blue",
            "title": (header.get("title") or {}).get("content", ""),
            "blocks": blocks,
        },
    )


def feishu(body: dict[str, Any]) -> Shown:
    """A Feishu bot's body, or a Feishu app's message (`content` a JSON string)."""
    kind = body.get("msg_type")
    content = _json(body.get("content"))
    if kind == "interactive":
        return feishu_card(body.get("card") or content or {})
    text = (content or {}).get("text", "") if isinstance(content, dict) else str(content)
    return Shown("feishu-text", {"text": markdown(text)})


def teams(body: dict[str, Any]) -> Shown:
    attachments = body.get("attachments") or [{}]
    card = attachments[0].get("content") or {}
    blocks: list[dict[str, Any]] = []
    for element in card.get("body") or []:
        if element.get("type") == "TextBlock":
            classes = " ".join(
                str(element.get(name, "")).lower()
                for name in ("weight", "size", "color")
                if element.get(name)
            )
            blocks.append(
                {"kind": "text", "classes": classes, "text": markdown(element.get("text", ""))}
            )
        elif element.get("type") == "FactSet":
            facts = [(f.get("title", ""), f.get("value", "")) for f in element.get("facts") or []]
            blocks.append({"kind": "facts", "facts": facts})
    buttons = [
        _button(a.get("title", ""), a.get("url", ""))
        for a in card.get("actions") or []
        if a.get("type") == "Action.OpenUrl"
    ]
    return Shown("teams-card", {"blocks": blocks, "buttons": buttons})


def slack(body: dict[str, Any]) -> Shown:
    attachments = body.get("attachments") or []
    colour = (attachments[0].get("color") if attachments else "") or "#dddddd"
    blocks_in = (attachments[0].get("blocks") if attachments else None) or body.get("blocks") or []
    blocks: list[dict[str, Any]] = []
    for block in blocks_in:
        kind = block.get("type")
        if kind == "header":
            blocks.append({"kind": "header", "text": (block.get("text") or {}).get("text", "")})
        elif kind == "section":
            text = block.get("text") or {}
            shown = (
                mrkdwn(text.get("text", ""))
                if text.get("type") == "mrkdwn"
                else Markup.escape(text.get("text", ""))
            )
            blocks.append({"kind": "section", "text": shown})
        elif kind == "divider":
            blocks.append({"kind": "hr"})
        elif kind == "actions":
            buttons = [
                _button(
                    (e.get("text") or {}).get("text", ""),
                    e.get("url", ""),
                    e.get("style") == "primary",
                )
                for e in block.get("elements") or []
            ]
            blocks.append({"kind": "buttons", "buttons": buttons})
        elif kind == "context":
            texts = [e.get("text", "") for e in block.get("elements") or []]
            blocks.append({"kind": "section", "text": mrkdwn(" ".join(texts))})
    colour = (
        colour
        if colour.startswith("#") and len(colour) <= 9 and colour[1:].isalnum()
        else "#dddddd"
    )
    return Shown(
        "slack", {"text": mrkdwn(body.get("text", "")), "colour": colour, "blocks": blocks}
    )


def mail(body: dict[str, Any]) -> Shown:
    return Shown(
        "mail",
        {
            "subject": body.get("subject", ""),
            "from": body.get("from", ""),
            "to": body.get("to", ""),
            "html": body.get("html", ""),
        },
    )


def webhook(call: dict[str, Any]) -> Shown:
    return Shown(
        "webhook",
        {
            "method": call.get("method", "POST"),
            "url": call.get("url", ""),
            "headers": call.get("headers") or {},
            "body": json.dumps(call.get("body"), ensure_ascii=False, indent=2),
        },
    )


_BY_CHANNEL = {
    "dingding": dingtalk,
    "wechat": wecom,
    "feishu": feishu,
    "feishu_app": feishu,
    "feishu_person": feishu,
    "msteams": teams,
    "slack": slack,
}


def fired(plan: Plan) -> list[Fired]:
    """Every fired ctl's messages, as each platform shows them, in the plan's order."""
    items = []
    for item in plan.planned:
        calls = prepared_calls(Plan(plan.status, planned=[item], task=plan.task))
        items.append(
            Fired(
                item.webhook_type, item.key, item.source, item.display, shown_of(item, calls), calls
            )
        )
    return items


def shown_of(item: Planned, calls: list[dict[str, Any]]) -> list[Shown]:
    if item.webhook_type == "mail":
        return [mail(request.body) for request in item.requests]
    shown = []
    draw = _BY_CHANNEL.get(item.webhook_type)
    for call in calls:
        if call.get("label") in HELPER_LABELS:
            continue
        body = call.get("body")
        if draw is None or not isinstance(body, dict):
            shown.append(webhook(call))
        else:
            shown.append(draw(body))
    return shown


def wire(call: dict[str, Any]) -> str:
    """A call's body as JSON people read (a string body as it is)."""
    body = call.get("body")
    if isinstance(body, str):
        return body
    return json.dumps(body, ensure_ascii=False, indent=2)
