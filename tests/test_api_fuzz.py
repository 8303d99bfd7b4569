"""POST /api/v1/events fuzzed with hypothesis (issue #20, Tests): whatever the body, the server
never answers 500, never records half an event (an event without all its deliveries, or
anything of an event it refused), and never echoes a secret of its configuration."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api_helpers import SENDER, ApiServer, tokens_yaml
from helpers import DT_SECRET, WEBHOOK_TOKEN

DT_TOKEN = "dt-token-fuzz-0a1b2c3d4e5f"
SECRETS = (DT_TOKEN, DT_SECRET, WEBHOOK_TOKEN, SENDER)
STATUSES = ("passed", "failed", "cancelled", "timeout", "running", "created", "reject")


@pytest.fixture(scope="module")
def api(tmp_path_factory, module_sandbox):
    home = tmp_path_factory.mktemp("fuzz")
    sandbox = module_sandbox
    ding = sandbox.dingtalk_robot(DT_TOKEN, secret=DT_SECRET)
    hook = sandbox.webhook_inbox("fuzz")
    config = home / "tidings.yaml"
    config.write_text(
        "system:\n"
        + tokens_yaml()
        + textwrap.dedent(
            f"""\
            workflows:
              - name: wf
                notify_ctls:
                  - webhook_type: dingding
                    notify_type: [passed, failed]
                    dingding_notification_config: {{hook_address: "{ding}", secret: "{DT_SECRET}"}}
                  - webhook_type: webhook
                    notify_type: [failed, cancelled, timeout]
                    webhook_notification_config: {{address: "{hook}", token: "{WEBHOOK_TOKEN}"}}
            """
        ),
        "utf-8",
    )
    with ApiServer(str(config), home, worker=False) as server:
        yield server


@pytest.fixture(scope="module")
def module_sandbox():
    from tidings.sandbox import SandboxThread

    with SandboxThread() as sandbox:
        yield sandbox


# Text as hostile callers write it: secrets, lone surrogates, NUL, markup, anything.
texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(SECRETS),
    st.sampled_from(["\ud800", "a\x00b", "../../etc/passwd", "@all", "wf", "<b>", "\u202e"]),
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
jobs = st.fixed_dictionaries(
    {"name": texts, "status": st.sampled_from(STATUSES) | texts},
    optional={"start_time": numbers, "spec": anything, "error": texts},
)
stages = st.fixed_dictionaries(
    {"name": texts}, optional={"jobs": st.lists(jobs, max_size=3) | anything, "status": texts}
)
optional = {
    "remark": texts,
    "stages": st.lists(stages, max_size=3) | anything,
    "task_creator": texts,
    "start_time": numbers,
    "extra": anything,
}
# Near misses: a task the configuration knows, one field at a time made hostile.
known = st.fixed_dictionaries(
    {
        "task_id": numbers,
        "workflow_name": st.just("wf"),
        "status": st.sampled_from(STATUSES),
    },
    optional=optional,
)
# Anything in the shape of a task.
tasks = st.fixed_dictionaries(
    {},
    optional={
        "task_id": numbers | texts | st.none(),
        "workflow_name": st.sampled_from(["wf", "other"]) | texts,
        "status": st.sampled_from(STATUSES) | texts,
        **optional,
    },
)
bodies = st.one_of(
    known,
    known.map(lambda task: {"object_kind": "workflow", "workflow": task}),
    tasks,
    anything,
)


def _encode(body: object) -> bytes:
    """As a client would send it: JSON, with whatever Python's encoder lets through (lone
    surrogates as \\udxxx escapes, NaN and Infinity, integers of any size)."""
    return json.dumps(body).encode("utf-8")


def _counts(home) -> tuple[int, int]:
    with sqlite3.connect(f"file:{home}/tidings.db?mode=ro", uri=True) as db:
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
        deliveries = db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    return events, deliveries


def _deliveries_of(home, event_id: str) -> int:
    with sqlite3.connect(f"file:{home}/tidings.db?mode=ro", uri=True) as db:
        query = "SELECT count(*) FROM deliveries WHERE event_id = ?"
        return db.execute(query, (event_id,)).fetchone()[0]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, status=st.none() | st.sampled_from(STATUSES) | texts)
def test_post_events_fuzz(api, body, status):
    from urllib.parse import quote

    path = "/api/v1/events"
    if status is not None:
        path += "?status=" + quote(status.encode("utf-8", "surrogatepass"), safe="")
    before = _counts(api.home)
    answer = api.call(
        "POST",
        path,
        token=SENDER,
        raw=_encode(body),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status in (200, 202, 404, 409, 413, 422), answer
    for secret in SECRETS:
        assert secret.encode() not in answer.body, (secret, answer)
    shown = answer.json()  # always JSON, whatever went wrong
    after = _counts(api.home)
    if answer.status == 202:
        # Recorded whole: the event, and every delivery it answered with.
        assert after[0] == before[0] + 1
        assert _deliveries_of(api.home, shown["event_id"]) == len(shown["deliveries"])
        assert after[1] == before[1] + len(shown["deliveries"])
    else:
        assert after == before, answer  # nothing of it recorded (200: seen before)
        assert answer.status == 200 or set(shown) == {"error", "problems"}


def test_the_fuzz_reaches_the_recording_path(api):
    """The strategies are not all refused at the door: a plain good event is recorded."""
    body = {"task_id": 4242, "workflow_name": "wf", "status": "failed", "remark": DT_SECRET}
    answer = api.call(
        "POST",
        "/api/v1/events",
        token=SENDER,
        raw=_encode(body),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 202 and DT_SECRET.encode() not in answer.body
    assert len(answer.json()["deliveries"]) == 2
