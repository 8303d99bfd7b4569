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


_SECRET_HEADERS = ("x-zadig-token", "authorization")


def _mask_header(value: str) -> str:
    """`Bearer t-abc` -> `Bearer ***`: the scheme says what is sent, the token is masked."""
    scheme, _, rest = value.partition(" ")
    return f"{scheme} {MASK}" if rest and scheme.isalpha() else MASK


def redact_call(call: dict, out: Output, *, mask_url: bool = True) -> dict:
    """A prepared call (transport.describe_call) with its URL, tokens and signature masked."""
    headers = {
        k: (_mask_header(v) if k.lower() in _SECRET_HEADERS else v)
        for k, v in call["headers"].items()
    }
    body = call["body"]
    if isinstance(body, dict) and "sign" in body:
        body = {**body, "sign": MASK}
    url = redact_url(call["url"]) if mask_url else call["url"]
    return {**call, "url": url, "headers": headers, "body": body}


def prepared_calls(plan: Plan, out: Output) -> list[dict]:
    """Every request of a plan as it would go on the wire now, redacted, with its origin.

    A channel with its own protocol shows its calls through its `preview` hook (Feishu
    apps: the token request, the id lookup, the message; mail: the SMTP session); a token
    request is shown once per app, as it is made once.
    """
    from tidings import channels

    destinations = plan.destinations()
    calls = []
    shown_tokens: set[str] = set()
    now = time.time()
    for request in plan.requests():
        destination = destinations[request.destination]
        hook = getattr(channels.get(request.channel), "preview", None)
        # The id a delivery will get when recorded; shown as a placeholder.
        if hook is None:
            rows = [describe_call(prepare(request, destination, "<delivery id>", now))]
        else:
            rows = hook(request, destination, "<delivery id>", now)
        for row in rows:
            label = row.pop("label", request.label)
            if label == "tenant_access_token":
                seen = json.dumps([row["url"], row["body"]], sort_keys=True)
                if seen in shown_tokens:
                    continue
                shown_tokens.add(seen)
            calls.append(
                {
                    "channel": request.channel,
                    "destination": request.destination,
                    "label": label,
                    **redact_call(row, out, mask_url=hook is None),
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
        body = call["body"]
        out.out(body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, indent=2))
        out.out()
