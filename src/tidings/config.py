"""The configuration file: YAML -> typed models, ${ENV} expansion, errors naming the YAML path.

Field names of notify_ctls are Zadig's exactly (specs/zadig.md §1), so a Zadig configuration
can be brought unchanged; Zadig's deprecated flat fields are mapped to the current sub-configs.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

# One notify_ctl's models live in channel_config (all that `tidings notify` builds) and are
# re-exported here, where every other module imports them from.
from tidings.channel_config import (  # noqa: F401
    LARK_ID_TYPES,
    MAIL_TARGET_TYPES,
    SUB_CONFIG_OF,
    SUPPORTED_TYPES,
    WEBHOOK_TYPES,
    DingdingConfig,
    LarkChat,
    LarkGroupConfig,
    LarkHookConfig,
    LarkPersonConfig,
    LarkUser,
    MailConfig,
    MailTarget,
    MsTeamsConfig,
    NotifyCtl,
    WebhookConfig,
    WechatConfig,
    _id_list,
    ctl_secrets,
    map_deprecated,
)
from tidings.errors import ConfigError, InputError, Problem
from tidings.runner.spec import JobDef, StageDef, _Strict

if TYPE_CHECKING:
    from tidings.yamlsrc import Path

CONFIG_ENV = "TIDINGS_CONFIG"
DEFAULT_CONFIG = "tidings.yaml"


class User(_Strict):
    id: str
    name: str = ""
    email: str = ""
    phone: str = ""


class Group(_Strict):
    id: str
    name: str = ""
    members: list[str] = Field(default_factory=list)


class DeliverySettings(_Strict):
    """How the outbox is worked: retries, age limit, concurrency, pacing of webhooks."""

    max_attempts: int = Field(default=12, ge=1)
    max_age: float = Field(default=86400.0, gt=0)  # seconds a delivery may stay undelivered
    timeout: float = Field(default=10.0, gt=0)  # per HTTP attempt
    concurrency: int = Field(default=32, ge=1)  # destinations a worker sends to at once
    lease: float = Field(default=30.0, gt=0)
    webhook_per_second: int | None = Field(default=None, ge=1)  # per webhook URL
    webhook_per_minute: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _lease_outlives_a_send(self) -> DeliverySettings:
        if self.lease < self.timeout + 1.5:
            raise ValueError(
                "lease must be at least timeout + 1.5 seconds: a worker stops sending to a "
                "destination before its lease could end in the middle of a send"
            )
        return self


class SmtpSettings(_Strict):
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


class ProxySettings(_Strict):
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
            from tidings.delivery.http.errors import HttpError
            from tidings.delivery.proxies import parse_proxy

            try:
                parse_proxy(value)
            except HttpError as exc:  # never shows the URL (it may hold a password)
                raise ValueError(str(exc)) from None
        return value


class TlsSettings(_Strict):
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


LARK_BASE_URLS = {"lark": "https://open.feishu.cn", "lark_intl": "https://open.larksuite.com"}


class ImApp(_Strict):
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


class ApiToken(_Strict):
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
        import hashlib

        return self.token_sha256 or hashlib.sha256(self.token.encode("utf-8")).hexdigest()


class System(_Strict):
    # Names the configuration for its queued deliveries (default: the file's absolute path):
    # give every copy of one configuration (hosts, CI jobs) the same name.
    name: str = Field(default="", max_length=255)
    address: str = ""
    language: Literal["zh-cn", "en-us"] = "zh-cn"
    database_url: str = ""  # else $TIDINGS_DATABASE_URL, else a SQLite file (docs)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    smtp: SmtpSettings | None = None
    im_apps: list[ImApp] = Field(default_factory=list)
    api_tokens: list[ApiToken] = Field(default_factory=list)  # `tidings serve` (docs/api.md)
    api_max_body: int = Field(default=1024 * 1024, ge=1024)  # bytes of one request body
    proxy: ProxySettings | None = None  # None: the environment's (HTTPS_PROXY, NO_PROXY)
    tls: TlsSettings = Field(default_factory=TlsSettings)

    def im_app(self, app_id: str) -> ImApp | None:
        return next((app for app in self.im_apps if app.id == app_id), None)

    @field_validator("address")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.rstrip("/")


class WorkflowConfig(_Strict):
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


class Config(_Strict):
    system: System = Field(default_factory=System)
    users: list[User] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    workflows: list[WorkflowConfig] = Field(default_factory=list)

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
        known = ", ".join(w.name for w in self.workflows) or "none"
        raise InputError(
            f"workflow {name!r} is not in {self.source or 'the configuration'} "
            f"(configured: {known}); add it under workflows: or pass -w with a configured name"
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
                        yield (*at, "spec"), f"{base}/spec", job.typed.ctl()

    def secrets(self) -> list[str]:
        """Every secret value in the configuration, for redaction of all output."""
        from tidings.redact import url_secrets

        found: list[str] = url_secrets(self.system.database_url)
        if self.system.proxy is not None:
            found.extend(url_secrets(self.system.proxy.address))
        found.extend(app.app_secret for app in self.system.im_apps if app.app_secret)
        found.extend(t.token for t in self.system.api_tokens if t.token)
        if self.system.smtp is not None and self.system.smtp.password:
            found.append(self.system.smtp.password)
        for _, _, ctl in self.ctls():
            found.extend(ctl_secrets(ctl))
        return found


# --- loading -------------------------------------------------------------------------------


def pydantic_problems(error: dict[str, Any]) -> list[tuple[Path, str]]:
    """One pydantic error as (path, message)s: a notify_ctl (tidings.schema) lists its own."""
    from tidings.schema import Invalid

    at = tuple(error["loc"])
    inner = error.get("ctx", {}).get("error")
    if isinstance(inner, Invalid):
        return [((*at, *path), message) for path, message in inner.problems]
    return [(at, _pydantic_message(error))]


def _pydantic_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown field; check its spelling against docs/configuration.md"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}; got {error.get('input')!r}"
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return msg[0].lower() + msg[1:] if msg else msg


def _is_http_url(value: str) -> bool:
    return bool(re.match(r"^https?://[^\s/]+", value or ""))


_URL_FIELD = {
    "dingding": "hook_address",
    "wechat": "hook_address",
    "feishu": "hook_address",
    "msteams": "hook_address",
    "webhook": "address",
}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _raw_ctls(data: dict[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    """Every notify_ctl of the raw data, workflow-level and job-level, with its path."""
    found: list[tuple[Path, dict[str, Any]]] = []
    for wi, workflow in enumerate(_list(data.get("workflows"))):
        if not isinstance(workflow, dict):
            continue
        for ci, raw in enumerate(_list(workflow.get("notify_ctls"))):
            if isinstance(raw, dict):
                found.append((("workflows", wi, "notify_ctls", ci), raw))
        for si, stage in enumerate(_list(workflow.get("stages"))):
            jobs = stage.get("jobs") if isinstance(stage, dict) else None
            for ji, job in enumerate(_list(jobs)):
                ctls = job.get("notify_ctls") if isinstance(job, dict) else None
                for ci, raw in enumerate(_list(ctls)):
                    if isinstance(raw, dict):
                        at: Path = ("workflows", wi, "stages", si, "jobs", ji, "notify_ctls", ci)
                        found.append((at, raw))
    return found


def _ctl_problems(data: dict[str, Any]) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Checks of each notify_ctl that pydantic cannot express (type, statuses, sub-config, URL).

    Run on the raw data, so they are reported together with pydantic's own errors.
    """
    from tidings.model import STATUSES

    errors: list[tuple[Path, str]] = []
    warnings: list[tuple[Path, str]] = []
    for at, raw in _raw_ctls(data):
        ctl = map_deprecated(raw)
        kind = ctl.get("webhook_type")
        if not isinstance(kind, str):
            continue  # pydantic reports it
        if kind not in WEBHOOK_TYPES:
            errors.append(
                (
                    (*at, "webhook_type"),
                    f"unknown webhook_type {kind!r}; one of {', '.join(WEBHOOK_TYPES)}",
                )
            )
            continue
        statuses = ctl.get("notify_type") or []
        statuses = _id_list(statuses) if isinstance(statuses, str) else statuses
        for ti, status in enumerate(statuses if isinstance(statuses, list) else []):
            if isinstance(status, str) and status not in STATUSES:
                errors.append(
                    (
                        (*at, "notify_type", ti),
                        f"unknown status {status!r}; one of {', '.join(STATUSES)}",
                    )
                )
        if ctl.get("tls_verify") is False:
            warnings.append(
                (
                    (*at, "tls_verify"),
                    "false: the certificate of this destination is not checked, so anyone "
                    "on the way can read and change its messages and tokens; trust its CA "
                    "with system.tls.ca_file instead",
                )
            )
        if kind == "mail":
            errors.extend(
                ((*at, name), "mail is sent through system.smtp: set its ca_file / tls_verify")
                for name in ("proxy", "tls_verify")
                if name in ctl
            )
        if ctl.get("enabled", True) and not statuses:
            warnings.append(((*at, "notify_type"), "empty: this notification never fires"))
        sub_name = SUB_CONFIG_OF[kind]
        sub = ctl.get(sub_name)
        if not sub:
            errors.append(((*at, sub_name), f"field required for webhook_type {kind}"))
            continue
        field = _URL_FIELD.get(kind)
        address = sub.get(field) if isinstance(sub, dict) and field else None
        if isinstance(address, str) and not _is_http_url(address):
            errors.append(((*at, sub_name, field), "must be an http:// or https:// URL"))
    return errors, warnings


