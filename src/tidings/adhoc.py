"""Ad-hoc notifications (`tidings notify`, the API's /notify): validating their one channel.

Only channels that a single address (and secret) describes can be sent ad hoc; the others
need system settings (im_apps, smtp) and are configured as notify_ctls.
"""

from __future__ import annotations

from typing import Any

# channel_config, not config: validating one ctl loads only the notify_ctl models (no pydantic).
from tidings.channel_config import SUB_CONFIG_OF, NotifyCtl
from tidings.errors import InputError, Problem
from tidings.schema import Invalid

AD_HOC_TYPES = ("dingding", "wechat", "feishu", "msteams", "webhook")
FLAG_OF = {
    "hook_address": "--hook-address",
    "address": "--hook-address",
    "secret": "--secret",
    "token": "--token",
}


def validate_ctl(
    ctl_data: dict[str, Any], where: str, lines: dict | None = None, flags: bool = False
) -> NotifyCtl:
    """The ctl of an ad-hoc notification, or an InputError naming each bad field (as a
    command-line flag when `flags`, else as its path in the spec)."""
    try:
        ctl = NotifyCtl.parse(ctl_data)
    except Invalid as exc:
        from tidings.yamlsrc import format_path, line_of  # imports yaml: only on this error

        problems = []
        for loc, message in exc.problems:
            field = loc[-1] if loc else ""
            name = FLAG_OF.get(str(field)) if flags else format_path(loc)
            message = "required" if message == "field required" else message
            problems.append(
                Problem(name or format_path(loc), message, line_of(lines, loc) if lines else None)
            )
        raise InputError(f"{where}: invalid notification", problems) from None
    if ctl.webhook_type not in AD_HOC_TYPES:
        raise InputError(
            f"{where}: webhook_type {ctl.webhook_type!r} needs system settings (system.im_apps "
            "or system.smtp): configure it as a notify_ctl; ad-hoc notify sends to "
            + ", ".join(AD_HOC_TYPES)
        )
    sub = ctl.sub_config()
    if sub is None:
        name = "--hook-address" if flags else SUB_CONFIG_OF[ctl.webhook_type]
        raise InputError(f"{where}: invalid notification", [Problem(name, "required")])
    address = sub.address if ctl.webhook_type == "webhook" else sub.hook_address
    if not address.startswith(("http://", "https://")):
        name = "--hook-address" if flags else f"{SUB_CONFIG_OF[ctl.webhook_type]}.hook_address"
        raise InputError(
            f"{where}: invalid notification", [Problem(name, "must be an http(s):// URL")]
        )
    return ctl
