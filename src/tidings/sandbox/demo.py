"""The demo destinations that ``tidings sandbox`` and the examples send to."""

from __future__ import annotations

from typing import Any

DEMO: dict[str, tuple[dict[str, Any], ...]] = {
    "dingtalk": (
        {"token": "demo", "secret": None, "keywords": ("工作流",)},
        {"token": "demo-signed", "secret": "SECdemo0123456789", "keywords": ("工作流",)},
    ),
    "wecom": ({"key": "demo"},),
    "feishu": (
        {"token": "demo", "secret": None, "keywords": ("工作流",)},
        {"token": "demo-signed", "secret": "demo_secret", "keywords": ()},
    ),
    "webhook": ({"name": "demo", "script": ()},),
}
"""platform -> registrations (same fields as the ``POST /_sandbox/<platform>`` bodies).

DingTalk "demo" needs the keyword 工作流; "demo-signed" needs the keyword and a signature
with secret SECdemo0123456789. WeCom key "demo". Feishu "demo" needs the keyword 工作流;
"demo-signed" needs a signature with secret demo_secret. Webhook inbox "demo" accepts all.
"""
