"""What every channel shares: Request, Destination, Outcome, Limits, and fitting content to limits.

A channel is a module with pure functions (DESIGN.md): render(Message, config, ctx) -> [Request]
and interpret(Response) -> Outcome. Neither does I/O; the delivery layer sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from tidings.notify.content import Message

if TYPE_CHECKING:
    from tidings.config import System
    from tidings.notify.recipients import Directory


@dataclass(frozen=True)
class Limits:
    """A platform's limits, as data next to the channel that must respect them."""

    max_body_bytes: int | None = None  # whole JSON body
    max_content_bytes: int | None = None  # the markdown/text content field
    per_minute: int | None = None  # messages per destination per rolling minute
    per_second: int | None = None


@dataclass(frozen=True)
class Destination:
    """What a notify_ctl addresses, as the configuration says today. Holds secrets.

    `key` is its address key (channels.identity): a hash of what it addresses, the same in
    every workflow and file that names it; a sender finds it by that key at send time.
    """

    key: str  # e.g. "dingding:5f0c9a3e61b27d4488a1c2e0"
    url: str
    secret: str | None = None  # DingTalk 加签 / Feishu signature secret / app secret
    token: str | None = None  # X-Zadig-Token of generic webhooks
    display: str = ""  # how people see it, when the redacted url would not say it
    # What a channel's own deliver() needs besides (Feishu app ids, the SMTP settings).
    options: Mapping[str, Any] = field(default_factory=dict)
    # How it is reached (its ctl's `proxy` and `tls_verify`): not part of what it is.
    proxy: bool = True  # False: directly, never through system.proxy or HTTPS_PROXY
    tls_verify: bool = True  # False: any certificate is accepted


@dataclass(frozen=True)
class Request:
    """One HTTP request to send, without secrets: signing and tokens are added at send time."""

    channel: str  # the webhook_type
    destination: str  # its destination key (channels.identity): the address, and the person
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    sign: str | None = None  # "dingtalk" | "feishu": how the transport signs it
    event_id_header: str | None = None  # header that carries the stable delivery id
    label: str = "message"  # what this request is, e.g. "card", "mentions"
    method: str = "POST"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except ValueError:
            try:  # not UTF-8: read what can be read
                return json.loads(self.body.decode("utf-8", "replace"))
            except ValueError:
                return None


KEYWORD_HINT = (
    "the robot's keyword (自定义关键词) must appear in every message: workflow notifications "
    "always hold 工作流 (zh-cn) or Workflow (en-us); put the keyword in the title or content "
    "of an ad-hoc message"
)


@dataclass(frozen=True)
class Ok:
    detail: str = "ok"
    code: int | str | None = None


@dataclass(frozen=True)
class Retry:
    reason: str
    after: float | None = None  # seconds the platform asked us to wait
    code: int | str | None = None


@dataclass(frozen=True)
class Fail:
    reason: str
    code: int | str | None = None


Outcome = Ok | Retry | Fail


@dataclass(frozen=True)
class RenderContext:
    """What rendering needs beyond the message: language, and the address key of the ctl's
    destination (a request's `destination`, or with a person: identity.key(it, person))."""

    destination: str
    language: str = "zh-cn"
    instance: str = ""  # system.address
    system: System | None = None  # for channels that need system settings (mail's sender)
    directory: Directory | None = None  # users, groups, task creator (notify.recipients)


def encode_json(body: Any) -> bytes:
    """The exact bytes sent: UTF-8 JSON, no ASCII escaping (platform byte limits count these)."""
    # orjson writes exactly what json.dumps(ensure_ascii=False, separators=(",", ":")) does,
    # ten times faster (bench: a 1.9 KB workflow payload in 3 us instead of 44 us).
    return orjson.dumps(body)


def http_outcome(response: Response) -> Outcome | None:
    """What the HTTP status alone decides: 429 and 5xx are retried; None means read the body."""
    if response.status == 429 or response.status >= 500:
        return Retry(f"HTTP {response.status}", after=retry_after(response.headers))
    return None


def retry_after(headers: dict[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def clip_bytes(text: str, limit: int, marker: str) -> str:
    """Text cut to at most `limit` UTF-8 bytes, ending with a visible marker when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = max(0, limit - len(marker.encode("utf-8")))
    return data[:room].decode("utf-8", "ignore") + marker


T = TypeVar("T")

# The shortest a value is clipped to before jobs are dropped instead.
_MIN_CLIP = 40


def fit(message: Message, build: Callable[[Message], T], size: Callable[[T], int], limit: int) -> T:
    """Render `message` so that size(result) <= limit, shortening visibly when it would not.

    First every long value is clipped (binary search for the longest clip that fits), then,
    if the jobs alone are too many, trailing jobs are replaced by a "N more jobs" line.
    """
    full = build(message)
    if size(full) <= limit:
        return full
    longest = max(
        [len(message.display_name)]
        + [len(line.value) for line in message.info]
        + [len(line.value) for job in message.jobs for line in job.lines]
        + [len(job.name) for job in message.jobs]
    )
    low, high = _MIN_CLIP, max(_MIN_CLIP, longest - 1)
    if size(build(message.clip(low))) <= limit:
        while low < high:
            mid = (low + high + 1) // 2
            if size(build(message.clip(mid))) <= limit:
                low = mid
            else:
                high = mid - 1
        return build(message.clip(low))
    clipped = message.clip(_MIN_CLIP)
    for keep in range(len(clipped.jobs) - 1, -1, -1):
        candidate = build(clipped.keep_jobs(keep))
        if size(candidate) <= limit:
            return candidate
    return build(clipped.keep_jobs(0).clip(_MIN_CLIP // 2))
