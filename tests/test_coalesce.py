"""Coalescing (issue #18): a rate-limited robot's backlog becomes digests within its limits,
against the sandbox's robots (which enforce 20 a minute) on a scaled clock."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import seed_task
from tidings.config.loading import loads
from tidings.delivery.clock import ScaledClock
from tidings.delivery.outbox import NewEvent
from tidings.delivery.resolve import Resolver
from tidings.delivery.settings import limits_of, settings_of
from tidings.delivery.worker import Worker
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task
from tidings.sandbox import Sandbox
from tidings.sending.record import record
from tidings.store.db import Store

SECRET = "SECcoalesce0123"


@pytest.fixture
def store(database_url: str) -> Store:
    """A new database: SQLite, and PostgreSQL (where claims and coalescing lock rows)."""
    return Store(database_url).open()


def robot_config(ctls: str, extra: str = "") -> str:
    return (
        f"system:\n  delivery: {{lease: 600{extra}}}\n"
        "workflows:\n  - name: bulk\n    notify_ctls:\n" + ctls
    )


def dingtalk_ctl(url: str, mobiles: str = "[]", coalesce: str = "") -> str:
    return (
        "      - {webhook_type: dingding, notify_type: [created, passed, failed], "
        f"{coalesce}dingding_notification_config: {{hook_address: '{url}', secret: {SECRET}, "
        f"at_mobiles: {mobiles}}}}}\n"
    )


def enqueue(store: Store, config, events: list[tuple[int, str]], creator: str = "") -> list[str]:
    """Record task events (task id, status) of workflow `bulk`, as `send --no-wait` would."""
    ids: list[str] = []
    base = seed_task()
    for task_id, status in events:
        snapshot = {**base, "workflow_name": "bulk", "task_id": task_id, "status": status}
        if creator:
            snapshot["task_creator"] = creator
        task = parse_task(snapshot)
        plan = plan_event(config, config.workflow("bulk"), task, status=status)
        event = NewEvent("task", "bulk", task_id, status, snapshot=task.model_dump(mode="json"))
        ids += record(store, plan, event, now=time.time(), expires_in=3600).delivery_ids
    return ids


def statuses(store: Store) -> list[tuple[str, str | None, int, str]]:
    with store.transaction(write=False) as tx:
        return tx.run("SELECT status, digest_id, lane, id FROM deliveries ORDER BY seq")


def worker_for(store: Store, config, clock, **options) -> Worker:
    """A worker with the configuration's settings and limits, on `clock`."""
    return Worker(
        store,
        Resolver(config),
        clock=clock,
        limits=limits_of(config),
        settings=settings_of(config),
        **options,
    )


async def worked(store: Store, config, clock, ids: list[str], **options) -> dict[str, str]:
    """Run a worker until these deliveries are final (an hour of `clock` at most)."""
    async with worker_for(store, config, clock, **options) as worker:
        return await worker.run_until(ids, clock.now() + 3600)


def work(store: Store, config, clock, ids: list[str]) -> dict[str, str]:
    return asyncio.run(worked(store, config, clock, ids))


TASK = re.compile(r"\[#(\d+)\]")


