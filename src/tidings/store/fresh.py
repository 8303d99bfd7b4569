"""A new SQLite database in one transaction, from the schema all migrations together make.

Opening a database that does not exist yet ran Alembic, which imports SQLAlchemy, Alembic and
Mako: about half a second on every first `tidings notify`, and in a CI job's fresh container
every one is the first. A new, empty SQLite file now gets `schema_sqlite.sql` instead: the
newest migration's schema as SQLite stores it. Existing databases and PostgreSQL still
migrate with Alembic. tests/test_store.py checks the script against the migrations; after a
new migration, `python -m tidings.store.fresh` writes it again.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidings.store.db import Store

SCRIPT = Path(__file__).with_name("schema_sqlite.sql")
_HEADER = "-- tidings schema at revision "
_SEPARATOR = "\n;\n"


def script() -> tuple[str, list[str]]:
    """(the revision it is at, its statements)."""
    text = SCRIPT.read_text(encoding="utf-8")
    first, _, body = text.partition("\n")
    return first.removeprefix(_HEADER).strip(), [
        s.strip() for s in body.split(_SEPARATOR) if s.strip()
    ]


def create_if_empty(store: Store, head: str) -> bool:
    """Create the schema at `head` if the database holds nothing yet; False if it holds
    something (or the script is not at `head`): then Alembic decides."""
    revision, statements = script()
    if revision != head:
        return False
    with store.transaction(write=True) as tx:
        # Checked under the write lock: of two processes creating one file, one does it.
        if tx.value("SELECT count(*) FROM sqlite_master"):
            return False
        for statement in statements:
            tx.run(statement)
        tx.run("INSERT INTO alembic_version (version_num) VALUES (:head)", {"head": head})
    return True


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
    from tidings.store.db import HEAD, Store

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/schema.db"
        store = Store(f"sqlite:///{path}")
        store.upgrade()
        store.close()
        statements = dump(path)
    SCRIPT.write_text(f"{_HEADER}{HEAD}\n" + _SEPARATOR.join(statements) + "\n", "utf-8")
    print(f"wrote {SCRIPT} ({len(statements)} statements, revision {HEAD})", file=sys.stderr)


if __name__ == "__main__":
    main()
