"""One notify_ctl (Zadig's NotifyCtl): when it fires (enabled, notify_type) and where to (its
webhook_type's settings, whose model the channel's record declares).

`tidings notify` validates one ctl per run without pydantic: NotifyCtl is parsed here by
tidings.schema, and the configuration's pydantic models embed it through
`__get_pydantic_core_schema__`, which calls the same parse. One definition, one validator.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidings import channels
from tidings.schema import Invalid, Model, Path, before, id_list, unknown_field
from tidings.statuses import STATUSES

if TYPE_CHECKING:
    from tidings.channels.base import Channel, Destination
    from tidings.channels.ports import SystemView

_COMMON = ("enabled", "webhook_type", "notify_type", "proxy", "tls_verify", "coalesce")
# Zadig's NotifyCtl fields before 3.3.0 (models/workflow.go): accepted on every ctl; the
# record of the ctl's own channel says which of them make its settings (Channel.deprecated),
# the others are ignored, as Zadig ignores them.
DEPRECATED = (
    "weChat_webHook",
    "dingding_webhook",
    "feishu_app_id",
    "feishu_webhook",
    "feishu_chat",
    "mail_users",
    "webhook_notify",
    "at_mobiles",
    "wechat_user_ids",
    "lark_user_ids",
    "lark_at_users",
    "is_at_all",
)


def _statuses(value: Any) -> Any:
    return id_list(value) if isinstance(value, str) else value


@dataclass(kw_only=True)
class _Common(Model):
    """The fields every ctl has, whatever its webhook_type."""

    enabled: bool = True
    webhook_type: str
    notify_type: list[str] = field(default_factory=list, metadata=before(_statuses))
    # tidings extensions: how its destination is reached (docs/configuration.md).
    proxy: bool = True  # false: directly, never through system.proxy or HTTPS_PROXY
    tls_verify: bool = True  # false: any certificate is accepted (`tidings check` warns)
    coalesce: bool = True  # false: never merged into a digest, however long the backlog


@dataclass(kw_only=True)
class NotifyCtl:
    """One notification rule: when (notify_type) and where (webhook_type and its settings)."""

    webhook_type: str
    settings: Any  # the model its channel declares (Channel.config_type)
    enabled: bool = True
    notify_type: list[str] = field(default_factory=list)
    proxy: bool = True
    tls_verify: bool = True
    coalesce: bool = True

    def sub_config(self) -> Any:
        return self.settings

    @property
    def channel(self) -> Channel[Any]:
        return channels.get(self.webhook_type)

    @property
    def config_key(self) -> str:
        """The field its settings are written under, e.g. dingding_notification_config."""
        return self.channel.config_key

    def destination(self, system: SystemView | None) -> Destination:
        """What it addresses, with today's secrets and how it is reached (proxy, TLS)."""
        destination = self.channel.destination(self.settings, system)
        if self.proxy and self.tls_verify:
            return destination
        return dataclasses.replace(destination, proxy=self.proxy, tls_verify=self.tls_verify)

    def secrets(self) -> list[str]:
        """Tokens in its URLs, signing secrets, webhook tokens: to mask in all output."""
        return self.channel.secrets(self.settings)

    def to_data(self) -> dict[str, Any]:
        """The ctl as Zadig writes it."""
        data = {
            "enabled": self.enabled,
            "webhook_type": self.webhook_type,
            "notify_type": list(self.notify_type),
            self.config_key: dataclasses.asdict(self.settings),
        }
        flags = ("proxy", "tls_verify", "coalesce")
        data.update({k: False for k in flags if not getattr(self, k)})
        return data

    @classmethod
    def parse(cls, data: Any) -> NotifyCtl:
        """A ctl from parsed YAML/JSON, or Invalid listing every problem with its path."""
        problems: list[tuple[Path, str]] = []
        ctl = _parse(data, problems)
        if problems or ctl is None:
            raise Invalid(problems or [((), "invalid")])
        return ctl

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: Any) -> Any:
        # Called only when a pydantic model embeds a ctl: pydantic is imported by then.
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda ctl: ctl.to_data() if isinstance(ctl, NotifyCtl) else ctl
            ),
        )


