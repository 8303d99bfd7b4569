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


def demo_addresses(base: str, smtp_port: int | None = None) -> list[tuple[str, str]]:
    """(what, address) of each demo destination the sandbox registers (tidings.sandbox.DEMO)."""
    rows = []
    for robot in DEMO["dingtalk"]:
        note = f" (secret {robot['secret']})" if robot["secret"] else ""
        rows.append((f"DingTalk{note}", f"{base}/robot/send?access_token={robot['token']}"))
    for robot in DEMO["wecom"]:
        rows.append(("WeCom", f"{base}/cgi-bin/webhook/send?key={robot['key']}"))
    for bot in DEMO["feishu"]:
        note = f" (secret {bot['secret']})" if bot["secret"] else ""
        rows.append((f"Feishu{note}", f"{base}/open-apis/bot/v2/hook/{bot['token']}"))
    for inbox in DEMO["webhook"]:
        rows.append(("Webhook (any name)", f"{base}/webhook/{inbox['name']}"))
    for app in DEMO["feishu_app"]:
        rows.append(
            (f"Feishu app {app['app_id']} (secret {app['app_secret']})", f"base_url: {base}")
        )
        for chat in app["chats"]:
            note = "" if chat["bot_in_chat"] else ", bot not in it: 230002"
            rows.append((f"  chat {chat['name']!r}{note}", f"chat_id {chat['chat_id']}"))
        for user in app["users"]:
            rows.append((f"  user {user['name']} ({user['mobile']})", f"open_id {user['open_id']}"))
    for hook in DEMO["msteams"]:
        rows.append(("Microsoft Teams", f"{base}/msteams/{hook['name']}"))
    for hook in DEMO["slack"]:
        name = hook["name"]
        rows.append(("Slack", f"{base}/services/T00SANDBOX/{name}/sandbox-{name}"))
    if smtp_port is not None:
        host = base.split("://", 1)[1].rsplit(":", 1)[0]
        [(user, password)] = DEMO_SMTP["users"].items()
        rows.append(
            (
                f"SMTP ({DEMO_SMTP['security']}, {user} / {password})",
                f"host {host}, port {smtp_port}",
            )
        )
    return rows
