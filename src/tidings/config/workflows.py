"""Workflow definitions in the configuration: Zadig's v4 shape (stages of jobs), typed.

A job's `spec` is kept raw on the job and validated by the model of its type, so a problem is
reported with its full YAML path (config.checks) and the engine gets a typed spec (`job.typed`).
"""

from __future__ import annotations

import re
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

from tidings import channels
from tidings.config.notify_ctl import NotifyCtl
from tidings.people import Target

JOB_TYPES = (
    "freestyle",
    "zadig-build",
    "zadig-deploy",
    "zadig-test",
    "notification",
    "approval",
)
SCRIPT_TYPES = ("freestyle", "zadig-build", "zadig-deploy", "zadig-test")
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class Strict(BaseModel):
    """A configuration model: an unknown key is an error (a misspelt key would otherwise
    silently disable something)."""

    model_config = ConfigDict(extra="forbid")


def notification_types() -> tuple[str, ...]:
    """What a notification job sends to: every channel with a message of its own (a note)."""
    return tuple(kind for kind in channels.supported() if channels.get(kind).render_note)


def _env_mapping(value: Any) -> Any:
    """`env` as a mapping, or Zadig's list of {key, value}; values become strings."""
    if isinstance(value, list):
        out = {}
        for item in value:
            if not isinstance(item, dict) or "key" not in item:
                return value  # pydantic reports it
            out[str(item["key"])] = item.get("value", "")
        value = out
    if isinstance(value, dict):
        return {
            str(k): "" if v is None else str(v) if not isinstance(v, str) else v
            for k, v in value.items()
        }
    return value


class ScriptSpec(Strict):
    """A bash script run in the task's workspace; `env` adds variables."""

    script: str
    env: dict[str, str] = Field(default_factory=dict)

    _env = field_validator("env", mode="before")(_env_mapping)


class RepositorySpec(Strict):
    """What 代码信息 shows: Zadig's repository fields."""

    source: str = ""
    repo_owner: str = ""
    repo_namespace: str = ""
    repo_name: str = ""
    branch: str = ""
    tag: str = ""
    prs: list[int] | None = None
    commit_id: str = ""
    commit_url: str = ""
    commit_message: str = ""
    author_name: str | None = None
    address: str = ""  # the code host, e.g. https://github.com (links to the commit)


class BuildSpec(ScriptSpec):
    repositories: list[RepositorySpec] = Field(default_factory=list)
    image: str = ""  # an IMAGE output of the script overrides it


class ServiceModuleSpec(Strict):
    service_module: str
    image: str = ""


class DeploySpec(ScriptSpec):
    env_name: str = ""  # the environment (Zadig's spec.env); shown as 环境
    service_name: str = ""
    service_modules: list[ServiceModuleSpec] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _zadig_env(cls, data: Any) -> Any:
        # Zadig writes the environment name as `env: dev`: accept that shape too.
        if isinstance(data, dict) and isinstance(data.get("env"), str):
            name = data["env"]
            data = {k: v for k, v in data.items() if k != "env"}
            data["env_name"] = data.get("env_name") or name
        return data


class TestSpec(ScriptSpec):
    junit_path: str = ""  # a JUnit XML report, relative to the workspace: 测试结果


class NotificationSpec(BaseModel):
    """Zadig's notification job (NotificationJobSpec): one message, title and content with
    {{.variables}}, to the destination its webhook_type's settings name
    (`dingding_notification_config`, ..., or Zadig's deprecated flat fields, `is_at_all` and
    `lark_at_users` among them; kept as extra fields and checked as a notify_ctl's)."""

    model_config = ConfigDict(extra="allow")

    source: str = ""  # Zadig's "runtime" marker; ignored
    webhook_type: str
    title: str = ""
    content: str = ""

    @field_validator("title", "content", "source", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    def ctl(self) -> NotifyCtl:
        """The destination as a notify_ctl (same settings models, deprecated fields, checks)."""
        return NotifyCtl.parse({"webhook_type": self.webhook_type, **(self.model_extra or {})})


class ApprovalSpec(Strict):
    """Who may approve: configured users and groups; how many approvals are needed."""

    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    needed_approvals: int = Field(default=1, ge=1)
    message: str = ""  # shown to approvers in `tidings tasks` / logs


SPEC_MODELS: dict[str, type[BaseModel]] = {
    "freestyle": ScriptSpec,
    "zadig-build": BuildSpec,
    "zadig-deploy": DeploySpec,
    "zadig-test": TestSpec,
    "notification": NotificationSpec,
    "approval": ApprovalSpec,
}


class JobDef(Strict):
    name: str
    display_name: str = ""
    type: Literal[
        "freestyle", "zadig-build", "zadig-deploy", "zadig-test", "notification", "approval"
    ]
    spec: dict[str, Any] = Field(default_factory=dict)
    timeout: float | None = Field(default=None, gt=0)  # seconds
    notify_ctls: list[NotifyCtl] = Field(default_factory=list)

    _typed: Any = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not JOB_NAME.match(value):
            raise ValueError(
                "a job name is letters, digits, - and _, starting with a letter or digit"
            )
        return value

    def model_post_init(self, _context: Any) -> None:
        try:
            self._typed = SPEC_MODELS[self.type].model_validate(self.spec)
        except ValidationError:
            self._typed = None  # config.py reports the problems with their paths

    @property
    def typed(self) -> Any:
        return self._typed

    @property
    def shown_name(self) -> str:
        return self.display_name or self.name


class ManualExec(Strict):
    """Zadig's manual execution: the workflow pauses before the stage until one of these
    users runs it (`tidings run-stage`)."""

    enabled: bool = False
    manual_exec_users: list[Target] = Field(default_factory=list)  # user, group, creator
    modify_params: bool = False  # accepted for compatibility; tidings has no stage params


class StageDef(Strict):
    name: str
    parallel: bool = True
    jobs: list[JobDef] = Field(default_factory=list)
    manual_exec: ManualExec | None = None

    @property
    def manual(self) -> ManualExec | None:
        """Its manual execution settings when enabled."""
        return self.manual_exec if self.manual_exec and self.manual_exec.enabled else None
