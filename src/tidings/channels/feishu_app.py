"""Feishu/Lark app message to a group chat (飞书群组通知 via 自建应用): the bot's card, sent by
the app through the messages API, then a text message with the mentions (specs/zadig.md §3-4).

The token, the uuid and every retry rule live in feishu_openapi, shared with feishu_person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.channels import escape, feishu_openapi
from tidings.channels.base import Destination, RenderContext, Request
from tidings.channels.feishu_openapi import LIMITS, deliver, interpret, preview
from tidings.notify.content import Message

if TYPE_CHECKING:
    from tidings.config import LarkGroupConfig, System

WEBHOOK_TYPE = "feishu_app"
__all__ = ["LIMITS", "deliver", "destination", "interpret", "preview", "render"]


def destination(config: LarkGroupConfig, system: System | None = None) -> Destination:
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
