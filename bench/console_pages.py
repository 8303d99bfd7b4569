"""How long each console page takes on the server with 100,000 deliveries in history.

    .venv/bin/python bench/console_pages.py [--deliveries 100000] [--rounds 20]
                                            [--database-url postgresql+psycopg://...]

Fills a new database (SQLite in a temporary folder, or the PostgreSQL database given, which
must be empty) with 5 workflows x 4,000 tasks, one event each with 5 deliveries (100,000),
recorded over the last 24 hours, a tenth failed or dead with their attempts; then starts a
real `tidings serve --no-worker` on it, signs in and asks each page `--rounds` times. The
server's own time comes from the console's `Server-Timing` header (request in to the last
byte of the page rendered, redacted and sent); the client's wall time beside it. Numbers,
not a test: nothing here asserts a time (bench/README.md records them).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from importlib import resources
from pathlib import Path

TOKEN = "bench-admin-token-0123456789abcdef"
WORKFLOWS = ["release", "nightly", "hotfix", "canary", "docs"]


def config_text(workflows: list[str]) -> str:
    ctls = (
        "      - {webhook_type: webhook, notify_type: [passed, failed], "
        "webhook_notification_config: {address: 'http://127.0.0.1:9/hook/%s'}}\n"
        "      - webhook_type: dingding\n"
        "        notify_type: [failed]\n"
        "        dingding_notification_config:\n"
        "          hook_address: 'http://127.0.0.1:9/robot/send?access_token=tok-%s-0123456789'\n"
        "          secret: SECbench0123456789\n"
        "          at_mobiles: ['13800000000']\n"
    )
    text = (
        "system:\n  address: https://zadig.example.com\n  language: en-us\n"
        f"  api_tokens:\n    - {{name: bench, token: '{TOKEN}', scopes: [admin]}}\n"
        "workflows:\n"
    )
    for name in workflows:
        text += f"  - name: {name}\n    notify_ctls:\n" + ctls % (name, name)
    return text


def fill(url: str, deliveries: int) -> None:
    """Events, deliveries, attempts and tasks, straight into the tables (the store's own
    recording would take minutes for this many and measures something else)."""
    from tidings.store.db import Store, to_json

    store = Store(url).open()
    example = json.loads(
        resources.files("tidings").joinpath("examples/task.json").read_text("utf-8")
    )
    now = time.time()
    per_event = 5
    events = deliveries // per_event
    tasks_per_workflow = events // len(WORKFLOWS)
    channels = ["webhook", "dingding", "feishu", "wechat", "mail"]
    statuses = ["sent"] * 18 + ["failed", "dead"]
    with store.transaction() as tx:
        task_rows, event_rows, delivery_rows, attempt_rows = [], [], [], []
        for n in range(events):
            workflow = WORKFLOWS[n % len(WORKFLOWS)]
            task_id = n // len(WORKFLOWS) + 1
            at = now - 86_000 + 86_000 * n / events
            status = "failed" if n % 7 == 0 else "passed"
            event_id = f"00000000-0000-7000-8000-{n:012d}"
            event_rows.append({"id": event_id, "w": workflow, "t": task_id, "s": status, "at": at})
            snapshot = {**example, "workflow_name": workflow, "task_id": task_id, "status": status}
            task_rows.append(
                {"w": workflow, "t": task_id, "s": status, "j": to_json(snapshot), "at": at}
            )
            for k in range(per_event):
                d = n * per_event + k
                state = statuses[d % len(statuses)]
                delivery_id = f"00000000-0000-7000-9000-{d:012d}"
                failed = state != "sent"
                delivery_rows.append(
                    {
                        "id": delivery_id,
                        "e": event_id,
                        "c": channels[k],
                        "dest": f"{channels[k]}:{k:024x}",
                        "src": f"{workflow}/notify_ctls[{k}]",
                        "addr": f"http://127.0.0.1:9/{channels[k]}?token=***",
                        "s": state,
                        "code": "310000" if failed else "0",
                        "err": "keywords not in content — put the robot's keyword in the title"
                        if failed
                        else None,
                        "at": at,
                    }
                )
                attempt_rows.append(
                    {
                        "d": delivery_id,
                        "at": at,
                        "o": "fail" if failed else "ok",
                        "h": 200,
                        "code": "310000" if failed else "0",
                        "detail": "keywords not in content" if failed else "ok",
                    }
                )
        tx.run(
            "INSERT INTO tasks (workflow, task_id, status, snapshot, created_at, updated_at) "
            "VALUES (:w, :t, :s, :j::json, :at, :at)",
            task_rows[: tasks_per_workflow * len(WORKFLOWS)],
        )
        tx.run(
            "INSERT INTO events (id, kind, workflow, task_id, status, created_at) "
            "VALUES (:id, 'task', :w, :t, :s, :at)",
            event_rows,
        )
        tx.run(
            "INSERT INTO deliveries (id, event_id, channel, destination, source, address, label, "
            "request, status, attempts, next_attempt_at, expires_at, created_at, updated_at, "
            "finished_at, last_code, last_error) VALUES (:id, :e, :c, :dest, :src, :addr, "
            "'message', '{\"msgtype\": \"markdown\"}', :s, 1, :at, :at, :at, :at, :at, :code, "
            ":err)",
            delivery_rows,
        )
        tx.run(
            "INSERT INTO attempts (delivery_id, at, duration_ms, outcome, http_status, code, "
            "detail, worker) VALUES (:d, :at, 12.5, :o, :h, :code, :detail, 'bench:1')",
            attempt_rows,
        )
    if store.dialect == "postgresql":
        # What autovacuum does to a table that has been written: statistics and the
        # visibility map (index-only scans).
        with store.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE"
            )
    store.close()


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def call(self, method: str, path: str, form: dict[str, str] | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Accept-Language": "en-US"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read().decode()
        wall = (time.perf_counter() - started) * 1000
        connection.close()
        for header in answer.headers.get_all("set-cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";")[0]
        timing = answer.headers.get("server-timing", "")
        found = re.search(r"dur=([\d.]+)", timing)
        return answer.status, text, float(found[1]) if found else float("nan"), wall


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return found[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tidings-console-bench-"))
    url = args.database_url or f"sqlite:///{folder}/tidings.db"
    config = folder / "tidings.yaml"
    config.write_text(config_text(WORKFLOWS), "utf-8")
    started = time.perf_counter()
    fill(url, args.deliveries)
    took = time.perf_counter() - started
    print(f"filled {args.deliveries:,} deliveries in {took:.1f} s ({url.split(':')[0]})")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    environ.update(TIDINGS_HOME=str(folder), TIDINGS_DATABASE_URL=url, NO_COLOR="1")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tidings",
            "serve",
            "-c",
            str(config),
            "--port",
            str(port),
            "--no-worker",
            "--log-level",
            "warning",
        ],
        env=environ,
    )
    try:
        client = Client(port)
        for _ in range(100):
            try:
                status, page, _, _ = client.call("GET", "/login")
                break
            except OSError:
                time.sleep(0.1)
        status, _, _, _ = client.call("POST", "/login", {"csrf": csrf(page), "token": TOKEN})
        assert status == 303, status
        _, listed, _, _ = client.call("GET", "/deliveries")
        one = re.search(r'<tr data-id="([^"]+)"', listed)[1]
        _, deep, _, _ = client.call("GET", "/deliveries?before=50000")
        middle = re.findall(r'href="(/deliveries\?before=\d+)" rel="next"', deep)[0]
        since = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() - 3600))
        pages = {
            "overview  /": "/",
            "workflows  /workflows": "/workflows",
            "task  /tasks/release/2000": "/tasks/release/2000",
            "deliveries, newest": "/deliveries",
            "deliveries, page 1,000 (keyset)": middle,
            "deliveries, status=dead": "/deliveries?status=dead",
            "deliveries, workflow=docs": "/deliveries?workflow=docs",
            "deliveries, channel=mail": "/deliveries?channel=mail",
            "deliveries, last hour": f"/deliveries?since={since}",
            "deliveries, dead+docs+mail": "/deliveries?status=dead&workflow=docs&channel=mail",
            "one delivery": f"/deliveries/{one}",
            "preview form": "/preview",
        }
        _, form_page, _, _ = client.call("GET", "/preview")
        token = csrf(form_page)
        print(f"\n{'page':36} {'server median':>14} {'server max':>11} {'client median':>14}")
        for label, path in [*pages.items(), ("preview, release failed (POST)", None)]:
            server_ms, client_ms = [], []
            for _ in range(args.rounds):
                if path is None:
                    form = {"csrf": token, "workflow": "release", "status": "failed"}
                    status, _, took, wall = client.call("POST", "/preview", form)
                else:
                    status, _, took, wall = client.call("GET", path)
                assert status == 200, (label, status)
                server_ms.append(took)
                client_ms.append(wall)
            print(
                f"{label:36} {statistics.median(server_ms):11.1f} ms {max(server_ms):8.1f} ms "
                f"{statistics.median(client_ms):11.1f} ms"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


if __name__ == "__main__":
    main()