def test_a_dingtalk_backlog_becomes_digests_within_the_limit(store):
    """200 events for one robot at once: a few digests, never throttled, every task once."""
    clock = ScaledClock(scale=10)  # one platform minute is six seconds here

    async def scenario():
        async with Sandbox(clock=clock) as sb:
            url = sb.dingtalk_robot("backlog", secret=SECRET, keywords=("工作流",))
            config = loads(robot_config(dingtalk_ctl(url, "['13800000001', '13800000002']")))
            # Tasks 1-100 created then passed: 200 events, one line per task in the digests.
            events = [(i, "created") for i in range(1, 101)]
            events += [(i, "passed") for i in range(1, 101)]
            ids = enqueue(store, config, events)
            started = clock.now()
            finals = await worked(store, config, clock, ids)
            return finals, sb.received("dingtalk"), clock.now() - started

    finals, received, took = asyncio.run(scenario())
    assert set(finals.values()) == {"coalesced"}
    assert [r.code for r in received] == [0] * len(received)  # never "too fast"
    assert 1 <= len(received) <= 20
    assert took < 60  # everything arrived within the platform minute
    lines = [int(n) for r in received for n in TASK.findall(r.text)]
    assert sorted(lines) == list(range(1, 101))  # each task once, in exactly one digest
    for r in received:
        assert "工作流" in r.text  # the robot's keyword is in every digest
        assert r.text.count("@13800000001") == 1 and r.text.count("@13800000002") == 1
        assert set(r.mentions) == {"13800000001", "13800000002"}
        assert len(r.text.encode()) < 20000
    # The final status superseded the task's own `created`, and says so.
    assert "执行成功" in received[-1].text and "开始执行" not in "".join(r.text for r in received)
    assert "（2 条通知）" in received[0].text
    rows = statuses(store)
    merged = [row for row in rows if row[2] == 1]
    digests = [row for row in rows if row[2] == 0]
    assert {row[0] for row in merged} == {"coalesced"} and len(merged) == 200
    assert {row[0] for row in digests} == {"sent"} and len(digests) == len(received)
    assert {row[1] for row in merged} <= {row[3] for row in digests}  # each names its digest


def test_a_short_backlog_is_sent_message_by_message(store):
    """Five events fit the robot's rate: each arrives as itself, in order, no digest."""
    clock = ScaledClock(scale=30)

    async def scenario():
        async with Sandbox(clock=clock) as sb:
            url = sb.dingtalk_robot("short", secret=SECRET, keywords=("工作流",))
            config = loads(robot_config(dingtalk_ctl(url)))
            ids = enqueue(store, config, [(i, "passed") for i in range(1, 6)])
            finals = await worked(store, config, clock, ids)
            return finals, sb.accepted("dingtalk")

    finals, received = asyncio.run(scenario())
    assert set(finals.values()) == {"sent"}
    assert [int(r.text.split("#")[1].split()[0]) for r in received] == [1, 2, 3, 4, 5]
    assert {row[0] for row in statuses(store)} == {"sent"}


def run_backlog(store: Store, config_text: str, platform: str, events, scale: float = 30):
    """Record `events` for the robot of `config_text` (its URL from the sandbox: `{url}`),
    work them; (final statuses, what the platform received)."""
    clock = ScaledClock(scale=scale)

    async def scenario():
        async with Sandbox(clock=clock) as sb:
            url = {
                "wecom": lambda: sb.wecom_robot("wecom-backlog"),
                "feishu": lambda: sb.feishu_bot("fs-backlog", keywords=("工作流",)),
                "msteams": lambda: sb.msteams_webhook("teams-backlog"),
                "dingtalk": lambda: sb.dingtalk_robot("dt", secret=SECRET, keywords=("工作流",)),
                "webhook": lambda: sb.webhook_inbox("hook"),
                "slack": lambda: sb.slack_webhook("slack-backlog"),
            }[platform]()
            config = loads(config_text.replace("{url}", url))
            ids = enqueue(store, config, events)
            finals = await worked(store, config, clock, ids)
            return finals, sb.received(platform)

    return asyncio.run(scenario())


