"""The HTTP API under load: events posted at a fixed rate to one `tidings serve` (SQLite, worker
in the same process), every one delivered to a loopback receiver; POST latency percentiles.

    .venv/bin/python bench/api_load.py [--rate 500] [--seconds 30] [--workflows 16]

Open loop: a request is started every 1/rate s whether or not earlier ones have answered, so
a slow server shows as latency, not as a lower rate. Each event has its own X-Zadig-Event-UUID
and goes to one of --workflows webhook destinations (each destination keeps event order).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from throughput import free_port, start_receiver

TOKEN = "bench-token-0123456789abcdef"


def write_config(folder: Path, receiver: str, workflows: int) -> str:
    lines = ["system:", f"  api_tokens: [{{name: bench, token: {TOKEN}, scopes: [admin]}}]"]
    lines.append("workflows:")
    for index in range(workflows):
        lines += [
            f"  - name: wf{index}",
            "    notify_ctls:",
            "      - {webhook_type: webhook, notify_type: [passed], "
            f"webhook_notification_config: {{address: '{receiver}/wf{index}'}}}}",
        ]
    path = folder / "tidings.yaml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return str(path)


def start_server(config: str, home: Path, port: int) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    environ["TIDINGS_HOME"] = str(home)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tidings",
            "serve",
            "-c",
            config,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=environ,
    )


async def wait_ready(base: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"{base}/readyz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("tidings serve did not start")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(base: str, receiver: str, rate: int, seconds: int, workflows: int) -> None:
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}"}
    latencies: list[float] = []
    failures: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def post(index: int) -> None:
            body = {
                "object_kind": "workflow",
                "workflow": {
                    "task_id": index + 1,
                    "workflow_name": f"wf{index % workflows}",
                    "status": "passed",
                    "task_creator": "bench",
                },
            }
            started = time.perf_counter()
            try:
                async with session.post(
                    f"{base}/api/v1/events",
                    json=body,
                    headers={"X-Zadig-Event-UUID": str(uuid.uuid4())},
                ) as answer:
                    await answer.read()
                    if answer.status != 202:
                        failures[str(answer.status)] = failures.get(str(answer.status), 0) + 1
                        return
            except aiohttp.ClientError as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                return
            latencies.append(time.perf_counter() - started)

        total = rate * seconds
        tasks = []
        begin = time.perf_counter()
        for index in range(total):
            delay = begin + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(index)))
        await asyncio.gather(*tasks)
        posted_in = time.perf_counter() - begin
        ended = time.perf_counter()
        delivered = 0
        while time.perf_counter() - ended < 120:
            async with session.get(f"{receiver}/count") as answer:
                delivered = (await answer.json())["count"]
            if delivered >= len(latencies):
                break
            await asyncio.sleep(0.1)
        drained = time.perf_counter() - ended
    ms = [v * 1000 for v in latencies]
    achieved = total / posted_in
    print(f"posted {total} events in {posted_in:.1f} s ({achieved:.0f}/s; offered {rate}/s)")
    print(f"accepted (202): {len(ms)}; failed: {failures or 0}")
    if ms:
        print(
            f"POST latency ms: p50 {percentile(ms, 0.5):.1f}  p90 {percentile(ms, 0.9):.1f}  "
            f"p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}  mean {statistics.mean(ms):.1f}"
        )
    print(f"delivered: {delivered} of {len(ms)}; the last {drained:.1f} s after the last answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workflows", type=int, default=16)
    args = parser.parse_args()
    receiver_process, receiver = start_receiver()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        config = write_config(home, receiver, args.workflows)
        port = free_port()
        server = start_server(config, home, port)
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(wait_ready(base))
            pids = {"server": server.pid, "receiver": receiver_process.pid, "load": os.getpid()}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            asyncio.run(load(base, receiver, args.rate, args.seconds, args.workflows))
            after = {name: cpu_seconds(pid) for name, pid in pids.items()}
            events = args.rate * args.seconds
            used = [
                f"{name} {(after[name] - before[name]) * 1000 / events:.2f}"
                for name in pids
                if before[name] is not None and after[name] is not None
            ]
            if used:
                # Where the 2 cores went: the server's share is what the goal is about.
                print(f"CPU ms per event: {', '.join(used)}")
        finally:
            server.terminate()
            server.wait(30)
            receiver_process.terminate()


if __name__ == "__main__":
    main()
