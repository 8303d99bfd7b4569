"""Writing store/schema_sqlite.sql: the schema all migrations together make, as SQLite stores it.

Opening a database that does not exist yet ran Alembic, which imports SQLAlchemy, Alembic and
Mako: about half a second on every first `tidings notify`, and in a CI job's fresh container
every one is the first. A new, empty SQLite file gets this script instead (Store.open);
existing databases and PostgreSQL still migrate with Alembic. tests/test_store.py checks the
script against the migrations; after a new migration, `python -m tidings.store.fresh` writes it
again.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile

from tidings.store.db import FRESH_SCRIPT, FRESH_SEPARATOR, HEAD, Store


def dump(path: str) -> list[str]:
    """The schema statements of a SQLite database, in the order SQLite created them."""
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
        ).fetchall()
    finally:
        connection.close()
    return [row[0] for row in rows]


def main() -> None:
    """Migrate a new database with Alembic and write its schema as the script."""
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/schema.db"
        store = Store(f"sqlite:///{path}")
        store.upgrade()
        store.close()
        statements = dump(path)
    text = f"-- tidings schema at revision {HEAD}\n" + FRESH_SEPARATOR.join(statements) + "\n"
    FRESH_SCRIPT.write_text(text, "utf-8")
    print(f"wrote {FRESH_SCRIPT} ({len(statements)} statements, revision {HEAD})", file=sys.stderr)


if __name__ == "__main__":
    main()
