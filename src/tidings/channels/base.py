"""What every channel shares: Request, Destination, Outcome, Limits, fitting content to limits,
and `Channel`, the record each channel module exports (`CHANNEL`) saying all there is to it.

A channel is a module with pure functions (DESIGN.md): render(Message, config, ctx) -> [Request]
and interpret(Response) -> Outcome. Neither does I/O; the delivery layer sends, and runs the
steps a channel declares (`deliver`) through the SendIO it is handed (channels.ports).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson

from tidings.channels.ports import Limits as Limits  # defined with the ports that use them
from tidings.channels.ports import Response as Response
from tidings.notify.content import Message, Note

if TYPE_CHECKING:
    from tidings.channels.digest import Item
    from tidings.channels.ports import ConfigView, People, SendIO, SystemView
    from tidings.net import HostPolicy


@dataclass(frozen=True)
class Destination:
    """What a notify_ctl addresses, as the configuration says today. Holds secrets.

    `key` is its address key (channels.identity): a hash of what it addresses, the same in
    every workflow and file that names it; a sender finds it by that key at send time.
    """

    key: str  # e.g. "dingding:5f0c9a3e61b27d4488a1c2e0"
    url: str
    secret: str | None = None  # DingTalk 加签 / Feishu / webhook signing secret / app secret
    token: str | None = None  # X-Zadig-Token of generic webhooks
    display: str = ""  # how people see it, when the redacted url would not say it
    # What a channel's own deliver() needs besides (Feishu app ids, the SMTP settings).
    options: Mapping[str, Any] = field(default_factory=dict)
    # How it is reached (its ctl's `proxy` and `tls_verify`): not part of what it is.
    proxy: bool = True  # False: directly, never through system.proxy or HTTPS_PROXY
    tls_verify: bool = True  # False: any certificate is accepted
    # An ad-hoc destination (POST /api/v1/notify): where it may connect, checked for every
    # connection after DNS (None: a configured destination, trusted).
    guard: HostPolicy | None = None


@dataclass(frozen=True)
class Request:
    """One HTTP request to send, without secrets: signing and tokens are added at send time."""

    channel: str  # the webhook_type
    destination: str  # its destination key (channels.identity): the address, and the person
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    sign: str | None = None  # "dingtalk" | "feishu" | "standard-webhooks": how it is signed
    event_id_header: str | None = None  # header that carries the stable delivery id
    label: str = "message"  # what this request is, e.g. "card", "mentions"
    method: str = "POST"
    # What a digest needs of this notification (channels.digest.entry), when its destination's
    # backlog may be merged into digests; None: it is always sent as it is.
    digest: dict[str, Any] | None = None


KEYWORD_HINT = (
    "the robot's keyword (自定义关键词) must appear in every message: workflow notifications "
    "hold 工作流 (zh-cn) or workflow (en-us) in their titles; put the keyword in the title or "
    "content of an ad-hoc message"
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
    system: SystemView | None = None  # for channels that need system settings (mail's sender)
    directory: People | None = None  # users, groups, the task creator (dispatch.recipients)


def encode_json(body: Any) -> bytes:
    """The exact bytes sent: UTF-8 JSON, no ASCII escaping (platform byte limits count these)."""
    # orjson writes exactly what json.dumps(ensure_ascii=False, separators=(",", ":")) does,
    # ten times faster (bench: a 1.9 KB workflow payload in 3 us instead of 44 us).
    return orjson.dumps(body)


def http_outcome(response: Response) -> Retry | None:
    """What the HTTP status alone decides: 429 and 5xx are retried; None means read the body."""
    if response.status == 429 or response.status >= 500:
        return Retry(f"HTTP {response.status}", after=retry_after(response.headers))
    return None


def platform_code(value: object) -> int | None:
    """A platform's numeric result code as its JSON gave it: an integer, or one written as
    digits; None for anything else (true, false, 0.5, null), which never reads as 0 (success)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        return int(value)
    return None


def accepted(response: Response) -> bool:
    """Whether the HTTP status lets a success code in the body count: 2xx only. A 4xx with
    `{"errcode": 0}` did not come from the platform's success path (a gateway, a proxy, a
    look-alike answered): it is not a success."""
    return 200 <= response.status < 300


def not_accepted(response: Response, code: str) -> Fail:
    """The outcome of a success code under a status that is not 2xx."""
    return Fail(
        f"HTTP {response.status} with {code}: not a success — the status says the message was "
        "not taken (something other than the platform may have answered: a proxy or gateway)",
        response.status,
    )


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


def in_groups(items: list[str], budget: int, size: Callable[[str], int]) -> list[list[str]]:
    """`items` in order, in groups each within `budget` (its items' sizes and one separator
    between each two): hundreds of mentions as several messages a platform accepts. An item
    larger than the budget goes alone."""
    groups: list[list[str]] = []
    used = 0
    for item in items:
        cost = size(item) + (1 if groups and groups[-1] else 0)
        if not groups or (groups[-1] and used + cost > budget):
            groups.append([])
            used, cost = 0, size(item)
        groups[-1].append(item)
        used += cost
    return groups


