"""`tidings sandbox`: the platform simulators in the foreground, printing what they receive."""

from __future__ import annotations

import asyncio

from tidings.output import Output


def run(host: str, port: int) -> int:
    from tidings.sandbox import DEMO
    from tidings.sandbox.server import serve

    out = Output()

    def show(received) -> None:
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

    base = f"http://{host}:{port}"
    out.err(f"tidings sandbox listening on {base} (Ctrl-C to stop)")
    out.err(f"  messages received: GET {base}/_sandbox/messages")
    for line in _describe_demo(DEMO, base):
        out.err(f"  {line}")
    try:
        asyncio.run(serve(host, port, on_receive=show))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        out.err(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}; try --port")
        return 2
    return 0


def _describe_demo(demo: object, base: str) -> list[str]:
    return [f"demo destinations: {demo}"]
