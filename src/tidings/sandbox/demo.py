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
    "feishu_app": (
        {
            "app_id": "cli_demo",
            "app_secret": "demo-app-secret",
            "users": (
                {
                    "open_id": "ou_demo_admin",
                    "user_id": "demo_admin",
                    "mobile": "13800000000",
                    "email": "admin@example.com",
                    "name": "admin",
                },
                {
                    "open_id": "ou_demo_qa",
                    "user_id": "demo_qa",
                    "mobile": "13800000001",
                    "email": "qa@example.com",
                    "name": "qa",
                },
            ),
            "chats": (
                {"chat_id": "oc_demo", "name": "demo", "bot_in_chat": True},
                {"chat_id": "oc_no_bot", "name": "no bot", "bot_in_chat": False},
            ),
        },
    ),
    "msteams": ({"name": "demo"},),
    "slack": ({"name": "demo"},),
}
"""platform -> registrations (same fields as the ``POST /_sandbox/<platform>`` bodies).

DingTalk "demo" needs the keyword 工作流; "demo-signed" needs the keyword and a signature
with secret SECdemo0123456789. WeCom key "demo". Feishu "demo" needs the keyword 工作流;
"demo-signed" needs a signature with secret demo_secret. Webhook inbox "demo" accepts all.
Feishu app "cli_demo" (secret demo-app-secret; base URL = the sandbox URL) knows users
ou_demo_admin (13800000000, admin@example.com) and ou_demo_qa (13800000001, qa@example.com)
and chats oc_demo (bot in it) and oc_no_bot (bot not in it: 230002). Teams webhook "demo".
Slack webhook "demo" (its URL: `/services/T00SANDBOX/demo/sandbox-demo`).
"""

DEMO_SMTP: dict[str, Any] = {"security": "starttls", "users": {"tidings": "demo-smtp-password"}}
"""The demo SMTP server: STARTTLS required, login tidings / demo-smtp-password."""

DEMO_SMTP_PORT_OFFSET = 25
"""The demo SMTP server listens on the sandbox port + 25 when a fixed port is given (8925
for the CLI's default 8900), else on an ephemeral port (``sb.smtp.port``)."""
