"""A destination is what it addresses, not where its ctl stands: deliveries queued by
`send --no-wait` and sent by `worker --once` under an edited configuration reach exactly the
robot they were planned for, or end dead with the reason — on SQLite and PostgreSQL, over
real sockets to the sandbox."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

import pytest

from helpers import seed_task, write_json
from tidings.channels import identity
from tidings.config.loading import loads
from tidings.errors import ConfigError

SECRET_A = "SECteam-a-0123456789"
SECRET_B = "SECteam-b-0123456789"


def dingding(url: str, mobile: str, secret: str | None = None) -> str:
    secret_line = f"\n          secret: {secret}" if secret else ""
    return f"""
      - webhook_type: dingding
        notify_type: [passed]
        dingding_notification_config:
          hook_address: "{url}"
          at_mobiles: ["{mobile}"]{secret_line}"""


def webhook(url: str) -> str:
    return f"""
      - webhook_type: webhook
        notify_type: [passed]
        webhook_notification_config: {{address: "{url}"}}"""


def config_text(*ctls: str, workflow: str = "demo-workflow-dev") -> str:
    return f"workflows:\n  - name: {workflow}\n    notify_ctls:" + "".join(ctls) + "\n"


def write_config(path: Path, *ctls: str) -> str:
    path.write_text(config_text(*ctls), "utf-8")
    return str(path)


@pytest.fixture
def robots(sandbox):
    """Two teams' DingTalk robots (加签, keyword 工作流) and the URLs they are reached at."""
    a = sandbox.dingtalk_robot("team-a", secret=SECRET_A, keywords=("工作流",))
    b = sandbox.dingtalk_robot("team-b", secret=SECRET_B, keywords=("工作流",))
    return a, b


@pytest.fixture
def run(cli, database_url):
    """The CLI on this test's database (SQLite file or PostgreSQL)."""

    def command(*args: str):
        return cli(*args, env={"TIDINGS_DATABASE_URL": database_url})

    return command


def queue_then_edit(tmp_path, run, before: list[str], after: list[str]):
    """`send --no-wait` with one configuration, then `worker --once` with its edited text."""
    config = tmp_path / "tidings.yaml"
    task = write_json(tmp_path / "task.json", seed_task())
    write_config(config, *before)
    queued = run("send", "-t", task, "--no-wait")
    assert queued.code == 0, queued.output
    write_config(config, *after)
    worked = run("worker", "--once")
    assert worked.code == 0, worked.output
    return {row["source"]: row for row in run("deliveries", "--json").json()}, worked


def mentions_of(sandbox, token: str) -> list[list[str]]:
    return [r.mentions for r in sandbox.accepted("dingtalk", token)]


def test_reordered_robots_each_get_their_own_team_s_message(tmp_path, sandbox, robots, run):
    a, b = robots
    ctl_a, ctl_b = dingding(a, "13800000001", SECRET_A), dingding(b, "13800000002", SECRET_B)
    rows, _ = queue_then_edit(tmp_path, run, [ctl_a, ctl_b], [ctl_b, ctl_a])
    assert mentions_of(sandbox, "team-a") == [["13800000001"]]
    assert mentions_of(sandbox, "team-b") == [["13800000002"]]
    assert {row["status"] for row in rows.values()} == {"sent"}
    # History still says which ctl each came from when it was queued.
    assert set(rows) == {"demo-workflow-dev/notify_ctls[0]", "demo-workflow-dev/notify_ctls[1]"}


def test_a_ctl_inserted_at_the_top_changes_nothing_queued(tmp_path, sandbox, robots, run):
    a, b = robots
    other = sandbox.webhook_inbox("newcomer")
    ctl_a, ctl_b = dingding(a, "13800000001", SECRET_A), dingding(b, "13800000002", SECRET_B)
    queue_then_edit(tmp_path, run, [ctl_a, ctl_b], [webhook(other), ctl_a, ctl_b])
    assert mentions_of(sandbox, "team-a") == [["13800000001"]]
    assert mentions_of(sandbox, "team-b") == [["13800000002"]]
    assert sandbox.received("webhook") == []  # it was not configured when the task was sent


def test_a_removed_robot_s_message_is_dead_with_the_reason_never_sent_elsewhere(
    tmp_path, sandbox, robots, run
):
    a, b = robots
    ctl_a, ctl_b = dingding(a, "13800000001", SECRET_A), dingding(b, "13800000002", SECRET_B)
    rows, worked = queue_then_edit(tmp_path, run, [ctl_a, ctl_b], [ctl_b])
    assert mentions_of(sandbox, "team-a") == []
    assert mentions_of(sandbox, "team-b") == [["13800000002"]]  # once: not A's as well
    gone = rows["demo-workflow-dev/notify_ctls[0]"]
    assert gone["status"] == "dead" and gone["attempts"] == 0
    reason = gone["last_error"]
    assert "no longer in" in reason and "--replan" in reason
    assert "access_token=***" in reason and "team-a" not in reason  # the address, redacted
    assert "status=dead" in worked.stderr  # the worker said so


