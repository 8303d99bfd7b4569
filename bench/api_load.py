"""The HTTP API under load: events posted at a fixed rate to one `tidings serve` (SQLite, worker
in the same process), every one delivered to a loopback receiver; POST latency percentiles.

    .venv/bin/python bench/api_load.py [--rate 500] [--seconds 30] [--workflows 16]
    .venv/bin/python bench/api_load.py --instructions [--repeat 3]

Open loop: a request is started every 1/rate s whether or not earlier ones have answered, so
a slow server shows as latency, not as a lower rate. Each event has its own X-Zadig-Event-UUID
and goes to one of --workflows webhook destinations (each destination keeps event order).

--instructions counts what the server executes per event instead of timing it (counts, unlike
times, do not depend on what else the machine runs): the server under `valgrind
--tool=cachegrind`, once with 200 events and once with 1,200 posted 8 at a time, each run
until every event is delivered; (instructions of the second - the first) / 1,000 leaves out
start-up and shutdown. Run it with PYTHONPATH=other/src to count another tree's server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
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


def start_server(
    config: str, home: Path, port: int, wrapper: tuple[str, ...] = ()
) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    environ["TIDINGS_HOME"] = str(home)
    return subprocess.Popen(
        [
            *wrapper,
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


async def wait_ready(base: str, seconds: float = 10) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds / 0.05)):
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


def event(index: int, workflows: int) -> dict[str, object]:
    """Zadig's webhook payload of task `index + 1`, for one of the workflows."""
    return {
        "object_kind": "workflow",
        "workflow": {
            "task_id": index + 1,
            "workflow_name": f"wf{index % workflows}",
            "status": "passed",
            "task_creator": "bench",
        },
    }


async def load(base: str, receiver: str, rate: int, seconds: int, workflows: int) -> None:
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}"}
    latencies: list[float] = []
    failures: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def post(index: int) -> None:
            body = event(index, workflows)
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


async def post_all(base: str, receiver: str, count: int, in_flight: int, workflows: int) -> None:
    """`count` events, `in_flight` at a time; returns once the receiver has every one."""
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def received() -> int:
            async with session.get(f"{receiver}/count") as answer:
                return int((await answer.json())["count"])

        before = await received()
        queue = iter(range(count))

        async def poster() -> None:
            for index in queue:
                async with session.post(
                    f"{base}/api/v1/events",
                    json=event(index, workflows),
                    headers={"X-Zadig-Event-UUID": str(uuid.uuid4())},
                ) as answer:
                    await answer.read()
                    if answer.status != 202:
                        raise SystemExit(f"POST answered {answer.status}: {await answer.text()}")

        await asyncio.gather(*(poster() for _ in range(in_flight)))
        while await received() - before < count:
            await asyncio.sleep(0.2)


def instructions(receiver: str, events: int, workflows: int) -> int:
    """Instructions the whole server process executed, start to exit, with `events` posted."""
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        config = write_config(home, receiver, workflows)
        out = home / "cachegrind.out"
        valgrind = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "-q")
        port = free_port()
        server = start_server(config, home, port, (*valgrind, f"--cachegrind-out-file={out}"))
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(wait_ready(base, seconds=300))
            asyncio.run(post_all(base, receiver, events, 8, workflows))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(300)
        found = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
        if found is None:
            raise SystemExit(f"no summary in {out}")
        return int(found.group(1))


def count_instructions(workflows: int, repeat: int) -> None:
    receiver_process, receiver = start_receiver()
    try:
        per_event = []
        for run in range(repeat):
            few, many = (instructions(receiver, n, workflows) for n in (200, 1200))
            per_event.append((many - few) / 1000)
            print(f"run {run + 1}: {per_event[-1] / 1e6:.3f} M instructions per event")
        ordered = sorted(per_event)
        print(
            f"instructions per event: median {statistics.median(ordered) / 1e6:.3f} M "
            f"(min {ordered[0] / 1e6:.3f} M, max {ordered[-1] / 1e6:.3f} M, {repeat} runs)"
        )
    finally:
        receiver_process.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workflows", type=int, default=16)
    parser.add_argument("--instructions", action="store_true", help="count, under cachegrind")
    parser.add_argument("--repeat", type=int, default=1, help="runs of --instructions")
    args = parser.parse_args()
    if args.instructions:
        count_instructions(args.workflows, args.repeat)
        return
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
