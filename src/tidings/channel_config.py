"""The models of one notify_ctl: NotifyCtl and each channel's sub-config (Zadig's fields).

Split from config.py (which re-exports every name) so that `tidings notify`, which validates
one ctl, loads only these. They are dataclasses checked by tidings.schema, not pydantic models:
the configuration's pydantic models embed them with the same checks, and `tidings notify`
never imports pydantic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from tidings.schema import Model, before

# Every webhook_type of Zadig is sent by this version.
SUPPORTED_TYPES = (
    "dingding",
    "wechat",
    "feishu",
    "webhook",
    "feishu_app",
    "feishu_person",
    "mail",
    "msteams",
)
WEBHOOK_TYPES = SUPPORTED_TYPES

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


def _id_list(value: Any) -> Any:
    """Zadig's UI takes several ids separated by ';': accept that string as well as a list."""
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[;,]", value) if part.strip()]
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) else v for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return [str(value)]  # one mobile, written as a YAML number
    return value


# A list of ids that may also be given as one "a;b" string.
IDS = before(_id_list)


@dataclass
class DingdingConfig(Model):
    hook_address: str
    at_mobiles: list[str] = field(default_factory=list, metadata=IDS)
    at_user_ids: list[str] = field(default_factory=list, metadata=IDS)
    dynamic_recipients: list[str] = field(default_factory=list)
    is_at_all: bool = False
    secret: str | None = None  # tidings extension: DingTalk 加签


@dataclass
class WechatConfig(Model):
    hook_address: str
    at_users: list[str] = field(default_factory=list, metadata=IDS)
    is_at_all: bool = False


@dataclass
class LarkHookConfig(Model):
    hook_address: str
    app_id: str = ""
    at_users: list[str] = field(default_factory=list, metadata=IDS)
    dynamic_recipients: list[str] = field(default_factory=list)
    is_at_all: bool = False
    secret: str | None = None  # tidings extension: Feishu signature verification


@dataclass
class WebhookConfig(Model):
    address: str
    token: str = ""


# Feishu receive_id_type values a person can be addressed by (specs/platforms.md).
LARK_ID_TYPES = ("open_id", "union_id", "user_id", "email")


def _user_id_type(value: Any) -> Any:
    return value or "user_id"  # Zadig leaves it empty for user_id


@dataclass
class LarkUser(Model):
    """Zadig's lark.UserInfo: a Feishu user by id (of `id_type`), or the task creator."""

    id: str = ""
    id_type: Literal["open_id", "union_id", "user_id", "email"] = field(
        default="user_id", metadata=before(_user_id_type)
    )
    name: str = ""
    avatar: str = ""
    is_executor: bool = False  # the task creator, resolved by phone or email at send time
    is_stage_executor: bool = False  # accepted for compatibility; tidings runs no stages


@dataclass
class LarkChat(Model):
    chat_id: str
    chat_name: str = ""


@dataclass
class LarkGroupConfig(Model):
    """Feishu app message to a group chat (飞书群组通知 via 自建应用)."""

    app_id: str  # the id of a system.im_apps entry
    chat: LarkChat
    at_users: list[LarkUser] = field(default_factory=list)
    dynamic_recipients: list[str] = field(default_factory=list)
    is_at_all: bool = False


@dataclass
class LarkPersonConfig(Model):
    """Feishu app message to each person (飞书成员通知)."""

    app_id: str
    target_users: list[LarkUser] = field(default_factory=list)
    dynamic_recipients: list[str] = field(default_factory=list)


MAIL_TARGET_TYPES = ("user", "group", "task_creator", "stage_executor", "email")


@dataclass
class MailTarget(Model):
    """Zadig's User: a configured user, a group, the task creator, or a raw address."""

    type: Literal["user", "group", "task_creator", "stage_executor", "email"] = "user"
    user_id: str = ""
    user_name: str = ""  # for type email: the address itself
    group_id: str = ""
    group_name: str = ""


@dataclass
class MailConfig(Model):
    target_users: list[MailTarget] = field(default_factory=list)
    dynamic_recipients: list[str] = field(default_factory=list)


@dataclass
class MsTeamsConfig(Model):
    hook_address: str
    at_emails: list[str] = field(default_factory=list, metadata=IDS)
    dynamic_recipients: list[str] = field(default_factory=list)


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


def _statuses(value: Any) -> Any:
    return _id_list(value) if isinstance(value, str) else value


@dataclass(kw_only=True)
class NotifyCtl(Model):
    """One notification rule: when (notify_type) and where (webhook_type and its sub-config)."""

    enabled: bool = True
    webhook_type: str
    notify_type: list[str] = field(default_factory=list, metadata=before(_statuses))
    dingding_notification_config: DingdingConfig | None = None
    wechat_notification_config: WechatConfig | None = None
    lark_hook_notification_config: LarkHookConfig | None = None
    webhook_notification_config: WebhookConfig | None = None
    lark_group_notification_config: LarkGroupConfig | None = None
    lark_person_notification_config: LarkPersonConfig | None = None
    mail_notification_config: MailConfig | None = None
    msteams_notification_config: MsTeamsConfig | None = None
    # tidings extensions: how its destination is reached (docs/configuration.md).
    proxy: bool = True  # false: directly, never through system.proxy or HTTPS_PROXY
    tls_verify: bool = True  # false: any certificate is accepted (`tidings check` warns)

    @staticmethod
    def _prepare(data: Any) -> Any:
        return map_deprecated(data)

    def sub_config(self) -> Any:
        return getattr(self, SUB_CONFIG_OF.get(self.webhook_type, ""), None)


def ctl_secrets(ctl: NotifyCtl) -> list[str]:
    """The secrets of one ctl (tokens in its URLs, signing secrets, webhook tokens), to mask."""
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
    if ctl.msteams_notification_config is not None:
        found.extend(url_secrets(ctl.msteams_notification_config.hook_address))
    return found
