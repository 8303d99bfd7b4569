"""The console under test: a real `tidings serve` app (API and pages) on a free port, the
sandbox's simulators over real sockets, and Debian's Chromium driven by Playwright.

The browser tests run where Chromium and Playwright are installed and are skipped with the
reason elsewhere; TIDINGS_REQUIRE_BROWSER=1 (CI) turns the skip into a failure. Screenshots
of each page go to $TIDINGS_ARTIFACTS/console (default: test-artifacts/console).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import console_config

from api_helpers import ApiServer

CHROMIUM = os.environ.get("TIDINGS_CHROMIUM", "/usr/bin/chromium")
# Without these, Chromium's background connections are refused by a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("TIDINGS_ARTIFACTS", "test-artifacts")) / "console"


@pytest.fixture
def console(tmp_path: Path, sandbox: Any) -> Iterator[ApiServer]:
    """`tidings serve`'s app (the API and the console) over the console's configuration."""
    with ApiServer(console_config(tmp_path, sandbox), tmp_path, console=True) as server:
        server.go = tmp_path / "go"  # type: ignore[attr-defined]
        yield server


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set TIDINGS_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, with a fresh profile (Playwright makes one per launch).

    Module-scoped: Playwright's synchronous API keeps an event loop running in this thread
    while it is open, which the asyncio tests of other modules could not run beside."""
    missing = _browser_missing()
    if missing:
        if os.environ.get("TIDINGS_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests required (TIDINGS_REQUIRE_BROWSER): {missing}")
        pytest.skip(f"browser tests skipped: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        profile = tempfile.mkdtemp(prefix="tidings-chromium-")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            env={**os.environ, "HOME": profile},
        )
        try:
            yield browser
        finally:
            browser.close()
            shutil.rmtree(profile, ignore_errors=True)


class Visitor:
    """A person at the console in one browser context: its requests are recorded (none may
    leave for the internet) and its pages can be saved as screenshots."""

    def __init__(self, context: Any, base: str) -> None:
        self.context = context
        self.base = base
        self.page = context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, token: str) -> None:
        self.go("/login")
        self.page.fill("#token", token)
        self.page.click("form button[type=submit]")
        self.page.wait_for_url(self.base + "/")

    @property
    def artifacts(self) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        return ARTIFACTS

    def shot(self, name: str, full_page: bool = True) -> None:
        self.page.screenshot(path=str(self.artifacts / f"{name}.png"), full_page=full_page)

    def elsewhere(self) -> list[str]:
        """Requests that went anywhere but this console."""
        return [u for u in self.requests if not u.startswith((self.base, "data:", "about:"))]


@pytest.fixture
def visit(chromium: Any, console: ApiServer) -> Iterator[Any]:
    """`visit(locale=..., viewport=...)`: a new browser context on the console."""
    contexts: list[Visitor] = []

    def open_(locale: str = "en-US", **options: Any) -> Visitor:
        options.setdefault("viewport", {"width": 1280, "height": 860})
        context = chromium.new_context(locale=locale, **options)
        visitor = Visitor(context, console.base)
        contexts.append(visitor)
        return visitor

    yield open_
    for visitor in contexts:
        # Closed before the server stops: an open live page would hold its stream.
        visitor.context.close()
    for visitor in contexts:
        assert visitor.elsewhere() == [], "requests left the console"
