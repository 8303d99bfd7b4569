"""tidings beside Apprise and the raw HTTP ceiling, in one run, as one table (`make bench`).

Apprise comes from the `bench` extra (`pip install -e '.[bench]'`). Every number is measured
in this run against the same loopback receiver (bench/receiver.py, its own process).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import throughput  # noqa: E402  (bench/ is not a package)

BIN = Path(sys.executable).parent


def median_seconds(command: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def apprise_library_rate(base: str, count: int) -> float:
    import apprise

    notifier = apprise.Apprise()
    notifier.add(f"json://{base.split('://', 1)[1]}/apprise")
    started = time.perf_counter()
    for n in range(count):
        notifier.notify(title=f"工作流 demo #{n}", body="passed")
    return count / (time.perf_counter() - started)


async def fan_out(base: str, folder: str, destinations: int = 100) -> float:
    """One event to `destinations` webhooks: seconds from accepted to all delivered."""
    from tidings.config.loading import loads
    from tidings.delivery.outbox import NewEvent
    from tidings.dispatch.plan import plan_event
    from tidings.dispatch.task import parse_task
    from tidings.sending.record import deliver_now, record
    from tidings.store.db import Store

    ctls = "".join(
        f"      - {{webhook_type: webhook, notify_type: [passed], "
        f"webhook_notification_config: {{address: '{base}/fan/{i}'}}}}\n"
        for i in range(destinations)
    )
    config = loads(f"workflows:\n  - name: fan\n    notify_ctls:\n{ctls}")
    store = Store(f"sqlite:///{folder}/fan.db").open()
    task = parse_task({"task_id": 1, "workflow_name": "fan", "status": "passed"})
    plan = plan_event(config, config.workflows[0], task)
    started = time.perf_counter()
    enqueued = record(
        store, plan, NewEvent("task", "fan", 1, "passed"), now=time.time(), expires_in=60
    )
    outcome = await deliver_now(store, config, enqueued, deadline=30)
    elapsed = time.perf_counter() - started
    assert outcome.failed == 0
    return elapsed


def worker_rss_mib(base: str, folder: str, pending: int = 10000) -> float:
    """Peak RSS of `tidings worker --once` working off `pending` deliveries."""
    from tidings.config.loading import loads
    from tidings.store.db import Store

    text, workflows = throughput.config_text(base, 64, 8)
    config_path = Path(folder) / "rss.yaml"
    config_path.write_text(text, "utf-8")
    url = f"sqlite:///{folder}/rss.db"
    store = Store(url).open()
    prepared = throughput.plans(loads(text), workflows, pending // 8)
    from tidings.delivery.outbox import NewEvent
    from tidings.sending.record import record

    for name, task_id, plan in prepared:
        record(
            store, plan, NewEvent("task", name, task_id, "passed"), now=time.time(), expires_in=3600
        )
    store.close()
    env = {**os.environ, "TIDINGS_DATABASE_URL": url}
    # A child's ru_maxrss starts from its parent's size when it forked (Linux carries the
    # high-water mark over exec): this bench process is big by now, so a small process starts
    # the worker and reports the worker's own peak.
    worker = [str(BIN / "tidings"), "worker", "-c", str(config_path), "--once"]
    done = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, *worker],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return int(done.stdout) / 1024


RSS_PROBE = """
import os, subprocess, sys
worker = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(worker.pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, "tidings worker failed"
print(usage.ru_maxrss)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--deliveries", type=int, default=8000)
    parser.add_argument("--apprise-count", type=int, default=500)
    args = parser.parse_args()
    if shutil.which("apprise", path=str(BIN)) is None:
        sys.exit("apprise is not installed: make bench installs the bench extra")

    # Start-up rows measure an installed tidings: an editable checkout may lack .pyc files (or
    # have stale ones) and never write them under PYTHONDONTWRITEBYTECODE.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "src")], check=True)
    receiver, base = throughput.start_receiver()
    folder = tempfile.mkdtemp(prefix="tidings-compare-")
    env = {**os.environ, "TIDINGS_HOME": folder, "NO_COLOR": "1"}
    rows: list[tuple[str, str, str, str]] = []
    try:
        help_t = median_seconds([str(BIN / "tidings"), "--help"], args.runs, env)
        version_a = median_seconds([str(BIN / "apprise"), "--version"], args.runs, env)
        rows.append(
            (
                "start-up: --help / --version",
                f"{help_t * 1000:.0f} ms",
                f"{version_a * 1000:.0f} ms",
                f"{help_t / version_a:.2f}x",
            )
        )
        notify_t = median_seconds(
            [
                str(BIN / "tidings"),
                "notify",
                "--type",
                "webhook",
                "--hook-address",
                f"{base}/notify",
                "--title",
                "工作流 demo",
                "--content",
                "passed",
            ],
            args.runs,
            env,
        )
        apprise_t = median_seconds(
            [
                str(BIN / "apprise"),
                "-t",
                "工作流 demo",
                "-b",
                "passed",
                f"json://{base.split('://', 1)[1]}/apprise",
            ],
            args.runs,
            env,
        )
        rows.append(
            (
                "one notification, whole process",
                f"{notify_t * 1000:.0f} ms",
                f"{apprise_t * 1000:.0f} ms",
                f"{notify_t / apprise_t:.2f}x",
            )
        )

        text, workflows = throughput.config_text(base, 64, 8)
        from tidings.config.loading import loads
        from tidings.store.db import Store

        config = loads(text)
        prepared = throughput.plans(config, workflows, args.deliveries // 8)
        store = Store(f"sqlite:///{folder}/tp.db").open()
        durable, count = asyncio.run(throughput.durable(store, config, prepared))
        library = apprise_library_rate(base, args.apprise_count)
        raw = asyncio.run(throughput.raw_loop(base, args.deliveries, 64))
        raw_ours = asyncio.run(throughput.raw_tidings_loop(base, args.deliveries, 64))
        rows.append(
            (
                "throughput: durable vs Apprise library",
                f"{durable:.0f}/s",
                f"{library:.0f}/s",
                f"{durable / library:.1f}x",
            )
        )
        rows.append(
            (
                "throughput: durable vs raw loop, same client",
                f"{durable:.0f}/s",
                f"{raw_ours:.0f}/s",
                f"{durable / raw_ours:.0%}",
            )
        )
        rows.append(
            (
                "throughput: durable vs raw aiohttp loop",
                f"{durable:.0f}/s",
                f"{raw:.0f}/s",
                f"{durable / raw:.0%}",
            )
        )
        fan = asyncio.run(fan_out(base, folder))
        rows.append(("fan-out: 1 event to 100 destinations", f"{fan * 1000:.0f} ms", "-", "-"))
        lat_store = Store(f"sqlite:///{folder}/lat.db").open()
        lat_prepared = throughput.plans(config, workflows, 1000)
        samples = asyncio.run(throughput.latency(lat_store, config, lat_prepared, 200, 5))
        q = statistics.quantiles(samples, n=100)
        rows.append(
            (
                "latency at 200 events/s x 8: p50 / p99",
                f"{q[49] * 1000:.0f} / {q[98] * 1000:.0f} ms",
                "-",
                "-",
            )
        )
        rss = worker_rss_mib(base, folder)
        rows.append(("worker peak RSS, 10,000 pending", f"{rss:.0f} MiB", "-", "-"))
    finally:
        receiver.terminate()
        shutil.rmtree(folder, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'tidings':>14}  {'comparison':>12}  ratio")
    for name, ours, theirs, ratio in rows:
        print(f"{name:<{width}}  {ours:>14}  {theirs:>12}  {ratio}")
    print(
        f"({os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d')}, deliveries {count})"
    )


if __name__ == "__main__":
    main()
