"""Signing in with an API token, sessions, and CSRF tokens.

A person signs in with a token of `system.api_tokens` (the API's own check,
`tidings.api.auth.Tokens`); the console then knows the session by a random cookie and keeps
the token's name and scopes in this process's memory, never the token. So a session ends at
sign-out, after `TTL`, or when the server stops; the cookie alone says nothing.

Every form carries the session's CSRF token, compared in constant time; the sign-in form,
before there is a session, carries an HMAC of a random cookie of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from tidings.api.auth import ADMIN, Tokens

COOKIE = "tidings_session"
LOGIN_COOKIE = "tidings_signin"
TTL = 12 * 3600.0  # seconds a session lasts after signing in
MAX_SESSIONS = 10_000  # the oldest go first past this


@dataclass
class Session:
    name: str  # the token's name in system.api_tokens
    scopes: frozenset[str]
    csrf: str
    expires: float
    # (kind, phrase, its values) to show once, in the language of the page that shows it
    flashes: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def can(self, scope: str) -> bool:
        """Whether the token allows `scope` (admin allows everything), as the API decides."""
        return scope in self.scopes or ADMIN in self.scopes

    def flash(self, kind: str, phrase: str, **values: object) -> None:
        """A message for the next page this session sees (an action's result): a phrase of
        the console's catalogue (i18n.ZH) with `{name}` for each of `values`, or a text of
        its own (an error's message), shown as it is."""
        self.flashes.append((kind, phrase, {k: str(v) for k, v in values.items()}))
        del self.flashes[:-5]

    def take_flashes(self) -> list[tuple[str, str, dict[str, str]]]:
        taken, self.flashes = self.flashes, []
        return taken


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class Sessions:
    """The sessions of this process, by the SHA-256 of their cookie."""

    def __init__(self, tokens: Tokens, ttl: float = TTL) -> None:
        self.tokens = tokens
        self.ttl = ttl
        self._key = secrets.token_bytes(32)  # signs the sign-in form's CSRF token
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def sign_in(self, token: str, now: float | None = None) -> tuple[str, Session] | None:
        """A new session for this token (the cookie's value and the session), None if the
        token is not in system.api_tokens."""
        principal = self.tokens.identify(token)
        if principal is None:
            return None
        now = time.time() if now is None else now
        cookie = secrets.token_urlsafe(32)
        session = Session(
            principal.name, principal.scopes, secrets.token_urlsafe(32), now + self.ttl
        )
        self._sessions[_digest(cookie)] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return cookie, session

    def get(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The live session of this cookie, None when there is none (or it expired)."""
        if not cookie:
            return None
        key = _digest(cookie)
        session = self._sessions.get(key)
        if session is None:
            return None
        if session.expires <= (time.time() if now is None else now):
            del self._sessions[key]
            return None
        return session

    def sign_out(self, cookie: str | None) -> None:
        if cookie:
            self._sessions.pop(_digest(cookie), None)

    # --- the sign-in form's CSRF token (before there is a session) --------------------

    def login_csrf(self, nonce: str) -> str:
        """The value the sign-in form must send back for its cookie `nonce`."""
        return hmac.new(self._key, nonce.encode("utf-8"), hashlib.sha256).hexdigest()

    def login_csrf_ok(self, nonce: str | None, sent: str | None) -> bool:
        if not nonce or not sent:
            return False
        return hmac.compare_digest(self.login_csrf(nonce), sent)


def csrf_ok(session: Session, sent: str | None) -> bool:
    """Whether a form sent this session's CSRF token."""
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())
