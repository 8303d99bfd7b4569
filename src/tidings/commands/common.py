"""Helpers shared by commands: loading the config with its secrets registered for redaction."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tidings.config import Config, load
from tidings.dispatch import Plan
from tidings.output import Output

if TYPE_CHECKING:
    from tidings.store.db import Store


def load_config(config_path: str | None, out: Output) -> Config:
    config = load(config_path)
    out.with_secrets(config.secrets())
    return config


def open_store(config: Config | None) -> Store:
    """The database of the configuration (or the environment, or the default SQLite file)."""
    from tidings.store.db import StoreError, open_store

    try:
        return open_store(config.system.database_url if config else None)
    except StoreError as exc:
        raise CommandError(str(exc)) from None


class CommandError(Exception):
    """An environmental failure the user must fix (exit 1), reported without a traceback."""


def redact_call(call: dict, out: Output, *, mask_url: bool = True) -> dict:
    """A prepared call with its URL, tokens and signature masked (tidings.preview)."""
    from tidings import preview

    return preview.redact_call(call, mask_url=mask_url)


def prepared_calls(plan: Plan, out: Output) -> list[dict]:
    """Every request of a plan as it would go on the wire now, redacted (tidings.preview)."""
    from tidings import preview

    return preview.prepared_calls(plan)


def print_calls(calls: list[dict], out: Output) -> None:
    for index, call in enumerate(calls, 1):
        out.out(
            f"# {index}/{len(calls)} {call['channel']} {call['destination']} ({call['label']})",
            bold=True,
        )
        out.out(f"{call['method']} {call['url']}")
        for name, value in call["headers"].items():
            out.out(f"{name}: {value}")
        out.out()
        body = call["body"]
        out.out(body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, indent=2))
        out.out()
