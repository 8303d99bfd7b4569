"""Does /notify get slower and bigger the more it is used? (issue #20.3)

    .venv/bin/python bench/notify_growth.py [--count 3000]

One `tidings serve` (SQLite, worker in the same process) and a loopback receiver; --count
ad-hoc notifications posted one after another, each to its own URL with its own token (as
many CI jobs would), every one delivered. Reports the median time of /notify over the first
and the last 200 posts, and the server's resident memory before and after. Run it with
PYTHONPATH=other/src to measure another tree's server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from api_load import start_server
from throughput import free_port, start_receiver

TOKEN = "bench-token-0123456789abcdef"


def allow_loopback() -> str:
    """The receiver is on loopback: listed, in a tree that checks where /notify sends."""
    from tidings.config import models

    return "  api: {notify_allowed_hosts: [127.0.0.1]}\n" if hasattr(models, "ApiSettings") else ""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def post(connection: http.client.HTTPConnection, body: dict) -> float:
    started = time.perf_counter()
    connection.request(
        "POST",
        "/api/v1/notify",
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    answer = connection.getresponse()
    answer.read()
    if answer.status != 202:
        sys.exit(f"/notify answered {answer.status}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    receiver, base = start_receiver()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        config = home / "tidings.yaml"
        config.write_text(
            "system:\n"
            f"  api_tokens: [{{name: bench, token: {TOKEN}, scopes: [admin]}}]\n"
            + allow_loopback()
            + "workflows: []\n",
            "utf-8",
        )
        port = free_port()
        server = start_server(str(config), home, port)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for _ in range(200):
                try:
                    connection.request("GET", "/healthz")
                    connection.getresponse().read()
                    break
                except OSError:
                    connection.close()
                    time.sleep(0.05)
            before = rss_mb(server.pid)
            times = []
            for i in range(args.count):
                body = {
                    "webhook_type": "webhook",
                    "webhook_notification_config": {
                        "address": f"{base}/hook/{i}?key=query-secret-{i:06d}",
                        "token": f"adhoc-token-{i:06d}",
                    },
                    "title": f"message {i}",
                }
                times.append(post(connection, body))
            after = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(30)
            receiver.terminate()
    first = statistics.median(times[:200]) * 1000
    last = statistics.median(times[-200:]) * 1000
    print(
        f"{args.count} notifies: median /notify {first:.1f} ms (first 200), {last:.1f} ms "
        f"(last 200); RSS {before:.0f} MB before, {after:.0f} MB after"
    )


if __name__ == "__main__":
    main()
