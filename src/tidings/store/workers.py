"""The workers working the outbox, by heartbeat: while several are alive, a claim takes a
fair share of what is due (queue.claim), and the console lists them (browse.workers)."""

from __future__ import annotations

from tidings.store.db import Store, Tx

_BEAT = """
INSERT INTO workers (name, started_at, seen_at) VALUES (:name, :now, :now)
ON CONFLICT (name) DO UPDATE SET seen_at = :now
"""

# Rows of workers that died without stopping are removed a day after their last heartbeat.
FORGOTTEN_AFTER = 86400.0


def beat(store: Store, name: str, now: float) -> None:
    """Record that worker `name` is alive at `now`."""
    with store.transaction() as tx:
        tx.run(_BEAT, {"name": name, "now": now})
        tx.run("DELETE FROM workers WHERE seen_at < :old", {"old": now - FORGOTTEN_AFTER})


def leave(store: Store, name: str) -> None:
    """Worker `name` stopped: the others no longer leave it a share."""
    with store.transaction() as tx:
        tx.run("DELETE FROM workers WHERE name = :name", {"name": name})


def counted(tx: Tx, since: float) -> int:
    """How many workers were seen since `since` (their heartbeat), in `tx`."""
    found = tx.value("SELECT count(*) FROM workers WHERE seen_at >= :since", {"since": since})
    return int(found or 0)


def alive(store: Store, since: float) -> int:
    """How many workers were seen since `since` (their heartbeat)."""
    with store.transaction(write=False) as tx:
        return counted(tx, since)
