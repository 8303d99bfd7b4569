"""`tidings sandbox`: the platform simulators in the foreground, printing what they receive."""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.commands.output import Output


def demo_addresses(base: str, smtp_port: int | None = None) -> list[tuple[str, str]]:
    """(what, address) of each demo destination the sandbox registers (tidings.sandbox.DEMO)."""
    from tidings.sandbox import DEMO, DEMO_SMTP

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
            bot = "" if chat["bot_in_chat"] else ", bot not in it: 230002"
            rows.append((f"  chat {chat['name']!r}{bot}", f"chat_id {chat['chat_id']}"))
        for user in app["users"]:
            rows.append((f"  user {user['name']} ({user['mobile']})", f"open_id {user['open_id']}"))
    for hook in DEMO["msteams"]:
        rows.append(("Microsoft Teams", f"{base}/msteams/{hook['name']}"))
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


def show_received(received: Any, out: Output) -> None:
    verdict = "accepted" if received.accepted else f"REFUSED code {received.code}"
    out.out(
        f"{received.platform:<8} {received.destination:<12} {verdict}"
        + ("" if received.accepted else f": {received.message}"),
        fg="green" if received.accepted else "red",
    )
    if received.mentions:
        out.out(f"  mentions: {', '.join(received.mentions)}")
    for line in (received.text or "").splitlines()[:12]:
        out.out(f"  | {line}")


def run(host: str, port: int) -> int:
    from tidings.sandbox import serve

    out = Output()

    def ready(sb: Any) -> None:
        out.err(f"tidings sandbox listening on {sb.url} (Ctrl-C to stop)")
        out.err(f"  received messages as JSON: GET {sb.url}/_sandbox/messages")
        smtp_port = sb.smtp.port if sb.smtp is not None else None
        for what, url in demo_addresses(sb.url, smtp_port):
            out.err(f"  {what:<46} {url}")
        out.err("  (SMTP uses a throwaway certificate: set system.smtp.tls_verify: false for it)")

    try:
        asyncio.run(serve(host, port, on_receive=lambda r: show_received(r, out), on_ready=ready))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        out.err(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}; choose --port")
        return 2
    return 0
