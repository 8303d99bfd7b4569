"""Ad-hoc notifications (`tidings notify`, the API's /notify): validating their one channel.

Only channels that a single address (and secret) describes can be sent ad hoc; the others
need system settings (im_apps, smtp) and are configured as notify_ctls.
"""

from __future__ import annotations

from typing import Any

from tidings import channels
from tidings.config.notify_ctl import NotifyCtl
from tidings.errors import InputError, Problem
from tidings.schema import Invalid, Path

FLAG_OF = {
    "hook_address": "--hook-address",
    "address": "--hook-address",
    "secret": "--secret",
    "token": "--token",
}


def ad_hoc_types() -> tuple[str, ...]:
    """The channels an ad-hoc message can go to: one address (and secret) describes them."""
    found = []
    for kind in channels.supported():
        channel = channels.get(kind)
        if channel.render_note is not None and not channel.needs_system:
            found.append(kind)
    return tuple(found)


def not_ad_hoc(kind: str) -> str:
    """Why a configured channel cannot be sent to ad hoc."""
    return (
        f"webhook_type {kind!r} needs system settings (system.im_apps or system.smtp): "
        f"configure it as a notify_ctl; ad-hoc notify sends to {', '.join(ad_hoc_types())}"
    )


def validate_ctl(
    ctl_data: dict[str, Any],
    where: str,
    lines: dict[Path, int] | None = None,
    flags: bool = False,
) -> NotifyCtl:
    """The ctl of an ad-hoc notification, or an InputError naming each bad field (as a
    command-line flag when `flags`, else as its path in the spec)."""
    kind = ctl_data.get("webhook_type")
    if isinstance(kind, str) and kind in channels.supported() and kind not in ad_hoc_types():
        raise InputError(f"{where}: {not_ad_hoc(kind)}")
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
    return ctl
