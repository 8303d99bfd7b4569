"""The configuration file: YAML -> typed models, ${ENV} expansion, errors naming the YAML path.

Field names of notify_ctls are Zadig's exactly (specs/zadig.md §1), so a Zadig configuration
can be brought unchanged; Zadig's deprecated flat fields are mapped to the current sub-configs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path as FilePath
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from tidings.errors import ConfigError, InputError, Problem
from tidings.model import STATUSES
from tidings.yamlsrc import Path, format_path, line_of, load_yaml

CONFIG_ENV = "TIDINGS_CONFIG"
DEFAULT_CONFIG = "tidings.yaml"

# Types this version sends; the others parse but are reported as not supported yet.
SUPPORTED_TYPES = ("dingding", "wechat", "feishu", "webhook")
PLANNED_TYPES = ("feishu_app", "feishu_person", "mail", "msteams")
WEBHOOK_TYPES = SUPPORTED_TYPES + PLANNED_TYPES

SUB_CONFIG_OF = {
    "dingding": "dingding_notification_config",
    "wechat": "wechat_notification_config",
    "feishu": "lark_hook_notification_config",
    "webhook": "webhook_notification_config",
    "feishu_app": "lark_group_notification_config",
    "feishu_person": "lark_person_notification_config",
    "mail": "mail_notification_config",
    "msteams": "msteams_notification_config",
}


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt key would otherwise silently disable a notification.
    model_config = ConfigDict(extra="forbid")


def _id_list(value: Any) -> Any:
    """Zadig's UI takes several ids separated by ';': accept that string as well as a list."""
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[;,]", value) if part.strip()]
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) else v for v in value]
    return value


class DingdingConfig(_Strict):
    hook_address: str
    at_mobiles: list[str] = Field(default_factory=list)
    at_user_ids: list[str] = Field(default_factory=list)
    dynamic_recipients: list[str] = Field(default_factory=list)
    is_at_all: bool = False
    secret: str | None = None  # tidings extension: DingTalk 加签

    _lists = field_validator("at_mobiles", "at_user_ids", mode="before")(_id_list)


class WechatConfig(_Strict):
    hook_address: str
    at_users: list[str] = Field(default_factory=list)
    is_at_all: bool = False

    _lists = field_validator("at_users", mode="before")(_id_list)


class LarkHookConfig(_Strict):
    hook_address: str
    app_id: str = ""
    at_users: list[str] = Field(default_factory=list)
    dynamic_recipients: list[str] = Field(default_factory=list)
    is_at_all: bool = False
    secret: str | None = None  # tidings extension: Feishu signature verification

    _lists = field_validator("at_users", mode="before")(_id_list)


class WebhookConfig(_Strict):
    address: str
    token: str = ""


def map_deprecated(data: Any) -> Any:
    """Zadig before 3.3.0 kept flat fields; Zadig maps them at send time, we at load time."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    flat_at_all = data.pop("is_at_all", None)
    flat_mobiles = data.pop("at_mobiles", None)
    wechat_ids = data.pop("wechat_user_ids", None)
    lark_ids = data.pop("lark_user_ids", None)
    lark_at_users = data.pop("lark_at_users", None)
    mapping = {
        "dingding_webhook": ("dingding_notification_config", {"at_mobiles": flat_mobiles}),
        "weChat_webHook": ("wechat_notification_config", {"at_users": wechat_ids}),
        "feishu_webhook": ("lark_hook_notification_config", {"at_users": lark_ids}),
    }
    for old, (new, extra) in mapping.items():
        address = data.pop(old, None)
        if address and not data.get(new):
            sub = {"hook_address": address, "is_at_all": bool(flat_at_all)}
            sub.update({k: v for k, v in extra.items() if v})
            data[new] = sub
    if lark_at_users and isinstance(data.get("lark_hook_notification_config"), dict):
        hook = data["lark_hook_notification_config"]
        if not hook.get("at_users"):
            hook["at_users"] = [u.get("id") if isinstance(u, dict) else u for u in lark_at_users]
    notify = data.pop("webhook_notify", None)
    if (
        isinstance(notify, dict)
        and notify.get("address")
        and not data.get("webhook_notification_config")
    ):
        data["webhook_notification_config"] = {
            "address": notify["address"],
            "token": notify.get("token") or "",
        }
    app_id = data.pop("feishu_app_id", None)
    chat = data.pop("feishu_chat", None)
    if (app_id or chat) and not data.get("lark_group_notification_config"):
        data["lark_group_notification_config"] = {"app_id": app_id or "", "chat": chat or {}}
    mail_users = data.pop("mail_users", None)
    if mail_users and not data.get("mail_notification_config"):
        data["mail_notification_config"] = {"target_users": mail_users}
    return data


class NotifyCtl(BaseModel):
    """One notification rule: when (notify_type) and where (webhook_type and its sub-config)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    webhook_type: str
    notify_type: list[str] = Field(default_factory=list)
    dingding_notification_config: DingdingConfig | None = None
    wechat_notification_config: WechatConfig | None = None
    lark_hook_notification_config: LarkHookConfig | None = None
    webhook_notification_config: WebhookConfig | None = None
    # Parsed in the next release (Feishu app, email, Teams); kept as given until then.
    lark_group_notification_config: dict[str, Any] | None = None
    lark_person_notification_config: dict[str, Any] | None = None
    mail_notification_config: dict[str, Any] | None = None
    msteams_notification_config: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _map_deprecated(cls, data: Any) -> Any:
        return map_deprecated(data)

    @field_validator("notify_type", mode="before")
    @classmethod
    def _statuses(cls, value: Any) -> Any:
        return _id_list(value) if isinstance(value, str) else value

    def sub_config(self) -> Any:
        return getattr(self, SUB_CONFIG_OF.get(self.webhook_type, ""), None)


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


