"""A run's state in the database (store.source_runs) on SQLite and PostgreSQL: events of one
run merged at the same moment each see the others' jobs; old runs are forgotten."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from hooks_helpers import workflow_job
from tidings.sources import github
from tidings.sources.runs import merge_job
from tidings.sources.updates import JobEvent
from tidings.store import source_runs
from tidings.store.db import Store

JOBS = 16


def _event(index: int) -> JobEvent:
    event = github.parse("workflow_job", workflow_job(f"job-{index}", job_id=index + 1))
    assert isinstance(event, JobEvent)
    return event


def test_concurrent_events_of_one_run_lose_no_job(database_url):
    store = Store(database_url).open()
    try:
        events = [_event(i) for i in range(JOBS)]
        barrier = threading.Barrier(JOBS)

        def merge(event: JobEvent) -> str:
            barrier.wait()
            change = lambda state: merge_job(state, event)  # noqa: E731
            return source_runs.update(store, event.key, change, now=1000.0).outcome

        with ThreadPoolExecutor(JOBS) as pool:
            assert set(pool.map(merge, events)) == {"recorded"}
        state = source_runs.read(store, events[0].key)
        assert state is not None
        assert sorted(state["jobs"]) == sorted(f"job-{i}" for i in range(JOBS))
    finally:
        store.close()


def test_runs_unheard_of_for_a_week_are_forgotten(database_url):
    store = Store(database_url).open()
    try:
        old, new = _event(0), _event(1)
        other = JobEvent(old.source, "github:1:2", old.origin, old.job)
        source_runs.update(store, other.key, lambda s: merge_job(s, other), now=0.0)
        source_runs.update(store, new.key, lambda s: merge_job(s, new), now=source_runs.KEEP + 1)
        assert source_runs.read(store, other.key) is None
        assert source_runs.read(store, new.key) is not None
    finally:
        store.close()
