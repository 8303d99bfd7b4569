"""Loopback simulators of DingTalk, WeCom and Feishu robots, the Feishu self-built app
API, Microsoft Teams incoming webhooks, a generic webhook inbox and an SMTP server.

They verify like the real platforms (signatures, keywords, byte limits, rate limits on an
injectable clock, error codes in HTTP 200 bodies) and record every request, so the demo,
users and the test suite can exercise tidings end to end over real sockets. Independent of
the rest of tidings on purpose: its signature checks cross-check the client's signing code.

The servers are imported lazily (``Sandbox``, ``SandboxThread``, ``serve``, ``SmtpSandbox``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tidings.sandbox.clock import Clock, FakeClock
from tidings.sandbox.demo import DEMO, DEMO_SMTP
from tidings.sandbox.records import Received

if TYPE_CHECKING:
    from tidings.sandbox.server import Sandbox, SandboxThread, serve
    from tidings.sandbox.smtp import SmtpSandbox

__all__ = [
    "DEMO",
    "DEMO_SMTP",
    "Clock",
    "FakeClock",
    "Received",
    "Sandbox",
    "SandboxThread",
    "SmtpSandbox",
    "serve",
]

_LAZY = {"Sandbox", "SandboxThread", "serve"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from tidings.sandbox import server

        return getattr(server, name)
    if name == "SmtpSandbox":
        from tidings.sandbox import smtp

        return smtp.SmtpSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
