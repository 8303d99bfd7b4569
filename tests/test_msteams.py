"""Microsoft Teams: an Adaptive Card coloured by status, the open action, mentions by email
that notify, delivered to the sandbox's Teams webhook; its plain-text answers read right."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from helpers import seed_task
from tidings.channels import msteams
from tidings.channels.base import Fail, Ok, RenderContext, Response, Retry
from tidings.channels.msteams import MsTeamsConfig
from tidings.config.loading import loads
from tidings.delivery.outbox import NewEvent
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task
from tidings.notify.content import build_message
from tidings.sandbox import Sandbox
from tidings.sending.record import deliver_now, record
from tidings.store.db import Store


def card_of(status: str, **config) -> dict:
    task = parse_task({**seed_task(), "status": status})
    message = build_message(task, status, address="https://zadig.example.com")
    sub = MsTeamsConfig(hook_address="https://t.example.com/x", **config)
    (request,) = msteams.render(message, sub, RenderContext("w/notify_ctls[0]"))
    (attachment,) = request.body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


@pytest.mark.parametrize(
    ("status", "colour"),
    [("passed", "good"), ("failed", "attention"), ("timeout", "warning"), ("pause", "warning")],
)
def test_card_is_coloured_by_status_with_an_open_action(status, colour):
    """sendMSTeamsMessage: the title good for passed and created, attention for failed,
    warning otherwise; the body below it; an OpenURL action."""
    card = card_of(status)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title, body = card["body"][:2]
    assert title["color"] == colour.capitalize() and title["weight"] == "Bolder"
    assert body["text"].startswith("**执行用户**：admin  \n**项目名称**：yaml  \n")
    (action,) = card["actions"]
    assert action["type"] == "Action.OpenUrl" and action["title"] == "点击查看更多信息"
    assert action["url"].startswith("https://zadig.example.com/v1/projects/detail/")


def test_text_from_commits_cannot_link_or_mention():
    task = seed_task()
    repo = task["stages"][0]["jobs"][0]["spec"]["repositories"][0]
    repo["commit_message"] = "[click](http://e.vil) <at>boss@example.com</at> **x**"
    message = build_message(parse_task(task), "passed")
    sub = MsTeamsConfig(hook_address="https://t.example.com/x")
    (request,) = msteams.render(message, sub, RenderContext("k"))
    content = request.body["attachments"][0]["content"]
    text = str(content["body"])
    assert "](http://e.vil)" not in text and "<at>boss" not in text
    assert "entities" not in content["msteams"]


async def test_delivered_with_mentions_that_notify(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path}/tidings.db").open()
    async with Sandbox() as sb:
        url = sb.msteams_webhook("ci")
        config = loads(
            "workflows:\n  - name: demo-workflow-dev\n    project: yaml\n    notify_ctls:\n"
            "      - {webhook_type: msteams, notify_type: [failed], msteams_notification_config:"
            f" {{hook_address: '{url}', at_emails: 'qa@example.com;ops@example.com'}}}}\n",
            "t",
            {},
        )
        task = parse_task({**seed_task(), "status": "failed"})
        plan = plan_event(config, config.workflows[0], task)
        event = NewEvent("task", task.workflow_name, task.task_id, task.status)
        enqueued = record(store, plan, event, now=time.time(), expires_in=10)
        finals = []
        await deliver_now(store, config, enqueued, deadline=10, on_final=finals.append)
        (row,) = sb.accepted("msteams", "ci")
    assert [(f.status, f.code) for f in finals] == [("sent", 200)]
    assert row.mentions == ["qa@example.com", "ops@example.com"]
    assert "❌工作流 demo-workflow-dev #47 执行失败" in row.text
    assert "点击查看更多信息" in row.text  # the action


def response(status: int, text: str, **headers: str) -> Response:
    return Response(status, headers, text.encode())


def test_interpret_reads_teams_plain_text_answers():
    assert msteams.interpret(response(200, "1")) == Ok("HTTP 200", 200)
    assert isinstance(msteams.interpret(response(202, "")), Ok)  # Power Automate workflows
    limited = msteams.interpret(response(429, "too many", **{"Retry-After": "2"}))
    assert isinstance(limited, Retry) and limited.after == 2.0 and limited.code == 429
    assert isinstance(msteams.interpret(response(502, "bad gateway")), Retry)
    connector = msteams.interpret(
        response(200, "Microsoft Teams endpoint returned HTTP error 429 with ContextId ...")
    )
    assert isinstance(connector, Retry)
    bad = msteams.interpret(response(400, "Bad payload received by generic incoming webhook."))
    assert bad == Fail(
        "HTTP 400: Bad payload received by generic incoming webhook. — Teams could not render "
        "the card",
        400,
    )


def test_ad_hoc_notify_to_teams(sandbox, cli):
    url = sandbox.msteams_webhook("adhoc")
    result = cli(
        "notify",
        "--type",
        "msteams",
        "--hook-address",
        url,
        "--at",
        "qa@example.com",
        "--title",
        "发布完成",
        "--content",
        "v1.2 is **live**",
    )
    assert result.code == 0, result.output
    (row,) = sandbox.accepted("msteams", "adhoc")
    assert row.mentions == ["qa@example.com"]
    assert row.text.startswith("发布完成\nv1.2 is **live**")
