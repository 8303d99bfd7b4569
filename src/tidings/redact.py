"""Keeping secrets out of every output: URLs shown without their tokens, known secrets masked."""

from __future__ import annotations

import base64
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

MASK = "***"
MIN_SECRET = 6

# A path segment that is long and token-like (Feishu hook ids, Slack-style webhook paths,
# Teams' "{guid}@{guid}").
_TOKENISH = re.compile(r"^[A-Za-z0-9_\-=+~%@]{16,}$")


def _path_secrets(path: str) -> list[str]:
    """Token-like segments, whatever follows /hook/ (Feishu bots: /bot/v2/hook/{token}), and
    the third segment after /services/ (Slack: /services/{team}/{bot}/{secret})."""
    segments = path.split("/")
    found = [seg for seg in segments if _TOKENISH.match(seg)]
    found += [seg for prev, seg in itertools.pairwise(segments) if prev == "hook"]
    if "services" in segments:
        after = segments[segments.index("services") + 1 :]
        found += after[2:3]
    return [seg for seg in found if seg]


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that carry credentials: query values, token-like segments, password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url] if url else []
    found = [value for _, value in parse_qsl(parts.query) if value]
    found += [seg for seg in _path_secrets(parts.path) if seg]
    if parts.password:
        found.append(parts.password)
        # As it goes on the wire (Authorization: Basic ...), which a receiver may echo back.
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password)}".encode()
        found.append(base64.b64encode(pair).decode("ascii"))
    return found


def json_variants(secrets: Iterable[str]) -> list[str]:
    """Each secret as it is, and as it appears inside a JSON string (quotes, backslashes and,
    with ensure_ascii, non-ASCII characters escaped)."""
    given = list(secrets)
    found = list(given)
    found += [json.dumps(s, ensure_ascii=False)[1:-1] for s in given]
    found += [json.dumps(s)[1:-1] for s in given]
    return found


@functools.lru_cache(maxsize=1024)  # the destinations a worker sends to, not every one ever
def own_secrets(url: str, secret: str | None, token: str | None) -> Redactor:
    """Masks one destination's own secrets (its URL's tokens and password, signing secret,
    token): what an answer about a send to it may echo. Bounded: a delivery's secrets mask
    that delivery's details, never a server-wide list that grows with every caller."""
    return Redactor(json_variants([*url_secrets(url), *(s for s in (secret, token) if s)]))


def compose(*redactors: Callable[[str], str]) -> Callable[[str], str]:
    """One function applying each redactor in turn."""

    def redact(text: str) -> str:
        for redactor in redactors:
            text = redactor(text)
        return text

    return redact


@functools.lru_cache(maxsize=4096)  # the same few addresses, redacted for every delivery
def redact_url(url: str) -> str:
    """The URL with every query value, token-like path segment and password replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    secret = set(_path_secrets(parts.path))
    path = "/".join(MASK if seg in secret else seg for seg in parts.path.split("/"))
    query = "&".join(f"{key}={MASK}" for key, _ in parse_qsl(parts.query, keep_blank_values=True))
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6, in brackets as in the URL
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{parts.username}:{MASK}@{netloc}" if parts.password else netloc
    return urlunsplit((parts.scheme, netloc, path, query, ""))


class Redactor:
    """Replaces each known secret value in text with ***. Cheap enough to run on every line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first so a secret containing another is masked whole. Values shorter than
        # MIN_SECRET are left to the structural masking of URLs and headers: masking them
        # everywhere would garble ordinary text (real tokens and secrets are far longer).
        self._values = sorted(
            {s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True
        )
        self._pattern = re.compile("|".join(map(re.escape, self._values))) if self._values else None

    def add(self, secrets: Iterable[str]) -> Redactor:
        """A redactor that also masks these values."""
        return Redactor([*self._values, *secrets])

    @property
    def active(self) -> bool:
        """Whether it masks anything at all."""
        return self._pattern is not None

    def search(self, text: str) -> bool:
        """Whether the text holds a secret it masks."""
        return self._pattern is not None and self._pattern.search(text) is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)
