"""The configuration's models: system settings, users and groups, workflows (pydantic).

Field names of notify_ctls are Zadig's exactly (specs/zadig.md §1), so a Zadig configuration
can be brought unchanged; see notify_ctl for one ctl, workflows for stages and jobs.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from datetime import tzinfo
from pathlib import Path as FilePath
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from tidings.config.notify_ctl import NotifyCtl
from tidings.config.sources import Sources
from tidings.config.workflows import ApprovalSpec, JobDef, ManualExec, StageDef, Strict
from tidings.errors import InputError, Problem
from tidings.schema import Invalid, Path


class User(Strict):
    id: str
    name: str = ""
    email: str = ""
    phone: str = ""
    # GitHub logins and GitLab usernames: who ran a run that `sources:` received (docs/sources.md)
    logins: list[str] = Field(default_factory=list)


class Group(Strict):
    id: str
    name: str = ""
    members: list[str] = Field(default_factory=list)


class DeliverySettings(Strict):
    """How the outbox is worked: retries, age limit, concurrency, pacing of webhooks."""

    max_attempts: int = Field(default=12, ge=1)
    max_age: float = Field(default=86400.0, gt=0)  # seconds a delivery may stay undelivered
    timeout: float = Field(default=10.0, gt=0)  # per HTTP attempt
    # One attempt with all its steps: a mail's round trips, a Feishu app's token and lookups.
    attempt_timeout: float = Field(default=120.0, gt=0)
    concurrency: int = Field(default=32, ge=1)  # destinations a worker sends to at once
    claim_batch: int = Field(default=4, ge=1)  # destinations one claim takes, at most
    # Circuit breaker: retryable failures in a row that pause a destination (0: never), the
    # first pause, and the longest (each pause in a row doubles).
    breaker_failures: int = Field(default=5, ge=0)
    breaker_pause: float = Field(default=30.0, gt=0)
    breaker_max_pause: float = Field(default=1800.0, gt=0)
    lease: float = Field(default=30.0, gt=0)
    webhook_per_second: int | None = Field(default=None, ge=1)  # per webhook URL
    webhook_per_minute: int | None = Field(default=None, ge=1)
    # A rate-limited robot whose backlog cannot be sent within this many seconds at its
    # platform's rate gets it merged into digests (delivery.coalesce); 0: never merged.
    coalesce_after: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _lease_outlives_a_send(self) -> DeliverySettings:
        if self.lease < self.timeout + 1.5:
            raise ValueError(
                "lease must be at least timeout + 1.5 seconds: a worker stops sending to a "
                "destination before its lease could end in the middle of a send"
            )
        if self.attempt_timeout < self.timeout:
            raise ValueError(
                "attempt_timeout must be at least timeout: it bounds one attempt with all its "
                "steps, each of which may take up to timeout"
            )
        return self


class SmtpSettings(Strict):
    """The mail server every `mail` notification goes through."""

    host: str
    port: int | None = Field(default=None, ge=1, le=65535)  # default by security
    security: Literal["ssl", "starttls", "none"] = "starttls"
    username: str = ""  # AUTH only when set
    password: str = ""
    sender: str  # the From address, e.g. "Zadig <noreply@example.com>"
    ca_file: str = ""  # tidings extension: a PEM to trust instead of the system's CAs
    tls_verify: bool = True  # tidings extension: false trusts any certificate (sandbox only)

    @property
    def server_port(self) -> int:
        """The port, else the convention of the security: 465 ssl, 587 starttls, 25 none."""
        return self.port or {"ssl": 465, "starttls": 587, "none": 25}[self.security]


class ProxySettings(Strict):
    """The proxy of every HTTP delivery (IM platforms, Feishu apps, webhooks; not mail).
    When absent, the environment's HTTPS_PROXY / HTTP_PROXY / NO_PROXY apply."""

    address: str = ""  # http(s)://[user:password@]host:port; empty: always directly
    no_proxy: list[str] = Field(default_factory=list)  # reached directly (docs)

    @field_validator("no_proxy", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # as NO_PROXY writes it: "a.example,10.0.0.0/8"
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("address")
    @classmethod
    def _proxy_url(cls, value: str) -> str:
        if value.strip():
            from tidings.net import parse_proxy

            parse_proxy(value)  # a BadAddress never shows the URL (it may hold a password)
        return value


class TlsSettings(Strict):
    """TLS of HTTP deliveries and of mail (system.smtp)."""

    ca_file: str = ""  # PEM of CAs trusted besides the system's (a private CA)

    @field_validator("ca_file")
    @classmethod
    def _pem(cls, value: str) -> str:
        if value:
            import ssl

            try:  # only this file: quick, unlike the whole trust store
                ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=value)
            except ssl.SSLError:  # an OSError too: first
                raise ValueError(f"{value} holds no PEM CA certificate") from None
            except OSError as exc:
                raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
        return value


