"""A release train against one DingTalk robot (issue #18): 200 task events within 10 s, the
sandbox's robot enforcing 20 messages a minute (over it: errcode 130101, throttled 10 min).

Measured, with coalescing (system.delivery.coalesce_after: 60, the default) and without
(coalesce_after: 0), in the same run:
- time until every event's information has reached the robot: an event counts as arrived
  when a message that reached the robot after it was recorded names its task with this
  status or a later one of the same task (a digest line shows a task's latest status);
- throttled answers (130101) from the robot;
- events missing: never arrived by the end of the run.

The platform's minutes run on a scaled clock (`--scale`, default 20: ten platform minutes
take thirty seconds); every party (worker, pacing, robot) reads that clock. Times are in
platform seconds.

    PYTHONPATH=src .venv/bin/python bench/coalesce.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers import seed_task  # noqa: E402
from tidings.config.loading import loads  # noqa: E402
from tidings.delivery.clock import ScaledClock  # noqa: E402
from tidings.delivery.outbox import NewEvent  # noqa: E402
from tidings.delivery.resolve import Resolver  # noqa: E402
from tidings.delivery.settings import limits_of, settings_of  # noqa: E402
from tidings.delivery.worker import Worker  # noqa: E402
from tidings.dispatch.plan import plan_event  # noqa: E402
from tidings.dispatch.task import parse_task  # noqa: E402
from tidings.sandbox import Sandbox  # noqa: E402
from tidings.sending.record import record  # noqa: E402
from tidings.store.db import Store  # noqa: E402

SECRET = "SECbench0123456789"
TASKS = 100  # each created, then passed or failed: 200 events
LINE = re.compile(r"#(\d+)\D")
STATUS_RANK = {"开始执行": 0, "执行成功": 1, "执行失败": 1}


def train() -> list[tuple[int, str]]:
    """200 events: task i created, and 20 events later finished (passed, every 7th failed)."""
    events: list[tuple[int, str]] = []
    for step in range(TASKS + 20):
        if step < TASKS:
            events.append((step + 1, "created"))
        if step >= 20:
            task = step - 20 + 1
            events.append((task, "failed" if task % 7 == 0 else "passed"))
    return events


def arrivals(text: str) -> list[tuple[int, int]]:
    """(task id, status rank) of each task a message names: its lines, or its title."""
    found = []
    for line in text.split("\n"):
        match = LINE.search(line + " ")
        if not match:
            continue
        rank = max((r for word, r in STATUS_RANK.items() if word in line), default=-1)
        if rank >= 0:
            found.append((int(match.group(1)), rank))
    return found


async def run(scale: float, coalesce_after: float, folder: str) -> dict[str, float]:
    clock = ScaledClock(scale=scale)
    os.makedirs(folder, exist_ok=True)
    store = Store(f"sqlite:///{folder}/bench.db").open()
    async with Sandbox(clock=clock) as sb:
        url = sb.dingtalk_robot("train", secret=SECRET, keywords=("工作流",))
        config = loads(
            f"system:\n  delivery: {{lease: 600, coalesce_after: {coalesce_after}}}\n"
            "workflows:\n  - name: train\n    notify_ctls:\n"
            "      - {webhook_type: dingding, notify_type: [created, passed, failed], "
            f"dingding_notification_config: {{hook_address: '{url}', secret: {SECRET}, "
            "at_mobiles: ['13800000001']}}\n"
        )
        worker = Worker(
            store,
            Resolver(config),
            clock=clock,
            limits=limits_of(config),
            settings=settings_of(config),
        )
        base = seed_task()
        recorded: list[tuple[float, int, int]] = []  # (at, task, status rank)
        stop = asyncio.Event()
        async with worker:
            running = asyncio.create_task(worker.run(stop))
            started = clock.now()
            events = train()
            for n, (task_id, status) in enumerate(events):
                # 200 events spread evenly over 10 platform seconds.
                await clock.sleep(started + n * 10.0 / len(events) - clock.now())
                snapshot = {**base, "workflow_name": "train", "task_id": task_id, "status": status}
                task = parse_task(snapshot)
                plan = plan_event(config, config.workflow("train"), task, status=status)
                event = NewEvent("task", "train", task_id, status)
                now = clock.now()
                record(store, plan, event, now=now, expires_in=3600)
                recorded.append((now, task_id, 0 if status == "created" else 1))
                worker.wake()
            # Until everything is out (at most 12 platform minutes).
            deadline = started + 720
            while clock.now() < deadline:
                with store.transaction(write=False) as tx:
                    left = tx.value("SELECT count(*) FROM deliveries WHERE status = 'pending'")
                if not left:
                    break
                await clock.sleep(1.0)
            stop.set()
            await running
        received = sb.received("dingtalk")
    throttled = sum(1 for r in received if r.code == 130101)
    seen: list[tuple[float, int, int]] = [
        (r.at, task, rank) for r in received if r.accepted for task, rank in arrivals(r.text)
    ]
    last = 0.0
    missing = 0
    for at, task, rank in recorded:
        times = [t for t, k, q in seen if k == task and q >= rank and t >= at]
        if times:
            last = max(last, min(times) - started)
        else:
            missing += 1
    return {
        "all arrived after (platform s)": round(last, 1),
        "messages the robot accepted": sum(1 for r in received if r.accepted),
        "throttled answers (130101)": throttled,
        "events missing": missing,
        "real seconds": round((clock.now() - started) / scale, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=1, help="runs with coalescing (median)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    cases = [("coalescing (coalesce_after: 60)", 60.0)] * args.runs + [("without (0)", 0.0)]
    with tempfile.TemporaryDirectory() as folder:
        found: dict[str, list[dict[str, float]]] = {}
        for n, (name, after) in enumerate(cases):
            began = time.perf_counter()
            result = asyncio.run(run(args.scale, after, f"{folder}/{n}"))
            found.setdefault(name, []).append(result)
            print(f"{name}: {result} ({time.perf_counter() - began:.1f} s)", file=sys.stderr)
        for name, runs in found.items():
            results[name] = {
                measure: statistics.median(r[measure] for r in runs) for measure in runs[0]
            }
            if len(runs) > 1:
                spread = sorted(r["all arrived after (platform s)"] for r in runs)
                results[name]["all arrived after: range over runs"] = f"{spread[0]} – {spread[-1]}"
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    names = list(results)
    print("| measure | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for measure in results[names[0]]:
        print(
            f"| {measure} | " + " | ".join(str(results[n].get(measure, "")) for n in names) + " |"
        )


if __name__ == "__main__":
    main()
