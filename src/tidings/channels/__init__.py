"""One module per webhook_type, imported only when a message of that type is rendered or sent."""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULES = {
    "dingding": "tidings.channels.dingding",
    "wechat": "tidings.channels.wechat",
    "feishu": "tidings.channels.feishu",
    "webhook": "tidings.channels.webhook",
    "feishu_app": "tidings.channels.feishu_app",
    "feishu_person": "tidings.channels.feishu_person",
    "mail": "tidings.channels.mail",
    "msteams": "tidings.channels.msteams",
}


def get(webhook_type: str) -> ModuleType:
    """The channel module of a webhook_type: render, destination, LIMITS, and interpret (plain
    HTTP) or deliver (its own protocol); optionally render_note and preview."""
    try:
        return importlib.import_module(_MODULES[webhook_type])
    except KeyError:
        raise ValueError(f"webhook_type {webhook_type!r} is not supported yet") from None


def supported() -> tuple[str, ...]:
    return tuple(_MODULES)