def test_a_changed_address_is_not_substituted_and_replan_sends_to_the_new_one(
    tmp_path, sandbox, robots, run
):
    a, _ = robots
    moved = sandbox.dingtalk_robot("team-a-new", secret=SECRET_A, keywords=("工作流",))
    rows, _ = queue_then_edit(
        tmp_path,
        run,
        [dingding(a, "13800000001", SECRET_A)],
        [dingding(moved, "13800000001", SECRET_A)],
    )
    assert sandbox.received("dingtalk") == []
    (dead,) = rows.values()
    assert dead["status"] == "dead"
    replanned = run("retry", dead["id"], "--replan")
    assert replanned.code == 0, replanned.output
    assert mentions_of(sandbox, "team-a-new") == [["13800000001"]]
    assert mentions_of(sandbox, "team-a") == []
    # Re-planning again sends nothing twice: the event has reached today's destination.
    again = run("retry", dead["id"], "--replan")
    assert again.code == 0 and "nowhere it has not already reached" in again.stderr
    assert len(sandbox.accepted("dingtalk")) == 1


def test_a_changed_type_ends_the_queued_message_dead(tmp_path, sandbox, robots, run):
    a, _ = robots
    inbox = sandbox.webhook_inbox("receiver")
    rows, _ = queue_then_edit(
        tmp_path, run, [dingding(a, "13800000001", SECRET_A)], [webhook(inbox)]
    )
    assert sandbox.received() == []
    (dead,) = rows.values()
    assert dead["channel"] == "dingding" and dead["status"] == "dead"
    # And the next task goes out under the new type: nothing is stuck on the old one.
    task = write_json(tmp_path / "task2.json", {**seed_task(), "task_id": 48})
    sent = run("send", "-t", task)
    assert sent.code == 0, sent.output
    assert len(sandbox.accepted("webhook")) == 1


def test_a_rotated_secret_just_works(tmp_path, sandbox, robots, run):
    a, _ = robots
    rotated = "SECteam-a-rotated-9876"
    config = tmp_path / "tidings.yaml"
    write_config(config, dingding(a, "13800000001", SECRET_A))
    task = write_json(tmp_path / "task.json", seed_task())
    assert run("send", "-t", task, "--no-wait").code == 0
    sandbox.dingtalk_robot("team-a", secret=rotated, keywords=("工作流",))
    write_config(config, dingding(a, "13800000001", rotated))
    assert run("worker", "--once").code == 0
    assert mentions_of(sandbox, "team-a") == [["13800000001"]]


def test_two_files_with_one_workflow_name_both_send(tmp_path, sandbox, robots, run):
    a, _ = robots
    inbox = sandbox.webhook_inbox("prod")
    task = write_json(tmp_path / "task.json", seed_task())
    staging = write_config(tmp_path / "staging.yaml", dingding(a, "13800000001", SECRET_A))
    prod = write_config(tmp_path / "prod.yaml", webhook(inbox))
    for _ in range(2):  # and again: nothing of the first file lingers in the second's way
        assert run("send", "-c", staging, "-t", task, "--again").code == 0
        sent = run("send", "-c", prod, "-t", task, "--again")
        assert sent.code == 0, sent.output
    assert len(sandbox.accepted("dingtalk")) == 2 and len(sandbox.accepted("webhook")) == 2


def test_other_senders_leave_a_configuration_s_queue_alone(tmp_path, sandbox, robots, run):
    a, b = robots
    inbox = sandbox.webhook_inbox("elsewhere")
    task = write_json(tmp_path / "task.json", seed_task())
    mine = write_config(tmp_path / "a.yaml", dingding(a, "13800000001", SECRET_A))
    other = write_config(tmp_path / "other.yaml", dingding(b, "13800000002", SECRET_B))
    for task_id in (1, 2, 3):
        numbered = write_json(tmp_path / f"t{task_id}.json", {**seed_task(), "task_id": task_id})
        assert run("send", "-c", mine, "-t", numbered, "--no-wait").code == 0
    notified = run("notify", "--type", "webhook", "--hook-address", inbox, "--content", "hi")
    assert notified.code == 0, notified.output
    assert run("send", "-c", other, "-t", task).code == 0
    pending = run("deliveries", "--status", "pending", "--json").json()
    assert len(pending) == 3 and all(row["attempts"] == 0 for row in pending)
    assert sandbox.received("dingtalk", "team-a") == []
    assert run("worker", "-c", mine, "--once").code == 0
    titles = [r.text.split("#")[1].split()[0] for r in sandbox.accepted("dingtalk", "team-a")]
    assert titles == ["1", "2", "3"]


