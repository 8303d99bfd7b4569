"""Feishu/Lark app message to a group chat (飞书群组通知 via 自建应用): the bot's card, sent by
the app through the messages API, then a text message with the mentions (specs/zadig.md §3-4).

The token, the uuid and every retry rule live in feishu_openapi, shared with feishu_person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidings.channels import escape, feishu_openapi
from tidings.channels.base import Channel, Destination, Problems, RenderContext, Request
from tidings.channels.feishu_openapi import (
    LIMITS,
    LarkChat,
    LarkUser,
    deliver,
    interpret,
    preview,
    recipient_entry,
)
from tidings.notify.content import Message, Note
from tidings.schema import Model

if TYPE_CHECKING:
    from tidings.channels.ports import ConfigView, SystemView

WEBHOOK_TYPE = "feishu_app"
CONFIG_KEY = "lark_group_notification_config"
__all__ = [
    "CHANNEL",
    "LIMITS",
    "deliver",
    "destination",
    "interpret",
    "preview",
    "render",
    "render_note",
]


@dataclass
class LarkGroupConfig(Model):
    """lark_group_notification_config: a Feishu app's message to a group (飞书群组通知)."""

    app_id: str  # the id of a system.im_apps entry
    chat: LarkChat
    at_users: list[LarkUser] = field(default_factory=list)
    dynamic_recipients: list[str] = field(default_factory=list)
    is_at_all: bool = False


def check(config: LarkGroupConfig, view: ConfigView) -> tuple[Problems, Problems]:
    errors = feishu_openapi.app_problems(CONFIG_KEY, config.app_id, view)
    if not config.chat.chat_id:
        errors.append(((CONFIG_KEY, "chat", "chat_id"), "must not be empty"))
    for index, user in enumerate(config.at_users):
        if not user.id:
            errors.append(((CONFIG_KEY, "at_users", index, "id"), "must not be empty"))
        if user.id_type == "mobile":
            message = "a group message mentions by id or email; only feishu_person finds by phone"
            errors.append(((CONFIG_KEY, "at_users", index, "id_type"), message))
    return errors, []


def destination(config: LarkGroupConfig, system: SystemView | None = None) -> Destination:
    """The group chat of an app: the app and the chat_id are what is addressed."""
    app = feishu_openapi.app_of(system, config.app_id)
    return feishu_openapi.destination(
        app, WEBHOOK_TYPE, [config.chat.chat_id], f"{app.base} chat {_chat(config)}"
    )


def _chat(config: LarkGroupConfig) -> str:
    chat = config.chat
    return f"{chat.chat_name} ({chat.chat_id})" if chat.chat_name else chat.chat_id


def _send(
    config: LarkGroupConfig, ctx: RenderContext, msg_type: str, content: dict[str, Any], label: str
) -> Request:
    return feishu_openapi.message_request(
        WEBHOOK_TYPE,
        ctx.destination,
        receive_id_type="chat_id",
        receive_id=config.chat.chat_id,
        msg_type=msg_type,
        content=content,
        label=label,
        target=_chat(config),
    )


def _card_and_mentions(
    card: dict[str, Any], title: str, config: LarkGroupConfig, language: str, ctx: RenderContext
) -> list[Request]:
    """The card, then a text message mentioning the people, as Zadig sends them."""
    requests = [_send(config, ctx, "interactive", card, "card")]
    if config.at_users or config.is_at_all:
        text = feishu_openapi.mention_text(title, config.at_users, config.is_at_all, language)
        requests.append(_send(config, ctx, "text", text, "mentions"))
    return requests


def render(message: Message, config: LarkGroupConfig, ctx: RenderContext) -> list[Request]:
    card = feishu_openapi.card_content(message)
    title = escape.plain(message.short_title())
    return _card_and_mentions(card, title, config, message.language, ctx)


def render_note(note: Note, config: LarkGroupConfig, ctx: RenderContext) -> list[Request]:
    """Zadig's notification job to a group (sendLarkMessage): the blue card, the mentions."""
    card = feishu_openapi.note_content(note)
    return _card_and_mentions(card, escape.plain(note.title), config, note.language, ctx)


CHANNEL = Channel(
    webhook_type=WEBHOOK_TYPE,
    config_key=CONFIG_KEY,
    config_type=LarkGroupConfig,
    limits=LIMITS,
    destination=destination,
    render=render,
    render_note=render_note,
    deliver=deliver,
    preview=preview,
    sandbox="feishu_app",
    known_as=("lark_app", "lark_group", "feishu_group"),
    escape=escape.lark_md,
    recipient_fields={"email": "at_users", "user_id": "at_users"},
    recipient_entry=recipient_entry,
    check=check,
    needs_system=True,
    deprecated={
        "app_id": "feishu_app_id",
        "chat": "feishu_chat",
        "at_users": "lark_at_users",
        "is_at_all": "is_at_all",
    },
    deprecated_required=("feishu_app_id", "feishu_chat"),
    manual_pause=True,
)
