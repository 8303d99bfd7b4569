"""The API server on a free port in a thread (real uvicorn, real sockets) and a tiny client."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ADMIN = "admin-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"
SENDER = "sender-token-0123456789abcdef"
RUNNER = "runner-token-0123456789abcdef"


def tokens_yaml() -> str:
    import hashlib

    digest = hashlib.sha256(RUNNER.encode()).hexdigest()
    return (
        "  api_tokens:\n"
        f"    - {{name: ops, token: '{ADMIN}', scopes: [admin]}}\n"
        f"    - {{name: dashboard, token: '{READER}', scopes: [read]}}\n"
        f"    - {{name: ci, token: '{SENDER}', scopes: [send]}}\n"
        f"    - {{name: release-bot, token_sha256: '{digest}', scopes: [run, read]}}\n"
    )


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.body[:500]!r})"


class ApiServer:
    """`with ApiServer(config_path, tmp_path) as api:` — serves until the block ends."""

    def __init__(
        self,
        config_path: str,
        home: Path,
        *,
        worker: bool = True,
        console: bool = False,
        database_url: str | None = None,
    ) -> None:
        self.config_path = config_path
        self.home = home
        self.database_url = database_url or f"sqlite:///{home}/tidings.db"
        self.worker = worker
        self.console = console  # the console's pages beside the API, as `tidings serve` has

    def __enter__(self) -> ApiServer:
        import uvicorn

        from tidings.api.app import create_app
        from tidings.config.loading import load
        from tidings.store.db import Store

        config = load(self.config_path)
        self.store = Store(self.database_url).open()
        app = create_app(config, self.store, worker=self.worker, home=self.home)
        if self.console:
            from tidings.console import with_console

            app = with_console(app)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=10)
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        end = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.store.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request, as curl would make it: JSON body, bearer token, extra headers."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            sent["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()


def wait_for(predicate: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_process(
    config: str | Path,
    home: str | Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdout: Any = subprocess.PIPE,
    cwd: str | Path | None = None,
) -> tuple[subprocess.Popen[str], int]:
    """`tidings serve -c config ARGS` in its own process, as a user starts it, on a free
    port (no TIDINGS_ variables but those of `env`; `home` its TIDINGS_HOME); the process
    and its port. Its stderr is a pipe (text)."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    environ.update(env or {}, NO_COLOR="1", TIDINGS_HOME=str(home))
    server = subprocess.Popen(
        [sys.executable, "-m", "tidings", "serve", "-c", str(config), "--port", str(port), *args],
        env=environ,
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )
    return server, port