class ApiSettings(Strict):
    """`tidings serve`: where POST /api/v1/notify may send (docs/api.md, "Ad-hoc
    destinations"). Configured destinations are trusted; an ad-hoc one goes only to the
    platforms' hosts, hosts the configuration names, and these (host names, `*.domain`,
    addresses or CIDR networks); private, loopback and link-local addresses only if listed."""

    notify_allowed_hosts: list[str] = Field(default_factory=list)

    @field_validator("notify_allowed_hosts")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        from tidings.net import BadAddress, allowed_entry

        for entry in value:
            try:
                allowed_entry(entry)
            except BadAddress as exc:
                raise ValueError(str(exc)) from None
        return value


LARK_BASE_URLS = {"lark": "https://open.feishu.cn", "lark_intl": "https://open.larksuite.com"}


class ImApp(Strict):
    """A Feishu / Lark self-built app (自建应用) that sends messages as its bot."""

    id: str  # what lark_*_notification_config.app_id refers to
    type: Literal["lark", "lark_intl"] = "lark"
    app_id: str
    app_secret: str
    base_url: str = ""  # overrides the open platform's address (a proxy, the sandbox)

    @property
    def base(self) -> str:
        return (self.base_url or LARK_BASE_URLS[self.type]).rstrip("/")


API_SCOPES = ("read", "send", "run", "admin")
MIN_API_TOKEN = 16


class ApiToken(Strict):
    """A bearer token of the HTTP API (`tidings serve`): the token itself (from ${ENV}) or its
    SHA-256, and what it may do."""

    name: str = Field(min_length=1)
    token: str = ""
    token_sha256: str = ""
    scopes: list[Literal["read", "send", "run", "admin"]] = Field(min_length=1)

    @field_validator("token_sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be 64 hex digits (sha256sum of the token)")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> ApiToken:
        if bool(self.token) == bool(self.token_sha256):
            raise ValueError("give exactly one of token (e.g. ${API_TOKEN}) or token_sha256")
        if self.token and len(self.token) < MIN_API_TOKEN:
            raise ValueError(
                f"token is too short to be a secret: use at least {MIN_API_TOKEN} characters "
                "(e.g. `openssl rand -hex 24`)"
            )
        return self

    def digest(self) -> str:

        return self.token_sha256 or hashlib.sha256(self.token.encode("utf-8")).hexdigest()


class System(Strict):
    # Names the configuration for its queued deliveries (default: the file's absolute path):
    # give every copy of one configuration (hosts, CI jobs) the same name.
    name: str = Field(default="", max_length=255)
    address: str = ""
    language: Literal["zh-cn", "en-us"] = "zh-cn"
    # The team's time zone (IANA, e.g. Asia/Shanghai) of every time in messages, mail and
    # pages; empty: the machine's own.
    timezone: str = ""
    database_url: str = ""  # else $TIDINGS_DATABASE_URL, else a SQLite file (docs)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    smtp: SmtpSettings | None = None
    im_apps: list[ImApp] = Field(default_factory=list)
    api_tokens: list[ApiToken] = Field(default_factory=list)  # `tidings serve` (docs/api.md)
    api_max_body: int = Field(default=1024 * 1024, ge=1024)  # bytes of one request body
    api: ApiSettings = Field(default_factory=ApiSettings)
    proxy: ProxySettings | None = None  # None: the environment's (HTTPS_PROXY, NO_PROXY)
    tls: TlsSettings = Field(default_factory=TlsSettings)

    def im_app(self, app_id: str) -> ImApp | None:
        return next((app for app in self.im_apps if app.id == app_id), None)

    @property
    def tz(self) -> tzinfo | None:
        """The zone of `timezone` (None: the machine's)."""
        return ZoneInfo(self.timezone) if self.timezone else None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r}: give an IANA name such as Asia/Shanghai or UTC"
                ) from None
        return value

    @field_validator("address")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.rstrip("/")


class WorkflowConfig(Strict):
    name: str
    display_name: str = ""
    project: str = ""
    project_display_name: str = ""
    notify_ctls: list[NotifyCtl] = Field(default_factory=list)
    # What `tidings run` runs (runner/spec.py; docs/runner.md). Empty: events come from outside.
    stages: list[StageDef] = Field(default_factory=list)
    timeout: float | None = Field(default=None, gt=0)  # seconds for the whole task

    def jobs(self) -> list[JobDef]:
        return [job for stage in self.stages for job in stage.jobs]

    def job(self, name: str) -> JobDef | None:
        return next((job for job in self.jobs() if job.name == name), None)


