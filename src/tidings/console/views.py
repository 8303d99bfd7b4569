"""Pages: the templates (Jinja2, autoescaped), who is looking (the session and its scopes),
their language, and the answers every page shares (sign in first, not allowed, not found)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import jinja2
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import HTTPConnection, Request

from tidings.api.service import Service
from tidings.console import i18n
from tidings.console.sessions import COOKIE, Session, Sessions, csrf_ok
from tidings.storable import INT64_MAX, INT64_MIN
from tidings.store.browse import Page

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
HTMX = "htmx-2.0.11.min.js"
HTMX_SSE = "htmx-ext-sse-2.2.4.min.js"

STATUS_CLASS = {
    "passed": "ok",
    "sent": "ok",
    "failed": "bad",
    "dead": "bad",
    "coalesced": "ok",
    "timeout": "bad",
    "reject": "bad",
    "cancelled": "off",
    "skipped": "off",
    "running": "run",
    "created": "run",
    "prepare": "run",
    "pending": "run",
    "retrying": "warn",
    "waiting": "run",
    "pause": "warn",
    "wait_for_approval": "warn",
}


class SignIn(Exception):
    """No session: a page sends the person to the sign-in page, then back."""


class Denied(Exception):
    """The session's token lacks `scope`, or a form failed its CSRF check (`scope` None)."""

    def __init__(self, scope: str | None) -> None:
        super().__init__(scope or "csrf")
        self.scope = scope


class Missing(Exception):
    """No such workflow, task or delivery."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def when(timestamp: float | int | None, zone: tzinfo | None = None) -> str:
    """A time in the team's zone (system.timezone; None: the machine's), to the second."""
    if not timestamp:
        return ""
    return datetime.fromtimestamp(float(timestamp), zone).strftime("%Y-%m-%d %H:%M:%S")


@jinja2.pass_context
def _when_in_zone(context: jinja2.runtime.Context, timestamp: float | int | None) -> str:
    return when(timestamp, context.get("zone"))


def duration(seconds: float | int | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def query_int(value: str | None) -> int | None:
    """A number from the query string; None when absent, not a number, or past what the
    database stores (64 bits): such a page key names no row."""
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and INT64_MIN <= number <= INT64_MAX else None


def pager(path: str, kept: dict[str, str], found: Page) -> tuple[str, str]:
    """The links to the older and the newer page of a keyset page (rows keyed by `seq`),
    with the filters `kept`; empty where there is none."""
    older = newer = ""
    if found.rows and found.more:
        older = f"{path}?" + urllib.parse.urlencode({**kept, "before": found.rows[-1]["seq"]})
    if found.rows and found.newer:
        newer = f"{path}?" + urllib.parse.urlencode({**kept, "after": found.rows[0]["seq"]})
    return older, newer


def short(delivery_id: str) -> str:
    """The end of an id: its beginning is its creation time, shared by ids made together."""
    return delivery_id[-8:]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        when=_when_in_zone,
        duration=duration,
        short=short,
        status_class=lambda status: STATUS_CLASS.get(str(status), "off"),
        quote=lambda value: urllib.parse.quote(str(value), safe=""),
        HTMX=HTMX,
        HTMX_SSE=HTMX_SSE,
    )
    return env


ENV = _environment()


class Views:
    """What every page needs: the service, the sessions, the configuration's language."""

    def __init__(self, service: Service, sessions: Sessions) -> None:
        self.service = service
        self.sessions = sessions

    # --- who is looking --------------------------------------------------------------

    def session(self, connection: HTTPConnection) -> Session | None:
        return self.sessions.get(connection.cookies.get(COOKIE))

    def viewer(self, connection: HTTPConnection, scope: str = "read") -> Session:
        """The signed-in session, whose token allows `scope`."""
        session = self.session(connection)
        if session is None:
            raise SignIn()
        if not session.can(scope):
            raise Denied(scope)
        return session

    async def form(self, request: Request, scope: str) -> tuple[Session, dict[str, str]]:
        """A POSTed form of a session allowed `scope`, with a valid CSRF token, sent from
        this console (its Origin, when the browser says it, is this host)."""
        session = self.session(request)
        if session is None:
            raise SignIn()
        fields = await read_form(request)
        if not csrf_ok(session, fields.get("csrf")) or not same_origin(request):
            raise Denied(None)
        if not session.can(scope):
            raise Denied(scope)
        return session, fields

    def language(self, connection: HTTPConnection) -> str:
        return i18n.choose(
            connection.cookies.get(i18n.LANG_COOKIE),
            connection.headers.get("accept-language"),
            self.service.config.system.language,
        )

    # --- answers --------------------------------------------------------------------

    def context(
        self, request: HTTPConnection, session: Session | None, whole: bool = False
    ) -> dict[str, Any]:
        """What every template sees; a whole page (`whole`) also shows the session's flashes
        (taken: each is shown once)."""
        language = self.language(request)
        t = i18n.translator(language)
        flashes = session.take_flashes() if session and whole else []
        return {
            "lang": language,
            "zone": self.service.config.system.tz,
            "t": t,
            "channel_name": lambda kind: i18n.channel_name(kind, language),
            "session": session,
            "csrf": session.csrf if session else "",
            "can": (lambda scope: session is not None and session.can(scope)),
            "path": request.url.path,
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            # Values go into the translated phrase; a text without values is shown as it is.
            "flashes": [
                (kind, t(phrase).format(**values) if values else t(phrase))
                for kind, phrase, values in flashes
            ],
        }

    def render(
        self,
        name: str,
        request: HTTPConnection,
        session: Session | None,
        whole: bool = False,
        **data: Any,
    ) -> str:
        return ENV.get_template(name).render(**self.context(request, session, whole), **data)

    def page(
        self,
        name: str,
        request: HTTPConnection,
        session: Session | None,
        status_code: int = 200,
        **data: Any,
    ) -> HTMLResponse:
        html = self.render(name, request, session, whole=True, **data)
        return HTMLResponse(html, status_code=status_code)

    def sign_in_first(self, request: HTTPConnection) -> Response:
        if request.scope.get("method") == "GET" and not request.url.path.endswith("/live"):
            target = urllib.parse.quote(self_path(request), safe="/")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return self.error(request, None, 401, "Your session ended: sign in again.")

    def error(
        self,
        request: HTTPConnection,
        session: Session | None,
        status: int,
        message: str,
        detail: str = "",
    ) -> HTMLResponse:
        return self.page(
            "error.html", request, session, status_code=status, message=message, detail=detail
        )


def self_path(request: HTTPConnection) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this console, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def same_origin(request: Request) -> bool:
    """A browser names the page a POST came from (Origin); it must be this console."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site form (those always carry Origin)
    host = request.headers.get("host", "")
    parsed = urllib.parse.urlsplit(origin)
    return parsed.netloc == host and parsed.scheme in ("http", "https")


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body (the console's forms post nothing else); the first value of
    each field. The body's size is bounded by the server's limit before it is read."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(body, keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


def pick(fields: Mapping[str, str], name: str, limit: int = 200) -> str:
    return (fields.get(name) or "").strip()[:limit]