def test_wecom_digests_fit_4096_bytes_and_mention_everyone_once(store):
    ctl = (
        "      - {webhook_type: wechat, notify_type: [passed], wechat_notification_config: "
        "{hook_address: '{url}', at_users: [zhangsan, lisi], is_at_all: true}}\n"
    )
    config = robot_config(ctl).replace("{url}", "{url}")
    finals, received = run_backlog(store, config, "wecom", [(i, "passed") for i in range(1, 121)])
    assert set(finals.values()) == {"coalesced"}
    assert all(r.accepted for r in received)  # never too fast, never too long
    markdown = [r for r in received if r.msgtype == "markdown"]
    at_all = [r for r in received if r.msgtype == "text"]
    assert len(markdown) > 1  # 120 lines do not fit 4096 bytes: several digests
    assert len(received) <= 20
    assert all(len(r.body["markdown"]["content"].encode()) <= 4096 for r in markdown)
    tasks = [int(n) for r in markdown for n in TASK.findall(r.text)]
    assert sorted(tasks) == list(range(1, 121))
    for r in markdown:
        assert r.text.count("<@zhangsan>") == 1 and r.text.count("<@lisi>") == 1
    assert len(at_all) == len(markdown)  # one @all with each digest, not one per event
    # The first digest holds the oldest tasks: digests go out in event order.
    firsts = [min(int(n) for n in TASK.findall(r.text)) for r in markdown]
    assert firsts == sorted(firsts)


def test_wecom_digests_mentioning_300_people_are_all_accepted_each_person_once(store):
    """300 mentions make a line of ~6 KB, more than a WeCom message holds: each digest is
    followed by the mentions in messages of their own, each within 4096 bytes, every person
    on one of them; the platform accepts every message."""
    users = [f"dev{i:04d}.team" for i in range(300)]
    ctl = (
        "      - {webhook_type: wechat, notify_type: [passed], wechat_notification_config: "
        "{hook_address: '{url}', at_users: [" + ", ".join(users) + "]}}\n"
    )
    finals, received = run_backlog(
        store, robot_config(ctl), "wecom", [(i, "passed") for i in range(1, 41)]
    )
    assert set(finals.values()) == {"coalesced"}
    assert received and all(r.accepted for r in received), [r.message for r in received]
    assert all(len(r.body["markdown"]["content"].encode()) <= 4096 for r in received)
    digests = [r for r in received if TASK.search(r.text)]
    assert sorted(int(n) for r in digests for n in TASK.findall(r.text)) == list(range(1, 41))
    mentioned = [m for r in received for m in re.findall(r"<@([^>]+)>", r.text)]
    assert all(mentioned.count(user) == len(digests) for user in users)
    assert len(mentioned) == len(users) * len(digests)


def test_dingtalk_digests_mentioning_1500_people_are_all_accepted_each_person_once(store):
    """1,500 mobiles are ~40 KB of `@` text and `at` list, twice the robot's 20000 bytes: each
    digest is followed by the mentions in as many messages as fit, every one accepted (the
    robot checks its keyword, its signature and its size) and notifying its people."""
    mobiles = [f"138{i:08d}" for i in range(1500)]
    ctl = dingtalk_ctl("{url}", "[" + ", ".join(mobiles) + "]")
    finals, received = run_backlog(
        store, robot_config(ctl), "dingtalk", [(i, "passed") for i in range(1, 41)]
    )
    assert set(finals.values()) == {"coalesced"}
    assert received and all(r.accepted for r in received), [r.message for r in received]
    digests = [r for r in received if TASK.search(r.text)]
    assert sorted(int(n) for r in digests for n in TASK.findall(r.text)) == list(range(1, 41))
    mentioned = [m for r in received for m in r.mentions]
    assert all(mentioned.count(mobile) == len(digests) for mobile in mobiles)
    assert len(mentioned) == len(mobiles) * len(digests)


def test_feishu_digest_cards_fit_20_kb_with_mentions_once(store):
    ctl = (
        "      - {webhook_type: feishu, notify_type: [passed, failed], "
        "lark_hook_notification_config: {hook_address: '{url}', at_users: [ou_alice, ou_bob]}}\n"
    )
    events = [(i, "passed" if i % 3 else "failed") for i in range(1, 301)]
    finals, received = run_backlog(store, robot_config(ctl), "feishu", events)
    assert set(finals.values()) == {"coalesced"}
    assert all(r.accepted for r in received)
    cards = [r for r in received if r.msgtype == "interactive"]
    mentions = [r for r in received if r.msgtype == "text"]
    assert cards and len(received) < 100
    contents = [str(r.body["card"]) for r in cards]
    tasks = [int(n) for c in contents for n in TASK.findall(c)]
    assert sorted(tasks) == list(range(1, 301))
    assert len(mentions) == len(cards)
    for r in mentions:
        assert sorted(r.mentions) == ["ou_alice", "ou_bob"]


