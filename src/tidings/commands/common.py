"""Helpers shared by commands: loading the config with its secrets registered for redaction."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from tidings.config import Config, load
from tidings.delivery.transport import describe_call, prepare
from tidings.dispatch import Plan
from tidings.output import Output
from tidings.redact import MASK, redact_url

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


def redact_call(call: dict, out: Output) -> dict:
    """A prepared call (transport.describe_call) with its URL, tokens and signature masked."""
    headers = {k: (MASK if k.lower() == "x-zadig-token" else v) for k, v in call["headers"].items()}
    body = call["body"]
    if isinstance(body, dict) and "sign" in body:
        body = {**body, "sign": MASK}
    return {**call, "url": redact_url(call["url"]), "headers": headers, "body": body}


def prepared_calls(plan: Plan, out: Output) -> list[dict]:
    """Every request of a plan as it would go on the wire now, redacted, with its origin."""
    destinations = plan.destinations()
    calls = []
    for request in plan.requests():
        # The id a delivery will get when recorded; shown as a placeholder.
        call = prepare(request, destinations[request.destination], "<delivery id>", time.time())
        calls.append(
            {
                "channel": request.channel,
                "destination": request.destination,
                "label": request.label,
                **redact_call(describe_call(call), out),
            }
        )
    return calls


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
        out.out(json.dumps(call["body"], ensure_ascii=False, indent=2))
        out.out()
