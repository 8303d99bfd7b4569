"""Opening the database: where it is, its SQLite settings, and migrations applied on open."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

DATABASE_ENV = "TIDINGS_DATABASE_URL"
HOME_ENV = "TIDINGS_HOME"
HEAD = "0002"  # the newest migration in store/migrations/versions


class StoreError(Exception):
    """The database cannot be opened or used; the message says which and why."""


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


def _sqlite_settings(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun explicitly below (IMMEDIATE: writers queue instead of failing).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of the process
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Readers (Store.read) take no write lock; writers queue for it at BEGIN instead of
        # failing later when a read lock cannot be upgraded.
        read_only = connection.get_execution_options().get("tidings_read_only")
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Store:
    """A database with tidings' schema, migrated to the newest version when opened."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreError(
                f"invalid database URL (from ${DATABASE_ENV} or system.database_url); "
                "expected e.g. sqlite:////var/lib/tidings/tidings.db or "
                "postgresql+psycopg://user@host/db"
            ) from None
        self.url = url
        self.dialect = parsed.get_backend_name()
        self._raw: dict[str, str] = {}
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        try:
            self.engine = create_engine(parsed, **kwargs)
        except Exception as exc:  # missing driver, bad options
            raise StoreError(f"cannot use database {parsed.render_as_string()}: {exc}") from None
        if self.dialect == "sqlite":
            _sqlite_settings(self.engine)

    @property
    def display(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def open(self) -> Store:
        """Connect and migrate if needed. Cheap when already at the newest version."""
        try:
            if self.version() != HEAD:
                self.upgrade()
        except OperationalError as exc:
            raise StoreError(f"cannot open database {self.display}: {exc.orig}") from None
        return self

    def version(self) -> str | None:
        with self.read() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations (what `tidings db upgrade` runs)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", "tidings.store:migrations")
        with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                # Several processes may open a new database at once: one migrates at a time.
                connection.execute(text("SELECT pg_advisory_xact_lock(7215461)"))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def insert(self, table: Any) -> Any:
        """INSERT with ON CONFLICT support (SQLite and PostgreSQL spell it alike)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    def read(self) -> Any:
        """A connection for reading only (no write lock on SQLite)."""
        return self.engine.connect().execution_options(tidings_read_only=True)

    def raw(self, sql: str) -> str:
        """SQL written with :name parameters, in this driver's own style.

        The hot paths (recording deliveries and their results) run such statements through
        `exec_driver_sql`, skipping SQLAlchemy's per-row processing; `::json` marks a value
        that PostgreSQL must cast, and is dropped for SQLite.
        """
        cached = self._raw.get(sql)
        if cached is None:
            if self.dialect == "postgresql":
                cached = re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)
            else:
                cached = sql.replace("::json", "")
            self._raw[sql] = cached
        return cached

    def run(self, connection: Any, sql: str, params: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """Run a statement of `raw` SQL on the driver's own cursor: the hot paths (recording
        deliveries and their results) skip SQLAlchemy's per-statement work. A list of
        parameter sets runs as executemany. The driver's errors come out as SQLAlchemy's
        (DBAPIError and its kinds, `.orig` the driver's), like every other statement's.
        Returns the cursor's rows for a statement that returns some."""
        cursor = connection.connection.dbapi_connection.cursor()
        statement = self.raw(sql)
        try:
            if isinstance(params, list):
                cursor.executemany(statement, params)
                return None
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else None
        except self.engine.dialect.loaded_dbapi.Error as exc:
            from sqlalchemy.exc import DBAPIError

            raise DBAPIError.instance(
                statement, None, exc, self.engine.dialect.loaded_dbapi.Error
            ) from exc
        finally:
            cursor.close()

    def close(self) -> None:
        self.engine.dispose()


def open_store(configured_url: str | None = None) -> Store:
    return Store(resolve_url(configured_url)).open()
