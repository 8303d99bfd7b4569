"""Persistence: tasks, events, deliveries, attempts and per-destination state. Every
statement tidings runs is here, in one style: SQL text with `:name` parameters, run through
`Store.transaction()` / `Tx` on the driver itself (sqlite3, psycopg).

    db.py       opening a database, transactions, migrations on open, helpers for SQL text
    outbox.py   recording an event and its deliveries (one transaction), destinations due
    queue.py    what workers claim, read, record and sweep; the queue's depth
    workers.py  each worker's heartbeat (how many share the queue)
    history.py  deliveries listed, shown and put back in the queue; their events (replan)
    tasks.py    task ids and snapshots, the runner's state of a run, approvals
    tables.py   the schema (SQLAlchemy), which the migrations (Alembic) build
    fresh.py    schema_sqlite.sql: the newest schema for a new SQLite file in one step

Functions take and return plain values (str, numbers, dicts of JSON data, small dataclasses
and typed dicts of this package); the layers above prepare rows and interpret results. Where
what a transaction writes depends on what it reads in the same transaction, the caller
passes a function of plain values (`requeue`'s route, `end_runs`' judge). SQL text is built
only from fixed fragments and parameter names: values are always bound parameters.

SQLite (a file, WAL) by default; PostgreSQL to share the work between machines.
"""
