"""The registry: one module per webhook_type, imported only when a message of that type is
checked, rendered or sent. Each module exports `CHANNEL`, the record that says everything
about it (channels.base.Channel); every other list of channels is derived from here.

Adding a platform: its module, one line below, its sandbox simulator, docs
(docs/channels.md, "Adding a channel").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidings.channels.base import Channel

# webhook_type -> (module, the notify_ctl field of its settings). The field is here too so
# that a ctl's keys can be told apart without importing every channel.
_REGISTRY = {
    "dingding": ("tidings.channels.dingding", "dingding_notification_config"),
    "wechat": ("tidings.channels.wechat", "wechat_notification_config"),
    "feishu": ("tidings.channels.feishu", "lark_hook_notification_config"),
    "webhook": ("tidings.channels.webhook", "webhook_notification_config"),
    "feishu_app": ("tidings.channels.feishu_app", "lark_group_notification_config"),
    "feishu_person": ("tidings.channels.feishu_person", "lark_person_notification_config"),
    "mail": ("tidings.channels.mail", "mail_notification_config"),
    "msteams": ("tidings.channels.msteams", "msteams_notification_config"),
    "slack": ("tidings.channels.slack", "slack_notification_config"),
}


def get(webhook_type: str) -> Channel[Any]:
    """The record of a webhook_type (ValueError: not one tidings sends)."""
    try:
        module = importlib.import_module(_REGISTRY[webhook_type][0])
    except KeyError:
        raise ValueError(f"webhook_type {webhook_type!r} is not supported") from None
    channel: Channel[Any] = module.CHANNEL
    return channel


def unknown(word: object, choices: tuple[str, ...] | None = None) -> str:
    """The message for a webhook_type that is not one of `choices` (default: all), with the
    one it most likely meant: another name of it (dingtalk -> dingding), else the closest
    spelling."""
    from tidings.schema import closest

    choices = choices or supported()
    text = str(word).lower()
    meant = next((kind for kind in choices if text in get(kind).known_as), None)
    meant = meant or closest(text, choices)
    hint = f" (did you mean {meant}?)" if meant else ""
    return f"unknown webhook_type {word!r}{hint}; one of {', '.join(choices)}"


def supported() -> tuple[str, ...]:
    """Every webhook_type, in the order of the registry."""
    return tuple(_REGISTRY)


def config_key(webhook_type: str) -> str | None:
    """The notify_ctl field of a webhook_type's settings, e.g. dingding_notification_config."""
    entry = _REGISTRY.get(webhook_type)
    return entry[1] if entry else None


def config_keys() -> dict[str, str]:
    """Every settings field of a notify_ctl -> its webhook_type."""
    return {key: kind for kind, (_, key) in _REGISTRY.items()}
