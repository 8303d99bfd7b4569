"""Opening the database: where it is, its SQLite settings, migrations applied on open, and
transactions on the driver itself (`Store.transaction`, `Tx`), which every query runs in.

SQLite (the default) is used through the stdlib `sqlite3` driver, so a one-shot `tidings
notify` never imports SQLAlchemy; SQLAlchemy and Alembic come in for migrations (and the
schema's definition, tables.py), and for PostgreSQL's engine and connection pool, whose
psycopg connections the transactions then use directly.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson

T = TypeVar("T")
Row = tuple[Any, ...]  # a row as the driver returns it

DATABASE_ENV = "TIDINGS_DATABASE_URL"
HOME_ENV = "TIDINGS_HOME"
HEAD = "0009"  # the newest migration in store/migrations/versions
_INVALID_URL = (
    f"invalid database URL (from ${DATABASE_ENV} or system.database_url); "
    "expected e.g. sqlite:////var/lib/tidings/tidings.db or postgresql+psycopg://user@host/db"
)
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # durable across crashes of the process
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
)


# The newest schema as SQLite stores it (store/fresh.py writes it from the migrations).
FRESH_SCRIPT = Path(__file__).with_name("schema_sqlite.sql")
_FRESH_HEADER = "-- tidings schema at revision "
FRESH_SEPARATOR = "\n;\n"


def fresh_script() -> tuple[str, list[str]]:
    """(the revision schema_sqlite.sql is at, its statements)."""
    text = FRESH_SCRIPT.read_text(encoding="utf-8")
    first, _, body = text.partition("\n")
    statements = [s.strip() for s in body.split(FRESH_SEPARATOR) if s.strip()]
    return first.removeprefix(_FRESH_HEADER).strip(), statements


class StoreError(Exception):
    """The database cannot be opened or used; the message says which and why."""


class DatabaseError(Exception):
    """A statement failed in the database (`orig`: the driver's exception; `sqlstate`:
    PostgreSQL's error code, when there is one)."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__(str(orig))
        self.orig = orig
        self.sqlstate: str | None = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)

    @property
    def integrity(self) -> bool:
        """A constraint refused the statement (a unique key taken, ...): PEP 249 names that
        error IntegrityError in every driver (sqlite3, psycopg)."""
        return any(cls.__name__ == "IntegrityError" for cls in type(self.orig).__mro__)


def data_dir() -> Path:
    """$TIDINGS_HOME, else $XDG_DATA_HOME/tidings, else ~/.local/share/tidings."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tidings"


def resolve_url(configured: str | None = None) -> str:
    """$TIDINGS_DATABASE_URL, else system.database_url, else a SQLite file in data_dir()."""
    url = os.environ.get(DATABASE_ENV) or configured
    if url:
        return url
    return f"sqlite:///{data_dir() / 'tidings.db'}"


def _sqlite_settings(engine: Any) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun explicitly below (IMMEDIATE: writers queue instead of failing).
        dbapi_connection.isolation_level = None
        for pragma in _SQLITE_PRAGMAS:
            dbapi_connection.execute(pragma)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # The engine serves migrations only (queries use the pool of Store.transaction):
        # they queue for the write lock at BEGIN instead of failing later.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_path(url: str) -> str | None:
    """The file of a sqlite:// URL (SQLAlchemy's spelling), None if it is not one."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] != "sqlite":
        return None
    path = rest.split("?")[0]
    path = path[1:] if path.startswith("/") else path
    if not path or path == ":memory:":
        # Each connection would get its own empty database, and every delivery would be
        # lost with the process: the outbox needs a file.
        raise StoreError(
            "an in-memory SQLite database cannot hold the outbox: give a file, e.g. "
            "sqlite:////var/lib/tidings/tidings.db"
        )
    return path


