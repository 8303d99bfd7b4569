"""Shared fixtures: a sandbox on real sockets, and the `tidings` CLI run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