def fit(message: Message, build: Callable[[Message], T], size: Callable[[T], int], limit: int) -> T:
    """Render `message` so that size(result) <= limit, shortening visibly when it would not.

    First every long value is clipped (binary search for the longest clip that fits), then,
    if the jobs alone are too many, trailing jobs are replaced by a "N more jobs" line (binary
    search for the most jobs that fit). Each step renders O(log n) times, never once per job:
    a task of thousands of jobs fits as quickly as one of ten.
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
    # Fewer jobs are never larger: the most that fit, by bisection.
    low, high = 0, len(clipped.jobs) - 1
    if size(build(clipped.keep_jobs(low))) > limit:
        return build(clipped.keep_jobs(0).clip(_MIN_CLIP // 2))
    while low < high:
        mid = (low + high + 1) // 2
        if size(build(clipped.keep_jobs(mid))) <= limit:
            low = mid
        else:
            high = mid - 1
    return build(clipped.keep_jobs(low))


# --- the channel record --------------------------------------------------------------------

C = TypeVar("C")
# A channel's own steps for one delivery: (outcome, HTTP status of the platform's answer).
Deliver = Callable[
    ["Request", "Destination", str, "SendIO"], Awaitable[tuple["Outcome", int | None]]
]
# A backlog (oldest first) as digests: each digest's requests, and the items it carries.
RenderDigest = Callable[[list["Item"], "RenderContext"], list[tuple[list["Request"], list["Item"]]]]
Problems = list[tuple[tuple[str | int, ...], str]]  # (path inside the notify_ctl, message)


def _no_escape(text: str) -> str:
    return text


def _same(_kind: str, value: str) -> Any:
    return value


@dataclass(frozen=True)
class Channel(Generic[C]):
    """Everything about one webhook_type, in one place: every other list of channels in
    tidings is derived from the records of channels/__init__.py's registry.

    Exactly one of `interpret` (one HTTP request per delivery, sent by the delivery layer)
    and `deliver` (its own steps: tokens, lookups, SMTP, run through a SendIO) is given.
    """

    webhook_type: str
    config_key: str  # the notify_ctl field of its settings, e.g. dingding_notification_config
    config_type: type[C]  # a tidings.schema Model
    limits: Limits
    destination: Callable[[C, SystemView | None], Destination]
    render: Callable[[Message, C, RenderContext], list[Request]]
    sandbox: str  # the sandbox platform that simulates it (tidings.sandbox.records.PLATFORMS)
    known_as: tuple[str, ...] = ()  # what else people call it: "did you mean" for webhook_type
    render_note: Callable[[Note, C, RenderContext], list[Request]] | None = None
    interpret: Callable[[Response], Outcome] | None = None
    deliver: Deliver | None = None
    preview: Callable[[Request, Destination, str, float], list[dict[str, Any]]] | None = None
    describe: Callable[[Request, Destination], str] | None = None  # one person's destination
    escape: Callable[[str], str] = _no_escape  # user text (variables) in its markup
    url_fields: tuple[str, ...] = ()  # http(s) URLs, the address first; their tokens are secret
    secret_fields: tuple[str, ...] = ()  # values that are secrets
    mentions: str | None = None  # the field of ids it @mentions (`tidings notify --at`)
    at_all: str | None = None  # the field that mentions everyone (`--at-all`)
    # dynamic_recipients: what an entry holds ("email", "mobile", "user id") -> the field
    # of the settings the people are added to, and how one is written there.
    recipient_fields: Mapping[str, str] = field(default_factory=dict)
    recipient_entry: Callable[[str, str], Any] = _same
    check: Callable[[C, ConfigView], tuple[Problems, Problems]] | None = None  # errors, warnings
    needs_system: bool = False  # it needs system.im_apps / system.smtp: not sent ad hoc
    # Zadig's fields before 3.3.0 that make its settings when the ctl has none (Zadig's
    # NotifyCtl.GenerateNewNotifyConfigWithOldData): settings field -> deprecated field
    # (`a.b`: field b inside a); the settings are made when those named in
    # `deprecated_required` are set, else from whichever is set.
    deprecated: Mapping[str, str] = field(default_factory=dict)
    deprecated_required: tuple[str, ...] = ()
    # A task paused before a manual stage reads 等待手动执行 here, not 暂停 (Zadig: its Feishu
    # channels, and the manual-stage message of mail and feishu_person), and, with
    # `pending_stage_line`, names the stage (待执行阶段).
    manual_pause: bool = False
    pending_stage_line: bool = False
    # Digests (channels.digest): a backlog of its notifications laid out as few messages as
    # its size limit allows (each digest's requests, and the merged items it carries), and
    # the settings fields whose mentions a digest keeps. None: never merged (webhook, mail).
    render_digest: RenderDigest | None = None
    digest_mentions: tuple[str, ...] = ()

    def secrets(self, config: C) -> list[str]:
        """The secret values of these settings: tokens in its URLs, signing secrets."""
        from tidings.redact import url_secrets

        found: list[str] = []
        for name in self.url_fields:
            found.extend(url_secrets(getattr(config, name) or ""))
        found.extend(value for name in self.secret_fields if (value := getattr(config, name)))
        return found