class System(_Strict):
    address: str = ""
    language: Literal["zh-cn", "en-us"] = "zh-cn"
    database_url: str = ""  # else $TIDINGS_DATABASE_URL, else a SQLite file (docs)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)

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


class Config(_Strict):
    system: System = Field(default_factory=System)
    users: list[User] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    workflows: list[WorkflowConfig] = Field(default_factory=list)

    # Set by load(): where the file came from and the problems that do not stop it from working.
    _source: str = PrivateAttr(default="")
    _warnings: list[Problem] = PrivateAttr(default_factory=list)

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

    def secrets(self) -> list[str]:
        """Every secret value in the configuration, for redaction of all output."""
        from tidings.redact import url_secrets

        found: list[str] = url_secrets(self.system.database_url)
        for workflow in self.workflows:
            for ctl in workflow.notify_ctls:
                found.extend(ctl_secrets(ctl))
        return found


def ctl_secrets(ctl: NotifyCtl) -> list[str]:
    from tidings.redact import url_secrets

    found: list[str] = []
    for sub in (
        ctl.dingding_notification_config,
        ctl.wechat_notification_config,
        ctl.lark_hook_notification_config,
    ):
        if sub is not None:
            found.extend(url_secrets(sub.hook_address))
            if getattr(sub, "secret", None):
                found.append(sub.secret)
    if ctl.webhook_notification_config is not None:
        found.extend(url_secrets(ctl.webhook_notification_config.address))
        if ctl.webhook_notification_config.token:
            found.append(ctl.webhook_notification_config.token)
    return found


# --- loading -------------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(data: Any, path: Path, problems: list[Problem], environ: dict[str, str]) -> Any:
    """Replace ${NAME} in every string with the environment variable; $$ is a literal $."""
    if isinstance(data, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "$"
            if name not in environ:
                problems.append(
                    Problem(
                        format_path(path),
                        f"environment variable {name} is not set; export it or write the value",
                    )
                )
                return ""
            return environ[name]

        return _ENV_REF.sub(replace, data)
    if isinstance(data, dict):
        return {k: expand_env(v, (*path, str(k)), problems, environ) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, (*path, i), problems, environ) for i, v in enumerate(data)]
    return data


def _pydantic_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown field; check its spelling against docs/configuration.md"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}; got {error.get('input')!r}"
    msg = str(error.get("msg", "invalid value"))
    return msg[0].lower() + msg[1:] if msg else msg


def _is_http_url(value: str) -> bool:
    return bool(re.match(r"^https?://[^\s/]+", value or ""))


def _ctl_problems(data: dict[str, Any]) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Checks of each notify_ctl that pydantic cannot express (type, statuses, sub-config, URL).

    Run on the raw data, so they are reported together with pydantic's own errors.
    """
    errors: list[tuple[Path, str]] = []
    warnings: list[tuple[Path, str]] = []
    workflows = data.get("workflows")
    for wi, workflow in enumerate(workflows if isinstance(workflows, list) else []):
        ctls = workflow.get("notify_ctls") if isinstance(workflow, dict) else None
        for ci, raw in enumerate(ctls if isinstance(ctls, list) else []):
            if not isinstance(raw, dict):
                continue
            ctl = map_deprecated(raw)
            at: Path = ("workflows", wi, "notify_ctls", ci)
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
            if ctl.get("enabled", True) and not statuses:
                warnings.append(((*at, "notify_type"), "empty: this notification never fires"))
            sub_name = SUB_CONFIG_OF[kind]
            sub = ctl.get(sub_name)
            if kind in PLANNED_TYPES:
                warnings.append(
                    (
                        (*at, "webhook_type"),
                        f"webhook_type {kind!r} is not supported yet by this version of "
                        "tidings; this notification will be skipped",
                    )
                )
                continue
            if not sub:
                errors.append(((*at, sub_name), f"field required for webhook_type {kind}"))
                continue
            field = "address" if kind == "webhook" else "hook_address"
            address = sub.get(field) if isinstance(sub, dict) else None
            if isinstance(address, str) and not _is_http_url(address):
                errors.append(((*at, sub_name, field), "must be an http:// or https:// URL"))
    return errors, warnings


def _reference_problems(config: Config) -> list[tuple[Path, str]]:
    """Checks across entries: group members are users, workflow names are unique."""
    errors: list[tuple[Path, str]] = []
    user_ids = {u.id for u in config.users}
    for gi, group in enumerate(config.groups):
        for mi, member in enumerate(group.members):
            if member not in user_ids:
                errors.append(
                    (("groups", gi, "members", mi), f"unknown user {member!r}; add it under users:")
                )
    seen: set[str] = set()
    for wi, workflow in enumerate(config.workflows):
        if workflow.name in seen:
            errors.append((("workflows", wi, "name"), f"duplicate workflow name {workflow.name!r}"))
        seen.add(workflow.name)
    return errors


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

    def add(path: Path, message: str) -> None:
        problem = Problem(format_path(path), message, line_of(lines, path))
        if problem not in problems:
            problems.append(problem)

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            add(tuple(error["loc"]), _pydantic_message(error))
        config = None
    for path, message in errors:
        add(path, message)
    if config is not None:
        for path, message in _reference_problems(config):
            add(path, message)
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
