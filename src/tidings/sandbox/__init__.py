"""Loopback simulators of DingTalk, WeCom and Feishu robots and a generic webhook inbox.

They verify like the real platforms (signatures, keywords, byte limits, rate limits on an
injectable clock, error codes in HTTP 200 bodies) and record every request, so the demo,
users and the test suite can exercise tidings end to end over real sockets. Independent of
the rest of tidings on purpose: its signature checks cross-check the client's signing code.

The aiohttp-based server is imported lazily (``Sandbox``, ``SandboxThread``, ``serve``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tidings.sandbox.clock import Clock, FakeClock
from tidings.sandbox.demo import DEMO
from tidings.sandbox.records import Received

if TYPE_CHECKING:
    from tidings.sandbox.server import Sandbox, SandboxThread, serve

__all__ = ["DEMO", "Clock", "FakeClock", "Received", "Sandbox", "SandboxThread", "serve"]

_LAZY = {"Sandbox", "SandboxThread", "serve"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from tidings.sandbox import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