def _parse(data: Any, problems: list[tuple[Path, str]]) -> NotifyCtl | None:
    if not isinstance(data, dict):
        problems.append(((), "must be a mapping"))
        return None
    keys = channels.config_keys()
    known = (*_COMMON, *DEPRECATED, *keys)
    problems.extend(((k,), unknown_field(k, (*_COMMON, *keys))) for k in data if k not in known)
    try:
        common = _Common.parse({key: data[key] for key in _COMMON if key in data})
    except Invalid as exc:
        problems.extend(exc.problems)
        return None
    kind = common.webhook_type
    if kind not in channels.supported():
        problems.append((("webhook_type",), channels.unknown(kind)))
        return None
    channel = channels.get(kind)
    settings = parse_settings(channel, data, problems)
    if settings is None:
        return None
    for name in channel.url_fields:
        if not _is_http_url(getattr(settings, name)):
            message = "must be an http:// or https:// URL"
            problems.append(((channel.config_key, name), message))
    if channel.needs_system and kind == "mail":
        problems.extend(
            ((name,), "mail is sent through system.smtp: set its ca_file / tls_verify")
            for name in ("proxy", "tls_verify")
            if name in data
        )
    return NotifyCtl(
        webhook_type=kind,
        settings=settings,
        enabled=common.enabled,
        notify_type=common.notify_type,
        proxy=common.proxy,
        tls_verify=common.tls_verify,
        coalesce=common.coalesce,
    )


def unknown_statuses(ctl: NotifyCtl) -> list[tuple[int, str]]:
    """(index, value) of each notify_type entry that is not one of tidings' statuses: Zadig
    does not check them (such an entry never fires); `tidings check` warns."""
    return [(i, status) for i, status in enumerate(ctl.notify_type) if status not in STATUSES]


def parse_settings(
    channel: Channel[Any], data: dict[str, Any], problems: list[tuple[Path, str]]
) -> Any:
    """The settings of `channel` in a ctl or notification job spec: its sub-config, else the
    one Zadig builds from its deprecated (pre-3.3.0) flat fields
    (NotifyCtl.GenerateNewNotifyConfigWithOldData); problems name the fields as written."""
    key = channel.config_key
    raw = data.get(key)
    names: dict[str, str] = {}  # a settings field -> the deprecated field it came from
    if raw is None:
        raw, names = _from_deprecated(channel, data, problems)
        if raw is None:
            return None
    try:
        return channel.config_type.parse(raw)
    except Invalid as exc:
        for path, message in exc.problems:
            head = path[0] if path else None
            if isinstance(head, str) and head in names:
                problems.append(((*names[head].split("."), *path[1:]), message))
            else:
                problems.append(((key, *path), message))
        return None


def _old_value(data: dict[str, Any], name: str) -> Any:
    """A deprecated field's value; `webhook_notify.address` reads inside webhook_notify."""
    value: Any = data
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _from_deprecated(
    channel: Channel[Any], data: dict[str, Any], problems: list[tuple[Path, str]]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The sub-config Zadig builds from the deprecated fields of this channel only, or None
    (and the problem) when those fields do not make one."""
    key, kind = channel.config_key, channel.webhook_type
    old = channel.deprecated
    values = {new: _old_value(data, name) for new, name in old.items()}
    given = [old[new] for new, value in values.items() if value not in (None, "", [], {}, False)]
    missing = [name for name in channel.deprecated_required if not _old_value(data, name)]
    if not old or not given:
        also = ""
        if old:
            fields = " and ".join(channel.deprecated_required) or " or ".join(old.values())
            also = f" (or, as Zadig before 3.3.0 wrote it, {fields})"
        problems.append(((key,), f"field required for webhook_type {kind}{also}"))
        return None, {}
    if missing:
        for name in missing:
            problems.append(
                (
                    tuple(name.split(".")),
                    f"empty, but {', '.join(given)} {'is' if len(given) == 1 else 'are'} set: "
                    f"Zadig before 3.3.0 built {key} from them and {name}; give {name}, "
                    f"or write {key} instead",
                )
            )
        return None, {}
    sub = {new: value for new, value in values.items() if value is not None}
    return sub, {new: old[new] for new in sub}


def _is_http_url(value: str) -> bool:
    return bool(re.match(r"^https?://[^\s/]+", value or ""))
