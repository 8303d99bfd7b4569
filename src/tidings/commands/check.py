"""`tidings check`: validate the configuration and summarise it."""

from __future__ import annotations

from collections import Counter

from tidings.commands.common import load_config
from tidings.commands.output import Output
from tidings.config.loading import resolve_path
from tidings.errors import InputError

EXIT_INVALID = 2


def run(config_path: str | None, as_json: bool) -> int:
    out = Output()
    try:
        config = load_config(config_path, out)
    except InputError as exc:
        if not as_json:
            raise
        # Machines read stdout: an invalid file is an answer, not a crash on stderr.
        out.json(
            {
                "config": resolve_path(config_path),
                "valid": False,
                "error": exc.message,
                "problems": [p.as_json() for p in exc.problems],
            }
        )
        return EXIT_INVALID
    types = Counter(ctl.webhook_type for w in config.workflows for ctl in w.notify_ctls)
    ctls = sum(types.values())
    if as_json:
        out.json(
            {
                "config": config.source,
                "valid": True,
                "workflows": [w.name for w in config.workflows],
                "notify_ctls": dict(types),
                "users": len(config.users),
                "groups": len(config.groups),
                "warnings": [str(w) for w in config.warnings],
            }
        )
        return 0
    by_type = ", ".join(f"{name} {count}" for name, count in sorted(types.items()))
    out.out(
        f"{config.source}: OK — {len(config.workflows)} workflow(s), {ctls} notify_ctl(s)"
        + (f" ({by_type})" if by_type else "")
        + f", {len(config.users)} user(s), {len(config.groups)} group(s)",
        fg="green",
    )
    for warning in config.warnings:
        out.err(f"warning: {warning}", fg="yellow")
    return 0