def test_a_worker_on_an_older_copy_leaves_newer_deliveries_alone(tmp_path, sandbox, robots):
    """A rolling deploy: the new copy of the configuration names a new robot; a worker still
    on the old copy neither sends nor ends what the new copy queued."""
    from tidings.delivery.outbox import NewEvent
    from tidings.delivery.resolve import Resolver
    from tidings.delivery.worker import Worker
    from tidings.dispatch.plan import plan_event
    from tidings.dispatch.task import parse_task
    from tidings.sending.record import record
    from tidings.store.db import Store

    a, b = robots
    path = str(tmp_path / "tidings.yaml")  # one file, read before and after the deploy
    old = loads(config_text(dingding(a, "1", SECRET_A)), path)
    time.sleep(0.01)
    new = loads(config_text(dingding(b, "2", SECRET_B)), path)
    assert old.name == new.name
    store = Store(f"sqlite:///{tmp_path}/db.sqlite").open()
    task = parse_task(seed_task())
    plan = plan_event(new, new.workflow("demo-workflow-dev"), task)
    event = NewEvent("task", "demo-workflow-dev", 47, "passed", config=new.name)
    (delivery,) = record(store, plan, event, now=time.time(), expires_in=3600).delivery_ids

    async def old_worker() -> dict[str, str]:
        async with Worker(store, Resolver(old)) as worker:
            await worker.step()
            return await worker.run_until([delivery], time.time() + 0.3)

    assert asyncio.run(old_worker()) == {delivery: "pending"}
    assert sandbox.received() == []


def test_two_workflows_on_one_robot_are_paced_as_one_robot(tmp_path):
    """40 messages from two workflows' ctls to one robot: 20 a minute, never "too fast"."""
    from helpers import enqueue_tasks
    from tidings.delivery.clock import ScaledClock
    from tidings.delivery.resolve import Resolver
    from tidings.delivery.settings import limits_of
    from tidings.delivery.worker import Settings, Worker
    from tidings.sandbox import Sandbox
    from tidings.store.db import Store

    clock = ScaledClock(scale=600)  # one platform minute is 0.1 s here
    store = Store(f"sqlite:///{tmp_path}/db.sqlite").open()

    async def scenario() -> list:
        async with Sandbox(clock=clock) as sb:
            url = sb.dingtalk_robot("shared", secret="SECshared0123", keywords=("工作流",))
            ctl = (
                "      - {webhook_type: dingding, notify_type: [passed], dingding_notification_"
                f"config: {{hook_address: '{url}', secret: SECshared0123}}}}\n"
            )
            config = loads(
                f"workflows:\n  - name: one\n    notify_ctls:\n{ctl}"
                f"  - name: two\n    notify_ctls:\n{ctl}"
            )
            ids = enqueue_tasks(store, config, 20, "one") + enqueue_tasks(store, config, 20, "two")
            worker = Worker(
                store,
                Resolver(config),
                clock=clock,
                limits=limits_of(config),
                # One message each (no digests: tests/test_coalesce.py), to see the pacing.
                settings=Settings(lease=600, coalesce_after=0),
            )
            async with worker:
                statuses = await worker.run_until(ids, clock.now() + 3600)
            assert set(statuses.values()) == {"sent"}
            return sb.received("dingtalk")

    received = asyncio.run(scenario())
    assert [r.code for r in received] == [0] * 40  # no 130101 "send too fast"
    assert received[-1].at - received[0].at >= 60  # 40 at 20 a minute: over a minute


def test_keys_name_what_is_addressed():
    config = loads(
        textwrap.dedent(
            """
            workflows:
              - name: one
                notify_ctls:
                  - {webhook_type: dingding, notify_type: [passed],
                     dingding_notification_config: {hook_address: "https://d/x?access_token=T",
                                                    secret: S1234567}}
                  - {webhook_type: webhook, notify_type: [passed],
                     webhook_notification_config: {address: "https://d/x?access_token=T"}}
              - name: two
                notify_ctls:
                  - {webhook_type: dingding, notify_type: [failed],
                     dingding_notification_config: {hook_address: "https://d/x?access_token=T",
                                                    secret: S1234567, at_mobiles: ["1"]}}
            """
        )
    )
    from tidings.delivery.resolve import configured

    keys = list(configured(config))
    assert len(keys) == 2  # one robot in two workflows is one destination; a webhook another
    assert {identity.channel_of(k) for k in keys} == {"dingding", "webhook"}
    assert all("access_token" not in k and "T" not in k.split(":")[1] for k in keys)


