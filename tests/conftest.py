"""Shared fixtures: a sandbox on real sockets, and the `tidings` CLI run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tidings.sandbox import SandboxThread


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread() as sb:
        yield sb


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> object:
        return json.loads(self.stdout)


@pytest.fixture
def cli(tmp_path: Path):
    """Run `python -m tidings ARGS` in a fresh process, as a user's shell would."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> CliResult:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
        environ["NO_COLOR"] = "1"
        environ["TIDINGS_HOME"] = str(tmp_path / "home")  # the history database of this test
        environ.update(env or {})
        done = subprocess.run(
            [sys.executable, "-m", "tidings", *args],
            capture_output=True,
            text=True,
            env=environ,
            cwd=tmp_path,
            input=stdin,
            timeout=120,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


ADMIN_URL = os.environ.get(
    "TIDINGS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        reason = (
            f"PostgreSQL not reachable at {make_url(ADMIN_URL).render_as_string()}: "
            f"{type(exc).__name__}; set TIDINGS_TEST_POSTGRES_URL to run these tests"
        )
        if os.environ.get("TIDINGS_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"tidings_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """A new database on each backend: a SQLite file, and one on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/tidings.db"
    else:
        yield request.getfixturevalue("pg_url")
