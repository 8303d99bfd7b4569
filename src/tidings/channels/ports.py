"""What a channel may see of the rest of tidings, as Protocols: the system settings it reads,
the people it asks about, and the I/O the delivery layer does for it.

Channels import nothing from config, delivery, runner or api (the layers above them); those
layers hand channels objects that have these shapes (config.System, dispatch's Directory,
delivery's SendIO), and mypy checks that they do.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

if TYPE_CHECKING:
    from email.message import EmailMessage

    from tidings.people import Person, Target


@dataclass(frozen=True)
class Limits:
    """A platform's limits, as data next to the channel that must respect them."""

    max_body_bytes: int | None = None  # whole JSON body
    max_content_bytes: int | None = None  # the markdown/text content field
    per_minute: int | None = None  # messages per destination per rolling minute
    per_second: int | None = None


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


class SmtpServer(Protocol):
    """The mail server of `mail` notifications (system.smtp)."""

    @property
    def host(self) -> str: ...
    @property
    def server_port(self) -> int: ...
    @property
    def security(self) -> str: ...  # "ssl" | "starttls" | "none"
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def ca_file(self) -> str: ...
    @property
    def tls_verify(self) -> bool: ...


class LarkApp(Protocol):
    """A Feishu / Lark self-built app (system.im_apps[])."""

    @property
    def id(self) -> str: ...  # what a ctl's app_id names
    @property
    def app_id(self) -> str: ...
    @property
    def app_secret(self) -> str: ...
    @property
    def base(self) -> str: ...  # the open platform's address


class SystemView(Protocol):
    """The system settings channels read (config.System has this shape)."""

    @property
    def smtp(self) -> SmtpServer | None: ...
    @property
    def im_apps(self) -> Sequence[LarkApp]: ...
    def im_app(self, ref: str) -> LarkApp | None: ...


class UserView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def email(self) -> str: ...


class GroupView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def members(self) -> Sequence[str]: ...


class ConfigView(Protocol):
    """What a channel's configuration checks may look up (config.Config has this shape)."""

    @property
    def system(self) -> SystemView: ...
    def user(self, user_id: str) -> UserView | None: ...
    def group(self, group_id: str) -> GroupView | None: ...


class People(Protocol):
    """Who a notification of one task reaches, as dispatch resolves them from the configured
    users and groups and the task; what cannot be resolved is noted in `problems`."""

    problems: list[str]

    def executor(self) -> Person | None:
        """The task creator with a phone or an email to be found by (else noted)."""
        ...

    def stage_executor_people(self) -> list[tuple[str, Person]]:
        """(user id, Person) of each who may run the manual stage the task waits at."""
        ...

    def mail_addresses(self, targets: Sequence[Target]) -> list[str]:
        """Each address the targets name, once, in the order first named."""
        ...


class TransportFailure(Exception):
    """A request got no answer: refused, reset, timed out, DNS, TLS.

    `permanent`: retrying cannot help (an untrusted certificate, a server that does not
    offer what the settings ask for); the message then says what to fix.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SendIO(Protocol):
    """The I/O a channel's own `deliver` steps may use (Feishu's token and id lookups, SMTP),
    done by the delivery layer: the shared HTTP pool, the clock, the worker's cache."""

    @property
    def cache(self) -> dict[Hashable, Any]: ...  # lives as long as the worker: tokens, ids
    @property
    def timeout(self) -> float: ...

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def http(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Response:
        """One HTTP exchange; raises TransportFailure when there is no answer."""
        ...

    async def smtp(
        self, message: EmailMessage, recipients: list[str], server: SmtpServer
    ) -> tuple[int, str]:
        """Send one mail: the server's final reply (code, text), a refusal included;
        raises TransportFailure when the server cannot be talked to."""
        ...

    def pace(self, key: Hashable, limits: Limits) -> float:
        """Seconds until one more send under `key` fits `limits`; 0: it fits and is counted
        (call `answered` once it got its answer, or gave up)."""
        ...

    def answered(self, key: Hashable, limits: Limits) -> None:
        """A send `pace` let go got its answer now: it counts from now on."""
        ...