def test_one_robot_with_two_secrets_is_a_configuration_error():
    text = """
    workflows:
      - name: one
        notify_ctls:
          - {webhook_type: dingding, notify_type: [passed],
             dingding_notification_config: {hook_address: "https://d/x?access_token=T",
                                            secret: SECone12345}}
      - name: two
        notify_ctls:
          - {webhook_type: dingding, notify_type: [passed],
             dingding_notification_config: {hook_address: "https://d/x?access_token=T",
                                            secret: SECtwo12345}}
    """
    with pytest.raises(ConfigError) as caught:
        loads(textwrap.dedent(text))
    (problem,) = caught.value.problems
    assert problem.path == "workflows[1].notify_ctls[0].dingding_notification_config.secret"
    assert "workflows[0].notify_ctls[0]" in problem.message


def test_the_upgrade_ends_position_keyed_pending_deliveries_dead_and_keeps_their_source(
    tmp_path, database_url
):
    """A database of the previous revision: what was pending is never sent on a guess."""
    import orjson
    from sqlalchemy import text

    from tidings.store.db import Store

    store = Store(database_url)
    store.upgrade("0002")
    legacy = [
        ("e1", "d1", "release/notify_ctls[0]", "pending"),
        ("e1", "d2", "release/notify_ctls[1]", "sent"),
        ("e2", "d3", "release/jobs/build/notify_ctls[0]", "pending"),
        ("e3", "d4", "release/notify_ctls[2]/to/qa@example.com", "failed"),
    ]
    with store.engine.begin() as connection:
        for event in ("e1", "e2", "e3"):
            connection.execute(
                text(
                    "INSERT INTO events (id, kind, workflow, task_id, status, created_at) "
                    "VALUES (:id, 'task', 'release', 1, 'passed', 0)"
                ),
                {"id": event},
            )
        for event, delivery, key, status in legacy:
            connection.execute(
                text(
                    "INSERT INTO deliveries (id, event_id, channel, destination, address, label, "
                    "request, status, attempts, next_attempt_at, expires_at, created_at, "
                    "updated_at) VALUES (:id, :e, 'dingding', :key, 'https://x/?t=***', 'm', "
                    ":request, :status, 0, 0, 9e12, 0, 0)"
                ),
                {"id": delivery, "e": event, "key": key, "status": status, "request": "{}"},
            )
        connection.execute(
            text(
                "INSERT INTO destinations (key, channel, next_due_at) "
                "VALUES ('release/notify_ctls[0]', 'dingding', 0)"
            )
        )
    store.open()  # migrates to the newest revision, as any command does
    with store.engine.connect() as connection:
        rows = {
            row.id: row
            for row in connection.execute(
                text("SELECT id, status, source, last_error FROM deliveries")
            )
        }
        scopes = dict(connection.execute(text("SELECT id, scope FROM events")).all())
        destinations = connection.execute(text("SELECT count(*) FROM destinations")).scalar()
    assert {i: r.status for i, r in rows.items()} == {
        "d1": "dead",
        "d2": "sent",
        "d3": "dead",
        "d4": "failed",
    }
    assert rows["d4"].source == "release/notify_ctls[2]"
    assert "cannot be proven" in rows["d1"].last_error
    assert "retry d1 --replan" in rows["d1"].last_error
    assert rows["d2"].last_error is None
    scope = scopes["e2"]
    assert (orjson.loads(scope) if isinstance(scope, str) else scope) == {"job": "build"}
    assert scopes["e1"] is None and destinations == 0
    store.close()


def test_what_no_process_can_send_expires_at_its_age_limit(tmp_path, sandbox, robots):
    """Queued for a robot no running configuration has: ended by the age limit, with why."""
    from tidings.delivery.outbox import NewEvent
    from tidings.delivery.resolve import Resolver
    from tidings.delivery.worker import Worker
    from tidings.dispatch.plan import plan_event
    from tidings.dispatch.task import parse_task
    from tidings.sending.record import record
    from tidings.store.db import Store

    a, b = robots
    mine = loads(config_text(dingding(a, "1", SECRET_A)), str(tmp_path / "a.yaml"))
    other = loads(config_text(dingding(b, "2", SECRET_B)), str(tmp_path / "b.yaml"))
    store = Store(f"sqlite:///{tmp_path}/db.sqlite").open()
    plan = plan_event(mine, mine.workflow("demo-workflow-dev"), parse_task(seed_task()))
    event = NewEvent("task", "demo-workflow-dev", 47, "passed", config=mine.name)
    (delivery,) = record(store, plan, event, now=time.time(), expires_in=0.2).delivery_ids
    time.sleep(0.3)
    finals = []

    async def other_worker() -> dict[str, str]:
        async with Worker(store, Resolver(other), on_final=finals.append) as worker:
            return await worker.run_until([delivery], time.time() + 1)

    assert asyncio.run(other_worker()) == {delivery: "dead"}
    (final,) = finals
    assert final.detail.startswith("expired: no process whose configuration has its destination")
    assert sandbox.received() == []
