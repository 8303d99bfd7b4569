"""Slack (incoming webhooks, a tidings extension): the same content as the other IM channels
in Block Kit, the colour bar by status, mentions that notify, user text that can neither
mention nor link, Slack's answers read right, and one message a second to the sandbox."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from helpers import seed_task
from tidings.channels import slack
from tidings.channels.base import Fail, Ok, RenderContext, Response, Retry
from tidings.channels.slack import SlackConfig
from tidings.config.loading import loads
from tidings.delivery.clock import ScaledClock
from tidings.delivery.outbox import NewEvent
from tidings.delivery.resolve import Resolver
from tidings.delivery.settings import limits_of
from tidings.delivery.worker import Settings, Worker
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task
from tidings.notify.content import build_message
from tidings.sandbox import Sandbox
from tidings.sending.record import record
from tidings.store.db import Store

HOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"


def body_of(status: str, data: dict | None = None, **config) -> dict:
    task = parse_task({**(data or seed_task()), "status": status})
    message = build_message(task, status, address="https://zadig.example.com")
    (request,) = slack.render(message, SlackConfig(hook_address=HOOK, **config), RenderContext("k"))
    return request.body


@pytest.mark.parametrize(
    ("status", "colour"), [("passed", "#00a13e"), ("failed", "#eb0823"), ("pause", "#ff8800")]
)
def test_block_kit_message_coloured_by_status_with_the_link_button(status, colour):
    body = body_of(status)
    (attachment,) = body["attachments"]
    assert attachment["color"] == colour
    blocks = attachment["blocks"]
    assert blocks[0]["type"] == "header" and "工作流 demo-workflow-dev #47" in body["text"]
    assert "*执行用户*：admin" in blocks[1]["text"]["text"]
    (button,) = blocks[-1]["elements"]
    assert button["text"]["text"] == "点击查看更多信息"
    assert button["url"].startswith("https://zadig.example.com/v1/projects/detail/yaml/")
    texts = [b["text"] for b in blocks if b["type"] == "section"]
    assert all(t["type"] == "mrkdwn" and t["verbatim"] is True for t in texts)


def test_mentions_notify_in_the_text_and_a_section():
    body = body_of("failed", at_users=["U012AB3CD", "not an id"], is_at_all=True)
    assert body["text"].endswith("<@U012AB3CD> <!channel>")
    last = body["attachments"][0]["blocks"][-1]
    assert last["text"]["text"] == "<@U012AB3CD> <!channel>"


def test_commit_text_cannot_mention_link_or_format():
    task = seed_task()
    repo = task["stages"][0]["jobs"][0]["spec"]["repositories"][0]
    repo["commit_message"] = "<!channel> <@U0BOSS> <http://e.vil|click> *bold* &amp;"
    text = str(body_of("passed", task))
    assert "<!channel>" not in text and "<@U0BOSS>" not in text and "<http://e.vil" not in text
    assert "&lt;!channel&gt;" in text and "&amp;amp;" in text


def test_a_huge_task_fits_slacks_block_limits():
    task = seed_task()
    job = task["stages"][0]["jobs"][0]
    task["stages"][0]["jobs"] = [
        {**job, "name": f"build-{i}", "spec": {**job["spec"], "image": "i" * 2000}}
        for i in range(80)
    ]
    blocks = body_of("passed", task)["attachments"][0]["blocks"]
    assert len(blocks) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    assert any(b["type"] == "context" for b in blocks)  # "N more jobs"


def answer(status: int, text: str, **headers: str) -> Response:
    return Response(status, headers, text.encode())


def test_slacks_answers_are_read():
    assert slack.interpret(answer(200, "ok")) == Ok("HTTP 200", 200)
    limited = slack.interpret(answer(429, "rate_limited", **{"Retry-After": "3"}))
    assert isinstance(limited, Retry) and limited.after == 3.0
    assert isinstance(slack.interpret(answer(500, "rollup_error")), Retry)
    archived = slack.interpret(answer(410, "channel_is_archived"))
    assert isinstance(archived, Fail) and archived.code == "channel_is_archived"
    assert "unarchive it" in archived.reason
    gone = slack.interpret(answer(404, "no_service"))
    assert isinstance(gone, Fail) and "removed or disabled" in gone.reason
    assert "admin setting" in slack.interpret(answer(403, "action_prohibited")).reason


def test_paced_to_one_a_second_without_a_refusal(tmp_path: Path):
    """Five events for one webhook: all arrive, at most one a second, none answered 429."""
    clock = ScaledClock(scale=20)
    store = Store(f"sqlite:///{tmp_path}/tidings.db").open()

    async def scenario() -> list:
        async with Sandbox(clock=clock) as sb:
            url = sb.slack_webhook("ci")
            config = loads(
                "workflows:\n  - name: demo-workflow-dev\n    notify_ctls:\n"
                "      - {webhook_type: slack, notify_type: [passed], "
                f"slack_notification_config: {{hook_address: '{url}', at_users: [U012AB3CD]}}}}\n"
            )
            ids = []
            for task_id in range(1, 6):
                task = parse_task({**seed_task(), "task_id": task_id})
                plan = plan_event(config, config.workflows[0], task)
                event = NewEvent("task", task.workflow_name, task_id, "passed")
                ids += record(store, plan, event, now=clock.now(), expires_in=600).delivery_ids
            worker = Worker(
                store,
                Resolver(config),
                clock=clock,
                limits=limits_of(config),
                settings=Settings(lease=600),
            )
            async with worker:
                statuses = await worker.run_until(ids, clock.now() + 600)
            assert set(statuses.values()) == {"sent"}
            return sb.received("slack")

    received = asyncio.run(scenario())
    assert [r.http_status for r in received] == [200] * 5
    assert all(b.at - a.at >= 0.99 for a, b in itertools.pairwise(received))
    assert received[0].mentions == ["U012AB3CD"]


def test_notify_to_slack(sandbox, cli):
    url = sandbox.slack_webhook("adhoc")
    result = cli(
        "notify", "--type", "slack", "--hook-address", url, "--at", "U012AB3CD",
        "--title", "发布完成", "--content", "v1.2 is *live*",
    )  # fmt: skip
    assert result.code == 0, result.output
    (row,) = sandbox.accepted("slack", "adhoc")
    assert "发布完成" in row.text and "v1.2 is *live*" in row.text
    assert row.mentions == ["U012AB3CD"]
