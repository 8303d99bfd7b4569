"""The state of runs that GitHub and GitLab report event by event (`tidings.sources.runs`
merges it; this module only keeps it).

Events of one run may arrive at the same moment (a job event per parallel job). Each is
merged in one transaction that holds the run's row: on SQLite the write lock taken at BEGIN,
on PostgreSQL the row lock of `SELECT ... FOR UPDATE` (the row is inserted first if it is
new, so two first events wait for each other too). So no event's jobs are lost to another's.
Rows not updated for KEEP seconds are deleted by the next update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from tidings.store.db import Store

T = TypeVar("T")
KEEP = 7 * 86400.0  # a run heard of in the last week is merged; an older one starts anew

_CLAIM = """
INSERT INTO source_runs (run_key, state, updated_at) VALUES (:key, NULL, :now)
ON CONFLICT (run_key) DO NOTHING
"""
_READ = "SELECT state FROM source_runs WHERE run_key = :key"
_WRITE = "UPDATE source_runs SET state = :state::json, updated_at = :now WHERE run_key = :key"
_FORGET = "DELETE FROM source_runs WHERE updated_at < :before"


def update(
    store: Store,
    key: str,
    change: Callable[[dict[str, Any] | None], tuple[dict[str, Any], T]],
    *,
    now: float,
    keep: float = KEEP,
) -> T:
    """Apply `change` to the run's state (None when new) under the run's lock; keep the state
    it returns, and return the rest of its answer."""
    lock = " FOR UPDATE" if store.dialect == "postgresql" else ""
    with store.transaction() as tx:
        tx.run(_FORGET, {"before": now - keep})
        tx.run(_CLAIM, {"key": key, "now": now})
        rows = tx.run(_READ + lock, {"key": key})
        found = rows[0][0] if rows else None
        state = orjson.loads(found) if isinstance(found, str | bytes) else found
        new_state, answer = change(state)
        tx.run(_WRITE, {"key": key, "now": now, "state": orjson.dumps(new_state).decode("utf-8")})
    return answer


def read(store: Store, key: str) -> dict[str, Any] | None:
    """The run's state as kept (None: never heard of, or forgotten)."""
    with store.transaction(write=False) as tx:
        rows = tx.run(_READ, {"key": key})
    found = rows[0][0] if rows else None
    return orjson.loads(found) if isinstance(found, str | bytes) else found
