"""`tidings deliveries`, `tidings deliveries show`, `tidings retry`, `tidings db upgrade`."""

from __future__ import annotations

import json
import time
from datetime import tzinfo

from tidings.commands.common import load_config, open_store
from tidings.commands.output import Output, when
from tidings.config.models import Config
from tidings.delivery.ids import short
from tidings.errors import InputError
from tidings.store.db import Store


def _maybe_config(config_path: str | None, out: Output) -> Config | None:
    """History commands need the database only; a configuration names it when given."""
    from tidings.config.loading import resolve_path

    path = resolve_path(config_path)
    import os

    if config_path is None and not os.path.exists(path):
        return None
    return load_config(config_path, out)


def list_command(
    config_path: str | None,
    status: str | None,
    task: int | None,
    workflow: str | None,
    limit: int,
    as_json: bool,
) -> int:
    from tidings.sending.history import list_deliveries

    out = Output()
    config = _maybe_config(config_path, out)
    store = open_store(config)
    rows = list_deliveries(store, status=status, task_id=task, workflow=workflow, limit=limit)
    tz = config.system.tz if config else None
    if as_json:
        out.json(rows)
        return 0
    if not rows:
        out.err(f"no deliveries in {store.display}" + (f" with status {status}" if status else ""))
        return 0
    lines = []
    now = time.time()
    for row in rows:
        task_text = f"{row['workflow']}#{row['task_id']}" if row["workflow"] else row["kind"]
        problem = "" if row["status"] in ("sent", "pending") else f"  {row['last_error'] or ''}"
        if row["digest_id"]:
            problem = f"  in digest {short(row['digest_id'])}"
        if row["status"] == "pending" and (row["paused_until"] or 0) > now:
            # Its destination's circuit breaker paused it: say until when, and why.
            problem = (
                f"  destination paused until {when(row['paused_until'], tz)}: "
                f"{row['paused_reason'] or ''}"
            )
        lines.append(
            [
                short(row["id"]),
                when(row["created_at"], tz),
                row["status"],
                f"{row['attempts']}x",
                row["channel"],
                task_text,
                row["source"] or "-",
                f"{row['address']} [{row['label']}]{problem}",
            ]
        )
    colour = {"sent": "green", "failed": "red", "dead": "red", "coalesced": "green"}
    out.table(lines, [colour.get(row["status"]) for row in rows])
    _say_paused(store, out, tz, now)
    return 0


def _say_paused(store: Store, out: Output, tz: tzinfo | None, now: float) -> None:
    """On stderr, each destination its circuit breaker paused (#20.7): nothing is sent to it
    until the time shown; then one delivery tries it, and a success resumes it."""
    from tidings.store.browse import paused

    for row in paused(store, now):
        out.err(
            f"paused: {row['channel']} {row['address']} until {when(row['paused_until'], tz)} "
            f"({row['pending']} pending) after {row['failures']} failures in a row "
            f"(pause {row['pauses']}): {row['paused_reason'] or ''}",
            fg="yellow",
        )


