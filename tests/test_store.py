"""The store's transactions on the driver: commit, rollback, errors that say what failed —
on a SQLite file and on the real PostgreSQL (skipped with a reason when none is reachable)."""

from __future__ import annotations

import pytest

from tidings.store.db import DatabaseError, Store, StoreError, retry_on_conflict

INSERT = "INSERT INTO events (id, kind, created_at) VALUES (:id, 'task', 0)"
COUNT = "SELECT count(*) FROM events"


def check_transactions(store: Store) -> None:
    with store.transaction() as tx:
        tx.run(INSERT, {"id": "a"})
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.run(INSERT, {"id": "b"})
        raise RuntimeError("the caller failed midway")
    with pytest.raises(DatabaseError) as caught, store.transaction() as tx:
        tx.run(INSERT, [{"id": "c"}, {"id": "a"}])  # the second one breaks the primary key
    assert "unique" in str(caught.value).lower()
    with store.transaction(write=False) as tx:  # only the first one is there, and it still works
        assert tx.value(COUNT) == 1
        assert tx.run("SELECT id FROM events") == [("a",)]


def test_sqlite_transactions_commit_or_leave_nothing(tmp_path) -> None:
    check_transactions(Store(f"sqlite:///{tmp_path}/t.db").open())


def test_postgres_transactions_commit_or_leave_nothing(pg_url) -> None:
    store = Store(pg_url).open()
    try:
        check_transactions(store)
        with pytest.raises(DatabaseError) as caught, store.transaction() as tx:
            tx.run(INSERT, {"id": "a"})
        assert caught.value.sqlstate == "23505"  # PostgreSQL's unique_violation
    finally:
        store.close()


def test_conflicts_are_retried_and_other_errors_are_not(tmp_path) -> None:
    class Conflict(Exception):
        sqlstate = "40001"  # serialization failure: the transaction may simply run again

    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise DatabaseError(Conflict("could not serialize access"))
        return "done"

    assert retry_on_conflict(flaky) == "done" and len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise DatabaseError(OSError("disk I/O error"))

    calls.clear()
    with pytest.raises(DatabaseError, match="disk I/O"):
        retry_on_conflict(broken)
    assert len(calls) == 1


def test_an_in_memory_database_is_refused_with_the_reason() -> None:
    for url in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(StoreError, match="in-memory SQLite database cannot hold the outbox"):
            Store(url)


def test_a_new_sqlite_file_gets_the_migrated_schema_in_one_step(tmp_path) -> None:
    """A new file is created from store/schema_sqlite.sql (no Alembic: start-up time); it must
    be exactly what the migrations make."""
    import re

    from tidings.store import fresh
    from tidings.store.db import HEAD, fresh_script

    assert fresh_script()[0] == HEAD, "after a new migration: python -m tidings.store.fresh"
    quick = Store(f"sqlite:///{tmp_path}/quick.db").open()
    migrated = Store(f"sqlite:///{tmp_path}/migrated.db")
    migrated.upgrade()
    assert quick.version() == migrated.version() == HEAD
    quick.close()
    migrated.close()

    def schema(name: str) -> list[str]:
        return [re.sub(r"\s+", " ", sql) for sql in fresh.dump(f"{tmp_path}/{name}")]

    assert schema("quick.db") == schema("migrated.db")
    # A file that already holds something is left to Alembic.
    assert not Store(f"sqlite:///{tmp_path}/quick.db").create_if_empty()


def _open_and_report(path: str, results) -> None:  # a process of the test below
    import sys

    opened = Store(f"sqlite:///{path}").open()
    results.put((opened.version(), "alembic" in sys.modules))
    opened.close()


def test_processes_opening_one_new_file_at_once_create_it_once(tmp_path) -> None:
    import multiprocessing

    from tidings.store import fresh
    from tidings.store.db import HEAD, fresh_script

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    path = f"{tmp_path}/shared.db"
    processes = [context.Process(target=_open_and_report, args=(path, results)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    # Every one sees the newest schema, and none needed the migration machinery for it.
    assert sorted(results.get(timeout=5) for _ in processes) == [(HEAD, False)] * 4
    assert len(fresh.dump(path)) == len(fresh_script()[1])