def test_feishu_digests_mentioning_600_people_are_all_accepted_each_person_once(store):
    """600 `<at>` tags are ~35 KB, more than the bot's 20 KB body: the mentions after each
    digest come in as many text messages as fit; the bot accepts every one."""
    users = [f"ou_{i:032x}" for i in range(600)]
    ctl = (
        "      - {webhook_type: feishu, notify_type: [passed], "
        "lark_hook_notification_config: {hook_address: '{url}', at_users: ["
        + ", ".join(users)
        + "]}}\n"
    )
    events = [(i, "passed") for i in range(1, 41)]
    finals, received = run_backlog(store, robot_config(ctl), "feishu", events)
    assert set(finals.values()) == {"coalesced"}
    assert received and all(r.accepted for r in received), [r.message for r in received]
    cards = [r for r in received if r.msgtype == "interactive"]
    mentioned = [m for r in received if r.msgtype == "text" for m in r.mentions]
    assert sorted(int(n) for r in cards for n in TASK.findall(str(r.body["card"]))) == list(
        range(1, 41)
    )
    assert all(mentioned.count(user) == len(cards) for user in users)
    assert len(mentioned) == len(users) * len(cards)


def test_teams_digest_cards_fit_28_kb(store):
    ctl = (
        "      - {webhook_type: msteams, notify_type: [passed], msteams_notification_config: "
        "{hook_address: '{url}', at_emails: [a@example.com]}}\n"
    )
    # 4 a second send 240 a minute: a backlog of 300 cannot go within the minute, though a
    # claim reads 200 of it (the whole backlog counts); what is left after the first
    # digests (100) can, and goes message by message.
    events = [(i, "passed") for i in range(1, 301)]
    finals, received = run_backlog(store, robot_config(ctl), "msteams", events)
    merged = [i for i, status in finals.items() if status == "coalesced"]
    assert len(merged) >= 200 and set(finals.values()) == {"coalesced", "sent"}
    assert all(r.accepted for r in received)
    in_digests = [int(n) for r in received for n in TASK.findall(str(r.body))]
    assert len(in_digests) == len(set(in_digests)) == len(merged)
    singles = [r for r in received if not TASK.findall(str(r.body))]
    assert len(singles) == 300 - len(merged)
    assert all(r.mentions == ["a@example.com"] for r in received)


def test_a_webhook_backlog_is_never_merged(store):
    """Each receiver needs each payload: 60 events to a webhook paced at 20 a minute."""
    config = (
        "system:\n  delivery: {lease: 600, webhook_per_minute: 20}\n"
        "workflows:\n  - name: bulk\n    notify_ctls:\n"
        "      - {webhook_type: webhook, notify_type: [passed], "
        "webhook_notification_config: {address: '{url}'}}\n"
    )
    finals, received = run_backlog(
        store, config, "webhook", [(i, "passed") for i in range(1, 61)], scale=600
    )
    assert set(finals.values()) == {"sent"}
    assert [r.body["workflow"]["task_id"] for r in received] == list(range(1, 61))
    assert {row[0] for row in statuses(store)} == {"sent"}


def test_a_ctl_with_coalesce_false_is_sent_message_by_message(store):
    finals, received = run_backlog(
        store,
        robot_config(dingtalk_ctl("{url}", coalesce="coalesce: false, ")),
        "dingtalk",
        [(i, "passed") for i in range(1, 41)],
        scale=600,
    )
    assert set(finals.values()) == {"sent"}
    assert [r.code for r in received] == [0] * 40
    assert [int(r.text.split("#")[1].split()[0]) for r in received] == list(range(1, 41))


