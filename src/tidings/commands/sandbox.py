"""`tidings sandbox`: the platform simulators in the foreground, printing what they receive."""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.commands.output import Output


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
    from tidings.sandbox.demo import demo_addresses

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
