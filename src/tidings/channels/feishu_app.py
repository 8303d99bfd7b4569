"""Feishu/Lark app message to a group chat (飞书群组通知 via 自建应用): the bot's card, sent by
the app through the messages API, then a text message with the mentions (specs/zadig.md §3-4).

The token, the uuid and every retry rule live in feishu_openapi, shared with feishu_person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
from tidings.notify.content import Message
from tidings.schema import Model

if TYPE_CHECKING:
    from tidings.channels.ports import ConfigView, SystemView

WEBHOOK_TYPE = "feishu_app"
CONFIG_KEY = "lark_group_notification_config"
__all__ = ["CHANNEL", "LIMITS", "deliver", "destination", "interpret", "preview", "render"]


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


def render(message: Message, config: LarkGroupConfig, ctx: RenderContext) -> list[Request]:
    def send(msg_type: str, content: dict, label: str) -> Request:
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

    requests = [send("interactive", feishu_openapi.card_content(message), "card")]
    if config.at_users or config.is_at_all:
        title = escape.plain(message.short_title())
        text = feishu_openapi.mention_text(
            title, config.at_users, config.is_at_all, message.language
        )
        requests.append(send("text", text, "mentions"))
    return requests


CHANNEL = Channel(
    webhook_type=WEBHOOK_TYPE,
    config_key=CONFIG_KEY,
    config_type=LarkGroupConfig,
    limits=LIMITS,
    destination=destination,
    render=render,
    deliver=deliver,
    preview=preview,
    sandbox="feishu_app",
    escape=escape.lark_md,
    recipient_fields={"email": "at_users", "user id": "at_users"},
    recipient_entry=recipient_entry,
    check=check,
    needs_system=True,
)