class Config(Strict):
    system: System = Field(default_factory=System)
    users: list[User] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    workflows: list[WorkflowConfig] = Field(default_factory=list)
    # GitHub and GitLab webhooks `tidings serve` takes (docs/sources.md)
    sources: Sources = Field(default_factory=Sources)

    # Set by load(): where the file came from and the problems that do not stop it from working.
    _source: str = PrivateAttr(default="")
    _warnings: list[Problem] = PrivateAttr(default_factory=list)
    _loaded_at: float = PrivateAttr(default_factory=time.time)

    @property
    def source(self) -> str:
        return self._source

    @property
    def warnings(self) -> list[Problem]:
        return self._warnings

    def workflow(self, name: str) -> WorkflowConfig:
        for workflow in self.workflows:
            if workflow.name == name:
                return workflow
        from tidings.schema import closest

        names = [w.name for w in self.workflows]
        meant = closest(name, names)
        known = ", ".join(names) or "none"
        raise InputError(
            f"workflow {name!r}{f' (did you mean {meant}?)' if meant else ''} is not in "
            f"{self.source or 'the configuration'} "
            f"(configured: {known}); add it under workflows:"
        )

    def user(self, user_id: str) -> User | None:
        return next((u for u in self.users if u.id == user_id), None)

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.id == group_id), None)

    @property
    def name(self) -> str:
        """Which configuration this is, for the deliveries it queues: `system.name`, else the
        file's absolute path. Deliveries queued under one name are ended as "destination gone"
        only by a process running that configuration (docs/delivery.md)."""
        if self.system.name:
            return self.system.name
        if not self._source or self._source.startswith("<"):
            return self._source or "<config>"
        return str(FilePath(self._source).resolve())

    @property
    def loaded_at(self) -> float:
        """When this process read the configuration: what was queued before it, under the
        same name, was planned with this configuration or an older one."""
        return self._loaded_at

    def ctls(self) -> Iterator[tuple[Path, str, NotifyCtl]]:
        """Every notify_ctl with its YAML path and how history names it: workflow-level,
        job-level, and each notification job's spec."""
        for wi, workflow in enumerate(self.workflows):
            for ci, ctl in enumerate(workflow.notify_ctls):
                yield (
                    ("workflows", wi, "notify_ctls", ci),
                    f"{workflow.name}/notify_ctls[{ci}]",
                    ctl,
                )
            for si, stage in enumerate(workflow.stages):
                for ji, job in enumerate(stage.jobs):
                    at: Path = ("workflows", wi, "stages", si, "jobs", ji)
                    base = f"{workflow.name}/jobs/{job.name}"
                    for ci, ctl in enumerate(job.notify_ctls):
                        yield (*at, "notify_ctls", ci), f"{base}/notify_ctls[{ci}]", ctl
                    if job.type == "notification" and job.typed is not None:
                        try:
                            ctl = job.typed.ctl()
                        except Invalid:
                            continue  # config.checks reports it
                        yield (*at, "spec"), f"{base}/spec", ctl

    def secrets(self) -> list[str]:
        """Every secret value in the configuration, for redaction of all output."""
        from tidings.redact import url_secrets

        found: list[str] = url_secrets(self.system.database_url)
        if self.system.proxy is not None:
            found.extend(url_secrets(self.system.proxy.address))
        found.extend(app.app_secret for app in self.system.im_apps if app.app_secret)
        found.extend(t.token for t in self.system.api_tokens if t.token)
        found.extend(self.sources.secrets())
        if self.system.smtp is not None and self.system.smtp.password:
            found.append(self.system.smtp.password)
        for _, _, ctl in self.ctls():
            found.extend(ctl.secrets())
        return found

    def approvers(self, spec: ApprovalSpec) -> list[str]:
        """The user ids who may approve: the listed users and the members of the listed groups."""
        ids = list(dict.fromkeys(spec.users))
        for group_id in spec.groups:
            group = self.group(group_id)
            ids.extend(m for m in (group.members if group else []) if m not in ids)
        return ids

    def stage_executors(self, manual: ManualExec, task_creator_id: str) -> list[str]:
        """The user ids who may run a manual stage: the listed users, the members of the
        listed groups, and the task creator when listed (and known)."""
        ids: list[str] = []
        for target in manual.manual_exec_users:
            if target.type == "user":
                found = [target.user_id]
            elif target.type == "group":
                group = self.group(target.group_id)
                found = list(group.members) if group else []
            else:
                found = [task_creator_id] if task_creator_id else []
            ids.extend(i for i in found if i not in ids)
        return ids