def _reference_problems(config: Config) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Checks across entries: group members are users, workflow names and im_apps ids are
    unique, every app, user and group a notify_ctl names exists, mail has a server."""
    errors: list[tuple[Path, str]] = []
    warnings: list[tuple[Path, str]] = []
    user_ids = {u.id for u in config.users}
    for gi, group in enumerate(config.groups):
        for mi, member in enumerate(group.members):
            if member not in user_ids:
                errors.append(
                    (("groups", gi, "members", mi), f"unknown user {member!r}; add it under users:")
                )
    seen: set[str] = set()
    for ai, app in enumerate(config.system.im_apps):
        if app.id in seen:
            errors.append((("system", "im_apps", ai, "id"), f"duplicate im_apps id {app.id!r}"))
        seen.add(app.id)
    seen = set()
    for ti, token in enumerate(config.system.api_tokens):
        if token.name in seen:
            errors.append((("system", "api_tokens", ti, "name"), f"duplicate name {token.name!r}"))
        seen.add(token.name)
    seen = set()
    for wi, workflow in enumerate(config.workflows):
        if workflow.name in seen:
            errors.append((("workflows", wi, "name"), f"duplicate workflow name {workflow.name!r}"))
        seen.add(workflow.name)
        for ci, ctl in enumerate(workflow.notify_ctls):
            at: Path = ("workflows", wi, "notify_ctls", ci)
            found = _ctl_reference_problems(config, ctl, at)
            errors.extend(found[0])
            warnings.extend(found[1])
        from tidings.runner.checks import workflow_problems

        found = workflow_problems(config, workflow, ("workflows", wi))
        errors.extend(found[0])
        warnings.extend(found[1])
    errors.extend(_shared_destination_problems(config))
    return errors, warnings


def _shared_destination_problems(config: Config) -> list[tuple[Path, str]]:
    """Ctls that address one destination (a robot named in two workflows) must agree on its
    secret and token: a queued delivery is sent with the one its destination has today."""
    from tidings import channels
    from tidings.delivery.network import reached
    from tidings.yamlsrc import format_path

    seen: dict[str, tuple[Path, Any]] = {}
    errors: list[tuple[Path, str]] = []
    for at, _source, ctl in config.ctls():
        sub = ctl.sub_config()
        if sub is None or ctl.webhook_type not in channels.supported():
            continue
        try:
            destination = channels.get(ctl.webhook_type).destination(sub, config.system)
        except ValueError:
            continue  # its app or mail server is missing: reported on its own
        destination = reached(destination, ctl)
        first = seen.setdefault(destination.key, (at, destination))
        other = first[1]
        route = ("proxy", "tls_verify")
        if any(getattr(other, name) != getattr(destination, name) for name in route):
            where = format_path(first[0])
            errors.append(
                (
                    at,
                    f"this destination is also configured at {where} with other proxy / "
                    "tls_verify settings; one robot or URL is reached one way: give both "
                    "the same",
                )
            )
            continue
        if other.secret != destination.secret or other.token != destination.token:
            field = "token" if other.token != destination.token else "secret"
            where = format_path(first[0])
            errors.append(
                (
                    (*at, SUB_CONFIG_OF[ctl.webhook_type], field),
                    f"this destination is also configured at {where} with another {field}; "
                    f"one robot or URL has one {field}: give both the same value",
                )
            )
    return errors


def _ctl_reference_problems(
    config: Config, ctl: NotifyCtl, at: Path
) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    errors: list[tuple[Path, str]] = []
    warnings: list[tuple[Path, str]] = []
    sub = ctl.sub_config()
    sub_path: Path = (*at, SUB_CONFIG_OF.get(ctl.webhook_type, ""))
    lark = isinstance(sub, LarkGroupConfig | LarkPersonConfig)
    if lark and config.system.im_app(sub.app_id) is None:
        known = ", ".join(repr(a.id) for a in config.system.im_apps)
        hint = (
            f"one of the system.im_apps ids: {known}"
            if known
            else "add the Feishu app under system.im_apps (id, app_id, app_secret)"
        )
        errors.append(((*sub_path, "app_id"), f"unknown app {sub.app_id!r}; {hint}"))
    if isinstance(sub, LarkGroupConfig):
        if not sub.chat.chat_id:
            errors.append(((*sub_path, "chat", "chat_id"), "must not be empty"))
        for ui, user in enumerate(sub.at_users):
            if not user.id:
                errors.append(((*sub_path, "at_users", ui, "id"), "must not be empty"))
    if isinstance(sub, LarkPersonConfig):
        if not sub.target_users:
            warnings.append(((*sub_path, "target_users"), "empty: nobody receives this"))
        for ui, user in enumerate(sub.target_users):
            if not user.id and not (user.is_executor or user.is_stage_executor):
                errors.append(
                    (
                        (*sub_path, "target_users", ui, "id"),
                        "must not be empty (or set is_executor: true for the task creator, "
                        "is_stage_executor: true for who may run a manual stage)",
                    )
                )
    if isinstance(sub, MailConfig):
        if config.system.smtp is None:
            errors.append(
                (
                    (*at, "webhook_type"),
                    "mail needs a mail server: add system.smtp {host, port, security, "
                    "username, password, sender}",
                )
            )
        for ti, target in enumerate(sub.target_users):
            errors.extend(_mail_target_problems(config, target, (*sub_path, "target_users", ti)))
    return errors, warnings


def _mail_target_problems(config: Config, target: MailTarget, at: Path) -> list[tuple[Path, str]]:
    if target.type == "user":
        user = config.user(target.user_id)
        if user is None:
            return [((*at, "user_id"), f"unknown user {target.user_id!r}; add it under users:")]
        if not user.email:
            message = f"user {user.id!r} has no email; add email: to its entry under users:"
            return [((*at, "user_id"), message)]
    if target.type == "group" and config.group(target.group_id) is None:
        return [((*at, "group_id"), f"unknown group {target.group_id!r}; add it under groups:")]
    if target.type == "email" and not _EMAIL.match(target.user_name):
        return [
            (
                (*at, "user_name"),
                f"{target.user_name!r} is not an email address (type email takes the address "
                "in user_name)",
            )
        ]
    return []


_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def resolve_path(path: str | None) -> str:
    """-c FILE, else $TIDINGS_CONFIG, else ./tidings.yaml."""
    return path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def load(path: str | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load and validate a configuration file. Raises ConfigError listing every problem."""
    source = resolve_path(path)
    try:
        text = FilePath(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "" if path else f" (no -c given and ${CONFIG_ENV} is not set)"
        raise ConfigError(f"configuration file {source} not found{hint}; pass -c FILE") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {source}: {exc}") from None
    return loads(text, source, environ)


def loads(text: str, source: str = "<config>", environ: dict[str, str] | None = None) -> Config:
    from tidings.yamlsrc import expand_env, format_path, line_of, load_yaml

    try:
        data, lines = load_yaml(text, source)
    except InputError as exc:
        raise ConfigError(exc.message, exc.problems) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: invalid configuration", [Problem("", "must be a mapping", 1)])
    problems: list[Problem] = []
    data = expand_env(data, (), problems, dict(os.environ if environ is None else environ))
    for problem in problems:
        object.__setattr__(problem, "line", line_of(lines, _parse_path(problem.path)))
    errors, warnings = _ctl_problems(data)

    # A value whose variable is unset is reported once, not again as an empty or bad value.
    unset = {problem.path for problem in problems}

    def add(path: Path, message: str) -> None:
        problem = Problem(format_path(path), message, line_of(lines, path))
        if problem.path not in unset and problem not in problems:
            problems.append(problem)

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            for path, message in pydantic_problems(error):
                add(path, message)
        config = None
    for path, message in errors:
        add(path, message)
    if config is not None:
        reference_errors, reference_warnings = _reference_problems(config)
        for path, message in reference_errors:
            add(path, message)
        warnings.extend(reference_warnings)
    if problems or config is None:
        problems.sort(key=lambda p: (p.line or 0, p.path))
        raise ConfigError(f"{source}: invalid configuration", problems)
    config._source = source
    config._warnings = [Problem(format_path(p), m, line_of(lines, p)) for p, m in warnings]
    return config


def _parse_path(text: str) -> Path:
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", text):
        parts.append(int(index) if index else name)
    return tuple(parts)