def test_sigkill_between_building_a_digest_and_recording_it_loses_and_repeats_nothing(
    tmp_path, store, sandbox
):
    """The worker is killed -9 right after it built the digests of a 40-event backlog and
    before it recorded them; another worker then sends every event exactly once."""
    url = sandbox.dingtalk_robot("crash", secret=SECRET, keywords=("工作流",))
    text = robot_config(dingtalk_ctl(url, "['13800000001']"), extra=", timeout: 0.5")
    text = text.replace("lease: 600", "lease: 2")  # the dead worker's lease ends soon
    path = tmp_path / "tidings.yaml"
    path.write_text(text, "utf-8")
    config = loads(text)
    ids = enqueue(store, config, [(i, "passed") for i in range(1, 41)])
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": store.url,
        "TIDINGS_FAILPOINT": "coalesce-built",
        "NO_COLOR": "1",
    }
    killed = subprocess.run(
        [sys.executable, "-m", "tidings", "worker", "-c", str(path)],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert sandbox.received("dingtalk") == []
    # Nothing half-recorded: the backlog is pending as it was, no digest exists.
    assert [(row[0], row[1], row[2]) for row in statuses(store)] == [("pending", None, 1)] * 40

    clock = ScaledClock(scale=1)
    finals = work(store, config, clock, ids)
    assert set(finals.values()) == {"coalesced"}
    received = sandbox.received("dingtalk")
    assert [r.code for r in received] == [0] * len(received)
    tasks = [int(n) for r in received for n in TASK.findall(r.text)]
    assert sorted(tasks) == list(range(1, 41))  # every event once: none lost, none twice
    rows = statuses(store)
    assert [row[0] for row in rows if row[2] == 0] == ["sent"] * len(received)


def failed_digest(tmp_path, sandbox, cli) -> tuple[Path, str]:
    """30 events merged into a digest that failed (a wrong 加签 secret); the configuration's
    path and its text with that secret."""
    url = sandbox.dingtalk_robot("history", secret=SECRET, keywords=("工作流",))
    database = f"sqlite:///{tmp_path}/history.db"
    wrong = robot_config(dingtalk_ctl(url)).replace(SECRET, "SECwrong0000")
    wrong = wrong.replace("system:\n", f"system:\n  database_url: '{database}'\n")
    path = tmp_path / "tidings.yaml"
    path.write_text(wrong, "utf-8")
    store = Store(database).open()
    enqueue(store, loads(wrong), [(i, "passed") for i in range(1, 31)])
    assert cli("worker", "--once", "-c", str(path)).code == 0
    return path, wrong


def test_history_shows_digests_and_retry_sends_a_failed_one(tmp_path, sandbox, cli):
    """A digest that failed shows what it carries; each merged delivery names its digest;
    once the secret is fixed, `tidings retry` sends the digest."""
    path, wrong = failed_digest(tmp_path, sandbox, cli)

    merged = cli("deliveries", "--status", "coalesced", "--limit", "100", "--json").json()
    assert len(merged) == 30
    (digest,) = cli("deliveries", "--status", "failed", "--json").json()
    assert digest["kind"] == "digest" and digest["label"] == "digest"
    assert {row["digest_id"] for row in merged} == {digest["id"]}
    shown = cli("deliveries", "show", digest["id"]).stdout
    assert "carries:     30 event(s)" in shown and "sign not match" in shown
    assert "bulk #1 passed" in shown and "bulk #30 passed" in shown
    one = cli("deliveries", "show", merged[0]["id"]).stdout
    assert f"merged into: digest {digest['id'][-8:]}" in one
    listed = cli("deliveries", "--limit", "100").stdout
    assert f"in digest {digest['id'][-8:]}" in listed

    path.write_text(wrong.replace("SECwrong0000", SECRET), "utf-8")
    retried = cli("retry", digest["id"], "-c", str(path), "--json")
    assert retried.code == 0, retried.output
    assert [(r["delivery_id"], r["outcome"]) for r in retried.json()] == [(digest["id"], "sent")]
    (arrived,) = sandbox.accepted("dingtalk")
    assert sorted(int(n) for n in TASK.findall(arrived.text)) == list(range(1, 31))


def test_preview_shows_the_digest_of_a_backlog_for_each_robot(tmp_path, sandbox, cli):
    from helpers import make_config, write_json

    config = make_config(tmp_path, sandbox)
    task = write_json(tmp_path / "task.json", seed_task())
    shown = cli("preview", "-c", config, "-t", task, "--digest", "300", "--json")
    assert shown.code == 0, shown.output
    data = shown.json()
    by_channel: dict[str, list[dict]] = {}
    for call in data["requests"]:
        by_channel.setdefault(call["channel"], []).append(call)
    assert set(by_channel) == {"dingding", "wechat", "feishu"}
    assert any("webhook" in note and "never merged" in note for note in data["notes"])
    # 300 tasks: more than one digest each, each within its platform's limit.
    dingtalk = [c for c in by_channel["dingding"] if c["label"] == "digest"]
    assert len(dingtalk) > 1
    assert all(len(json.dumps(c["body"], ensure_ascii=False).encode()) <= 20000 for c in dingtalk)
    wecom = [
        c["body"]["markdown"]["content"] for c in by_channel["wechat"] if c["label"] == "digest"
    ]
    assert all(len(content.encode()) <= 4096 for content in wecom)
    assert sum(len(TASK.findall(content)) for content in wecom) == 300
    # Each line links its own task (the snapshot's link with the id counted up).
    links = [link for content in wecom for link in re.findall(r"\[#\d+\]\(([^)]+)\)", content)]
    assert len(set(links)) == 300, links[:3]
    assert any(re.search(r"/47(\?|$)", link) for link in links)  # the snapshot's own
    assert any(re.search(r"/346(\?|$)", link) for link in links)  # and the 300th
    assert "dt-token" not in shown.stdout  # the robot's token stays masked
    text = cli("preview", "-c", config, "-t", task, "--digest", "3")
    assert text.code == 0 and "3 条工作流通知" in text.stdout


def test_metrics_count_digests_merged_events_and_each_destinations_lag(store):
    from tidings.delivery.metrics import Metrics

    clock = ScaledClock(scale=30)
    metrics = Metrics(store)

    async def scenario():
        async with Sandbox(clock=clock) as sb:
            url = sb.dingtalk_robot("metrics", secret=SECRET, keywords=("工作流",))
            config = loads(robot_config(dingtalk_ctl(url)))
            ids = enqueue(store, config, [(i, "passed") for i in range(1, 51)])
            key = config.workflow("bulk").notify_ctls[0].destination(config.system).key
            lag = metrics.registry.get_sample_value(
                "tidings_destination_lag_seconds", {"destination": key, "channel": "dingding"}
            )
            await worked(store, config, clock, ids, metrics=metrics)
            return lag, key, len(sb.accepted("dingtalk"))

    lag, key, digests = asyncio.run(scenario())
    assert lag is not None and lag >= 0  # waiting, before the worker ran
    sample = metrics.registry.get_sample_value
    assert sample("tidings_events_coalesced_total", {"channel": "dingding"}) == 50
    assert sample("tidings_digests_sent_total", {"channel": "dingding"}) == digests >= 1
    assert sample("tidings_deliveries_total", {"channel": "dingding", "status": "coalesced"}) == 50
    # Nothing waits any more: the destination has no lag to report.
    assert (
        sample("tidings_destination_lag_seconds", {"destination": key, "channel": "dingding"})
        is None
    )


def test_retry_replan_of_a_digest_plans_the_events_it_carries(tmp_path, sandbox, cli):
    path, wrong = failed_digest(tmp_path, sandbox, cli)
    (digest,) = cli("deliveries", "--status", "failed", "--json").json()
    path.write_text(wrong.replace("SECwrong0000", SECRET), "utf-8")
    retried = cli("retry", digest["id"][-8:], "--replan", "-c", str(path))
    assert retried.code == 0, retried.output
    assert "queued after re-planning: 30 deliveries" in retried.stderr
    arrived = sandbox.accepted("dingtalk")
    tasks = [int(n) for r in arrived for n in re.findall(r"#(\d+)\D", r.text + " ")]
    assert set(tasks) == set(range(1, 31))


def test_slack_digests_keep_to_its_blocks_and_sections(store):
    ctl = (
        "      - {webhook_type: slack, notify_type: [passed], slack_notification_config: "
        "{hook_address: '{url}', at_users: [U0ALICE, U0ALICE, U0BOB]}}\n"
    )
    config = robot_config(ctl, extra=", coalesce_after: 10")  # 1 a second: 10 in 10 s
    events = [(i, "passed") for i in range(1, 401)]
    finals, received = run_backlog(store, config, "slack", events, scale=10)
    assert set(finals.values()) == {"coalesced"}
    assert all(r.accepted for r in received)  # 50 blocks, 3,000 characters a section
    texts = [json.dumps(r.body, ensure_ascii=False) for r in received]
    tasks = [int(n) for t in texts for n in re.findall(r"\|#(\d+)>", t)]
    assert sorted(tasks) == list(range(1, 401))
    assert all(t.count("<@U0ALICE>") == 2 and t.count("<@U0BOB>") == 2 for t in texts)


@pytest.mark.parametrize(
    ("webhook_type", "size", "limit"),
    [
        ("dingding", lambda b: len(json.dumps(b, ensure_ascii=False).encode()), 20000),
        ("wechat", lambda b: len(b["markdown"]["content"].encode()), 4096),
        ("feishu", lambda b: len(json.dumps(b, ensure_ascii=False).encode()), 20 * 1024 - 120),
        ("msteams", lambda b: len(json.dumps(b, ensure_ascii=False).encode()), 28 * 1024),
        ("slack", lambda b: len(json.dumps(b, ensure_ascii=False).encode()), 40000),
    ],
)
def test_every_digest_fits_its_platform_and_carries_each_event_once(webhook_type, size, limit):
    """Long CJK names, hostile markup and long links: each digest within its platform's
    limit, each event in exactly one digest, user text unable to mention anyone."""
    from tidings import channels
    from tidings.channels.base import RenderContext
    from tidings.channels.digest import Item

    channel = channels.get(webhook_type)
    items = []
    for n in range(600):
        entry = {
            "language": "zh-cn" if n % 2 else "en-us",
            "icon": "👍",
            "status_text": "执行成功",
            "workflow": f"发布流水线-{n % 7}-"
            + "很长的名字" * (n % 40)
            + " @all <at id=all> **x**",
            "task_id": n,
            "url": f"https://ci.example.com/v1/projects/detail/p/pipelines/custom/w/{n}?x="
            + "y" * 300,
            "creator": "<@all> 张三" * (n % 5),
            "mentions": {"at_mobiles": ["13800000001"], "at_users": ["zhangsan"]},
        }
        items.append(Item(f"event-{n}", entry))
    rendered = channel.render_digest(items, RenderContext(f"{webhook_type}:key"))
    assert len(rendered) > 1
    carried = [item.event_id for _, chunk in rendered for item in chunk]
    assert sorted(carried) == sorted(item.event_id for item in items)
    for requests, _ in rendered:
        digest = requests[0]
        assert digest.label == "digest"
        assert size(digest.body) <= limit
        text = json.dumps(digest.body, ensure_ascii=False)
        assert "<@all>" not in text and "<at id=all>" not in text


@pytest.mark.parametrize("secret_ok", [True, False])
def test_send_into_a_backlog_reports_the_digest_that_carried_its_event(
    tmp_path, sandbox, cli, secret_ok
):
    """`tidings send` whose event joins a robot's long backlog: its delivery is merged, the
    digest is sent before it returns, and its exit code is the digest's (1 if it failed)."""
    url = sandbox.dingtalk_robot(f"send-{secret_ok}", secret=SECRET, keywords=("工作流",))
    database = f"sqlite:///{tmp_path}/send.db"
    text = robot_config(dingtalk_ctl(url)).replace(
        "system:\n", f"system:\n  database_url: '{database}'\n"
    )
    store = Store(database).open()
    enqueue(store, loads(text), [(i, "passed") for i in range(1, 31)])  # queued, not sent
    if not secret_ok:
        text = text.replace(SECRET, "SECwrong0000")
    path = tmp_path / "tidings.yaml"
    path.write_text(text, "utf-8")
    from helpers import write_json

    task = write_json(
        tmp_path / "task.json", {**seed_task(), "workflow_name": "bulk", "task_id": 31}
    )
    sent = cli("send", "-c", str(path), "-t", task, "--status", "passed")
    merged = [line for line in sent.stdout.splitlines() if line.startswith("merged")]
    digest = [line for line in sent.stdout.splitlines() if "[digest]" in line]
    assert len(merged) == 1 and "merged into digest" in merged[0]
    assert len(digest) == 1
    if secret_ok:
        assert sent.code == 0, sent.output
        assert digest[0].startswith("sent")
        (arrived,) = sandbox.accepted("dingtalk")
        assert sorted(int(n) for n in TASK.findall(arrived.text)) == list(range(1, 32))
    else:
        assert sent.code == 1, sent.output
        assert digest[0].startswith("FAILED") and "sign not match" in digest[0]


def test_eighteen_events_in_a_minute_arrive_one_by_one_within_it(store):
    """Fewer events than the robot's 20 a minute, one after another: never merged, and the
    ones past the quarter kept for digests do not wait for the next minute."""
    clock = ScaledClock(scale=5)  # a platform minute is 12 s: room for a slow machine

    async def scenario():
        async with Sandbox(clock=clock) as sb:
            url = sb.dingtalk_robot("steady", secret=SECRET, keywords=("工作流",))
            config = loads(robot_config(dingtalk_ctl(url)))
            worker = worker_for(store, config, clock)
            stop = asyncio.Event()
            async with worker:
                running = asyncio.create_task(worker.run(stop))
                for n in range(1, 19):
                    enqueue(store, config, [(n, "passed")])
                    worker.wake()
                    while len(sb.received("dingtalk")) < n:
                        await clock.sleep(0.5)
                stop.set()
                await running
            return sb.received("dingtalk")

    received = asyncio.run(scenario())
    assert [r.code for r in received] == [0] * 18
    assert [int(r.text.split("#")[1].split()[0]) for r in received] == list(range(1, 19))
    assert received[-1].at - received[0].at < 60  # the 16th to 18th took the digests' room
    assert {row[0] for row in statuses(store)} == {"sent"}


def test_on_a_robot_shared_with_a_coalesce_false_ctl_only_the_others_are_merged(store):
    """Two ctls name one robot, one with `coalesce: false`: its 40 messages arrive one by one,
    the other's 40 events in digests; nothing is lost or repeated, never throttled."""
    ctls = dingtalk_ctl("{url}") + dingtalk_ctl("{url}", coalesce="coalesce: false, ")
    finals, received = run_backlog(
        store, robot_config(ctls), "dingtalk", [(i, "passed") for i in range(1, 41)], scale=600
    )
    assert sorted(finals.values()) == ["coalesced"] * 40 + ["sent"] * 40
    assert [r.code for r in received] == [0] * len(received)
    singles = [r for r in received if not TASK.findall(r.text)]
    digests = [r for r in received if TASK.findall(r.text)]
    assert sorted(int(r.text.split("#")[1].split()[0]) for r in singles) == list(range(1, 41))
    assert sorted(int(n) for r in digests for n in TASK.findall(r.text)) == list(range(1, 41))