class Tx:
    """One transaction on the driver's own connection: `raw` SQL with :name parameters."""

    def __init__(self, store: Store, connection: Any) -> None:
        self._store = store
        self._connection = connection  # sqlite3.Connection, or the DBAPI connection

    def run(
        self, sql: str, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> list[Row]:
        """Run one statement; a list of parameter sets runs as executemany. Returns the rows
        of a statement that returns some (tuples), else an empty list."""
        return self._execute(sql, params, names=False)[0]

    def value(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        rows = self.run(sql, params)
        return rows[0][0] if rows else None

    def dicts(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of a query as dicts, keyed by column name (or the name given with AS)."""
        rows, names = self._execute(sql, params, names=True)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _execute(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
        names: bool,
    ) -> tuple[list[Row], list[str]]:
        """The rows, and (if `names`) the names of their columns."""
        cursor = self._connection.cursor()
        statement = self._store.raw(sql)
        try:
            if params is not None and not isinstance(params, Mapping):  # parameter sets
                cursor.executemany(statement, params)
                return [], []
            if params:
                cursor.execute(statement, params)
            else:  # no parameters: a literal % must not be read as a placeholder (psycopg)
                cursor.execute(statement)
            if not cursor.description:
                return [], []
            rows = cursor.fetchall()
            return rows, [column[0] for column in cursor.description] if names else []
        except Exception as exc:
            if isinstance(exc, self._store.driver_error):
                raise DatabaseError(exc) from exc
            raise
        finally:
            cursor.close()


def in_list(values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`(:i0, :i1, ...)` and its parameters: the values of an IN list in `raw` SQL. The text
    holds parameter names only, never a value."""
    params = {f"i{n}": value for n, value in enumerate(values)}
    return "(" + ", ".join(f":{name}" for name in params) + ")", params


def json_each(dialect: str, name: str) -> str:
    """A subquery of the strings of the JSON array parameter `name`: one statement for any
    number of them, so its text (and the driver's prepared plan) never changes."""
    if dialect == "postgresql":
        return f"(SELECT json_array_elements_text(:{name}::json))"
    return f"(SELECT value FROM json_each(:{name}))"


def to_json(value: Any) -> str | None:
    """A JSON column's parameter (write it as `:name::json`); None stays SQL NULL."""
    return None if value is None else orjson.dumps(value).decode("utf-8")


def from_json(value: Any) -> Any:
    """A JSON column's value: SQLite hands back the text, psycopg has already decoded it."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def retry_on_conflict(work: Callable[[], T], attempts: int = 5) -> T:
    """Run a transaction again when the database aborted it for a deadlock or a
    serialization conflict (PostgreSQL SQLSTATE 40P01 / 40001)."""
    for attempt in range(attempts):
        try:
            return work()
        except DatabaseError as exc:
            if exc.sqlstate not in ("40P01", "40001") or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


class _SqlitePool:
    """Connections to one SQLite file, reused across transactions (opening one costs more
    than most statements). A connection serves one transaction at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        import sqlite3

        connection = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        for pragma in _SQLITE_PRAGMAS:
            connection.execute(pragma)
        return connection

    def put(self, connection: Any) -> None:
        with self._lock:
            if len(self._idle) < 8:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class Store:
    """A database with tidings' schema, migrated to the newest version when opened."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._raw: dict[str, str] = {}
        self._engine: Any = None
        path = _sqlite_path(url)
        self._pool = _SqlitePool(path) if path is not None else None
        if path is not None:
            import sqlite3

            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.dialect = "sqlite"
            self.driver_error: type[BaseException] = sqlite3.Error
            return
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            self.dialect = make_url(url).get_backend_name()
        except ArgumentError:
            raise StoreError(_INVALID_URL) from None
        # Created now: a missing driver or a bad option is reported when the store is opened.
        self.driver_error = self.engine.dialect.loaded_dbapi.Error

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (created on first use: one-shot sends never need it)."""
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.engine import make_url

            kwargs: dict[str, Any] = {}
            if self.dialect == "sqlite":
                kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            else:
                kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
            parsed = make_url(self.url)
            try:
                self._engine = create_engine(parsed, **kwargs)
            except Exception as exc:  # missing driver, bad options
                raise StoreError(
                    f"cannot use database {parsed.render_as_string()}: {exc}"
                ) from None
            if self.dialect == "sqlite":
                _sqlite_settings(self._engine)
        return self._engine

    @property
    def display(self) -> str:
        if self.dialect == "sqlite":
            return self.url
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    def open(self) -> Store:
        """Connect and migrate if needed. Cheap when already at the newest version."""
        try:
            version = self.version()
            if version != HEAD and not (version is None and self._created_fresh()):
                self.upgrade()
        except DatabaseError as exc:
            raise StoreError(f"cannot open database {self.display}: {exc}") from None
        return self

    def _created_fresh(self) -> bool:
        """A new SQLite file gets the newest schema at once, without Alembic (see fresh)."""
        if self.dialect != "sqlite":
            return False
        # Or another process just created it while this one waited for the write lock.
        return self.create_if_empty() or self.version() == HEAD

    def create_if_empty(self) -> bool:
        """Create the schema at HEAD from schema_sqlite.sql if the database holds nothing yet;
        False if it holds something (or the script is not at HEAD): then Alembic decides."""
        revision, statements = fresh_script()
        if revision != HEAD:
            return False
        with self.transaction(write=True) as tx:
            # Checked under the write lock: of two processes creating one file, one does it.
            if tx.value("SELECT count(*) FROM sqlite_master"):
                return False
            for statement in statements:
                tx.run(statement)
            tx.run("INSERT INTO alembic_version (version_num) VALUES (:head)", {"head": HEAD})
        return True

    def version(self) -> str | None:
        with self.transaction(write=False) as tx:
            if self.dialect == "sqlite":
                found = tx.value(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
                )
            else:
                found = tx.value("SELECT to_regclass('alembic_version')")
            if not found:
                return None
            version: str | None = tx.value("SELECT version_num FROM alembic_version")
            return version

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations (what `tidings db upgrade` runs)."""
        from alembic import command
        from alembic.config import Config
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        config = Config()
        config.set_main_option("script_location", "tidings.store:migrations")
        try:
            with self.engine.begin() as connection:
                if self.dialect == "postgresql":
                    # Several processes may open a new database at once: one migrates at a time.
                    connection.execute(text("SELECT pg_advisory_xact_lock(7215461)"))
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
        except DBAPIError as exc:
            raise DatabaseError(exc.orig or exc) from exc

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        """A transaction for `raw` SQL on the driver: committed when the block ends, rolled
        back if it raises. On SQLite a writer takes the write lock at BEGIN (IMMEDIATE), so
        writers queue instead of failing later; readers take none."""
        if self._pool is None:
            yield from self._engine_transaction()
            return
        connection = self._pool.get()
        healthy = True
        try:
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Tx(self, connection)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except self.driver_error as exc:
            healthy = False  # its state is unknown: never reused
            raise DatabaseError(exc) from exc
        finally:
            if healthy:
                self._pool.put(connection)
            else:
                connection.close()

    def _engine_transaction(self) -> Iterator[Tx]:
        """A transaction on a connection of the engine's pool (PostgreSQL: readers take no
        lock there, so readers and writers begin alike)."""
        from sqlalchemy.exc import DBAPIError

        try:
            with self.engine.begin() as connection:
                yield Tx(self, connection.connection.dbapi_connection)
        except DBAPIError as exc:
            raise DatabaseError(exc.orig or exc) from exc

    def ping(self) -> None:
        """Ask the database something (readiness): raises DatabaseError when it does not answer."""
        with self.transaction(write=False) as tx:
            tx.run("SELECT 1")

    def raw(self, sql: str) -> str:
        """SQL written with :name parameters, in this driver's own style; `::json` marks a
        value that PostgreSQL must cast, and is dropped for SQLite."""
        cached = self._raw.get(sql)
        if cached is None:
            if self.dialect == "postgresql":
                cached = re.sub(r"(?<!:):([a-z_][a-z0-9_]*)", r"%(\1)s", sql)
            else:
                cached = sql.replace("::json", "")
            self._raw[sql] = cached
        return cached

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._engine is not None:
            self._engine.dispose()


def open_store(configured_url: str | None = None) -> Store:
    return Store(resolve_url(configured_url)).open()