def show_command(config_path: str | None, delivery_id: str, as_json: bool) -> int:
    from tidings.sending.history import find, show

    out = Output()
    config = _maybe_config(config_path, out)
    store = open_store(config)
    data = show(store, find(store, delivery_id))
    tz = config.system.tz if config else None
    if as_json:
        out.json(data)
        return 0
    out.out(f"delivery {data['id']}", bold=True)
    task_text = f"{data['workflow']} #{data['task_id']} {data['event_status']}"
    out.out(f"  event:       {task_text if data['workflow'] else data['kind']}")
    out.out(f"  status:      {data['status']} after {data['attempts']} attempt(s)")
    out.out(f"  channel:     {data['channel']} [{data['label']}]")
    out.out(f"  from:        {data['source'] or '-'}")
    out.out(f"  destination: {data['address']}  ({data['destination']})")
    created, finished = when(data["created_at"], tz), when(data["finished_at"], tz)
    out.out(f"  created:     {created}   finished: {finished}")
    if data["status"] == "pending":
        out.out(
            f"  next try:    {when(data['next_attempt_at'], tz)}   "
            f"gives up: {when(data['expires_at'], tz)}"
        )
    if data["last_error"]:
        out.out(f"  last error:  {data['last_error']}")
    if data["digest_id"]:
        digest = short(data["digest_id"])
        out.out(f"  merged into: digest {digest} (`tidings deliveries show {digest}`)")
    if data["carries"]:
        events = len({row["event_id"] for row in data["carries"]})
        out.out(f"  carries:     {events} event(s), merged into this digest:")
        for row in data["carries"]:
            shown = f"{row['workflow']} #{row['task_id']} {row['event_status']}"
            out.out(f"    {short(row['id'])}  {shown}  {row['source'] or '-'}")
    for reason in data["skipped"]:
        out.out(f"  skipped:     {reason}")
    out.out("  attempts:")
    for attempt in data["attempts_log"]:
        http = f"HTTP {attempt['http_status']}" if attempt["http_status"] else "no answer"
        code = f" code {attempt['code']}" if attempt["code"] is not None else ""
        out.out(
            f"    {when(attempt['at'], tz)}  {attempt['outcome']:<5}  {http}{code}  "
            f"{attempt['duration_ms']:.0f} ms  {attempt['detail']}"
        )
    request = data["request"]
    out.out("  request (as stored: no secrets; signed and completed when sent):")
    out.out(f"    {request['method']} {data['address']}")
    for name, value in request["headers"].items():
        out.out(f"    {name}: {value}")
    out.out(
        "    " + json.dumps(request["body"], ensure_ascii=False, indent=2).replace("\n", "\n    ")
    )
    return 0


def retry_command(
    config_path: str | None,
    ids: tuple[str, ...],
    dead: bool,
    replan: bool,
    deadline: float,
    wait: bool,
    as_json: bool,
) -> int:
    from tidings.commands.send import deliver, describe_final, interrupted
    from tidings.delivery.outbox import Enqueued
    from tidings.delivery.resolve import Resolver, Unresolved
    from tidings.sending.history import find, requeue

    if not ids and not dead:
        raise InputError("give delivery ids to retry, or --dead for every dead delivery")
    out = Output()
    config = load_config(config_path, out)
    store = open_store(config)
    full = [find(store, i) for i in ids]
    max_age = deadline if wait else config.system.delivery.max_age
    resolver = Resolver(config)
    if replan:
        queued = _replan(store, config, full, dead, max_age, out)
    else:
        queued, left = requeue(
            store,
            full,
            dead=dead,
            max_age=max_age,
            can_send=lambda key: not isinstance(resolver(key), Unresolved),
        )
        for item in left:
            out.err(f"not retried: {item.explain(f'`tidings retry {short(item.id)} --replan`')}")
        if left and not queued:
            if as_json:
                out.json([])
            return 1
    if not queued:
        if as_json:
            out.json([])
        else:
            out.err(
                "nothing to send"
                if replan
                else "nothing to retry: only failed or dead deliveries are retried"
            )
        return 0
    out.err(f"queued {'after re-planning' if replan else 'again'}: {len(queued)} deliveries")
    if not wait:
        if as_json:
            out.json([{"delivery_id": i, "outcome": "pending"} for i in queued])
        return 0
    try:
        outcome = deliver(store, config, Enqueued("", queued), deadline, as_json, out)
    except KeyboardInterrupt:
        return interrupted(store, config, queued, False, out)
    if as_json:
        out.json([describe_final(f) for f in outcome.finals])
    return 1 if outcome.failed else 0


def _replan(
    store: Store, config: Config, ids: list[str], dead: bool, max_age: float, out: Output
) -> list[str]:
    """New deliveries of these deliveries' events, to where today's configuration sends them."""
    from tidings.sending.history import dead_ids
    from tidings.sending.replan import replan

    if dead and not ids:
        ids = dead_ids(store)
    if not ids:
        return []
    done = replan(store, config, ids, now=time.time(), expires_in=max_age)
    for note in done.notes:
        out.err(f"not re-planned: {note}")
    return done.delivery_ids


def db_upgrade(config_path: str | None) -> int:
    from tidings.store.db import HEAD

    out = Output()
    config = _maybe_config(config_path, out)
    started = time.perf_counter()
    store = open_store(config)
    out.out(
        f"{store.display}: schema at revision {store.version()} (newest {HEAD}) "
        f"in {time.perf_counter() - started:.2f} s"
    )
    return 0
