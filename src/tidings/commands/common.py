"""Helpers shared by commands: loading the config with its secrets registered for redaction."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tidings.commands.output import Output

if TYPE_CHECKING:  # types only: `tidings notify` never loads the configuration models
    from tidings.config.models import Config
    from tidings.store.db import Store


def load_config(config_path: str | None, out: Output) -> Config:
    from tidings.config.loading import load

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


def print_calls(calls: list[dict], out: Output) -> None:
    for index, call in enumerate(calls, 1):
        out.out(
            f"# {index}/{len(calls)} {call['channel']} {call.get('source') or call['destination']}"
            f" ({call['label']})",
            bold=True,
        )
        out.out(f"{call['method']} {call['url']}")
        for name, value in call["headers"].items():
            out.out(f"{name}: {value}")
        out.out()
        body = call["body"]
        out.out(body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, indent=2))
        out.out()
