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
from tidings.schema import UNKNOWN_FIELD, Invalid, Model, Path, before, id_list
from tidings.statuses import STATUSES

if TYPE_CHECKING:
    from tidings.channels.base import Channel, Destination
    from tidings.channels.ports import SystemView

_COMMON = ("enabled", "webhook_type", "notify_type", "proxy", "tls_verify")


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


@dataclass(kw_only=True)
class NotifyCtl:
    """One notification rule: when (notify_type) and where (webhook_type and its settings)."""

    webhook_type: str
    settings: Any  # the model its channel declares (Channel.config_type)
    enabled: bool = True
    notify_type: list[str] = field(default_factory=list)
    proxy: bool = True
    tls_verify: bool = True

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
        data.update({k: False for k in ("proxy", "tls_verify") if not getattr(self, k)})
        return data

    @classmethod
    def parse(cls, data: Any) -> NotifyCtl:
        """A ctl from parsed YAML/JSON, or Invalid listing every problem with its path."""
        problems: list[tuple[Path, str]] = []
        ctl = _parse(map_deprecated(data), problems)
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
    problems.extend(((k,), UNKNOWN_FIELD) for k in data if k not in _COMMON and k not in keys)
    try:
        common = _Common.parse({key: data[key] for key in _COMMON if key in data})
    except Invalid as exc:
        problems.extend(exc.problems)
        return None
    kind = common.webhook_type
    if kind not in channels.supported():
        message = f"unknown webhook_type {kind!r}; one of {', '.join(channels.supported())}"
        problems.append((("webhook_type",), message))
        return None
    for index, status in enumerate(common.notify_type):
        if status not in STATUSES:
            message = f"unknown status {status!r}; one of {', '.join(STATUSES)}"
            problems.append((("notify_type", index), message))
    channel = channels.get(kind)
    raw = data.get(channel.config_key)
    if raw is None:
        problems.append(((channel.config_key,), f"field required for webhook_type {kind}"))
        return None
    try:
        settings = channel.config_type.parse(raw)
    except Invalid as exc:
        problems.extend(((channel.config_key, *path), message) for path, message in exc.problems)
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
    )


def _is_http_url(value: str) -> bool:
    return bool(re.match(r"^https?://[^\s/]+", value or ""))


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
