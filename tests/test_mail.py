"""Mail through the outbox and the worker to the sandbox's SMTP server (aiosmtpd, real TLS):
each address once, STARTTLS with AUTH, HTML and text parts, the server's own refusals."""

from __future__ import annotations

import socket
import textwrap
import time
from pathlib import Path

import pytest

from helpers import seed_task, write_json
from tidings.channels import mail
from tidings.channels.base import Fail, Retry
from tidings.config.loading import loads
from tidings.delivery.clock import Clock
from tidings.delivery.io import WorkerIO
from tidings.delivery.outbox import NewEvent
from tidings.delivery.transport import HttpTransport
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task
from tidings.sandbox import Sandbox, SandboxThread
from tidings.sending.record import deliver_now, record
from tidings.store.db import Store

SMTP_PASSWORD = "smtp-password-5b8e2d9f1c7a"
CREATOR_ID = "89358827-5137-11ee-b0c5-56d5fd1dd39e"  # the seed snapshot's task_creator_id


def config_text(smtp: str, targets: str, language: str = "zh-cn") -> str:
    return textwrap.dedent(
        f"""
        system:
          address: https://zadig.example.com
          language: {language}
          smtp: {smtp}
        users:
          - {{id: {CREATOR_ID}, name: Ada, email: ada@example.com}}
          - {{id: dev, name: Dev, email: dev@example.com}}
          - {{id: qa, name: QA, email: qa@example.com}}
        groups:
          - {{id: team, members: [dev, qa, {CREATOR_ID}]}}
        workflows:
          - name: demo-workflow-dev
            project: yaml
            notify_ctls:
              - webhook_type: mail
                notify_type: [passed, failed]
                mail_notification_config:
                  target_users: {targets}
        """
    )


TARGETS = (
    "[{type: user, user_id: dev}, {type: group, group_id: team}, "
    "{type: email, user_name: ops@example.com}, {type: task_creator}]"
)


def smtp_settings(server, *, password: str = SMTP_PASSWORD, security: str = "starttls") -> str:
    login = f"username: tidings, password: {password}, " if password else ""
    return (
        f"{{host: 127.0.0.1, port: {server.port}, security: {security}, {login}"
        f"sender: 'Zadig <noreply@example.com>', ca_file: '{server.cafile or ''}'}}"
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/tidings.db").open()


async def send(store: Store, config_yaml: str, **task_fields):
    config = loads(config_yaml, "t.yaml", {})
    task = parse_task({**seed_task(), **task_fields})
    plan = plan_event(config, config.workflows[0], task)
    event = NewEvent("task", task.workflow_name, task.task_id, task.status)
    enqueued = record(store, plan, event, now=time.time(), expires_in=10)
    finals = []
    await deliver_now(store, config, enqueued, deadline=10, on_final=finals.append)
    return plan, finals


async def test_user_group_creator_and_raw_address_each_get_one_mail_over_starttls(store):
    smtp = {"security": "starttls", "users": {"tidings": SMTP_PASSWORD}}
    async with Sandbox(smtp=smtp) as sb:
        remark = '<script>alert("x")</script> & <b>bold</b>'
        plan, finals = await send(
            store, config_text(smtp_settings(sb.smtp), TARGETS), remark=remark
        )
        rows = sb.accepted("mail")
    assert [f.status for f in finals] == ["sent"] * 4, finals
    expected = ["dev@example.com", "qa@example.com", "ada@example.com", "ops@example.com"]
    assert sorted(r.destination for r in rows) == sorted(expected)  # each exactly once
    assert [p.requests[0].body["to"] for p in plan.planned] == expected  # in the order named
    first = rows[0]
    assert first.extra["tls"] is True and first.extra["login"] == "tidings"
    assert first.headers["Content-Type"].startswith("multipart/alternative")
    assert first.body["subject"] == "👍 工作流 demo-workflow-dev#47 执行成功"
    assert first.body["from"] == "Zadig <noreply@example.com>"
    html, text = first.body["html"], first.body["text"]
    # notification.html's texts (the plain-text part is tidings' own alternative).
    assert text.startswith("您好\n\n工作流 [demo-workflow-dev#47] 执行信息如下:\n")
    assert "备注：" + remark in text and "本邮件由 Zadig 系统自动发出，请勿直接回复。" in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    assert "<script>" not in html and "<pre>" in html
    assert '<a href="https://zadig.example.com/v1/projects/detail/yaml/' in html
    ids = {f.address.split()[0]: f.id for f in finals}  # the delivery id is the Message-ID
    assert all(r.headers["Message-ID"] == f"<{ids[r.destination]}@tidings>" for r in rows)
    assert plan.skipped == []


@pytest.mark.parametrize("security", ["ssl", "none"])
async def test_implicit_tls_and_plain_servers(store, security):
    users = {"tidings": SMTP_PASSWORD} if security == "ssl" else None
    async with Sandbox(smtp={"security": security, "users": users}) as sb:
        password = SMTP_PASSWORD if users else ""
        settings = smtp_settings(sb.smtp, password=password, security=security)
        _, finals = await send(
            store, config_text(settings, "[{type: email, user_name: x@example.com}]", "en-us")
        )
        (row,) = sb.accepted("mail")
    assert [f.status for f in finals] == ["sent"]
    assert row.extra["tls"] is (security == "ssl")
    assert row.body["subject"] == "👍 workflow demo-workflow-dev#47 Passed"
    expected = "Hello\n\nworkflow [demo-workflow-dev#47] Execution information:\n"
    assert row.body["text"].startswith(expected)


def test_wrong_password_fails_with_the_servers_answer_and_never_shows_it(tmp_path, cli):
    wrong = "wrong-smtp-password-77e1c3"
    with SandboxThread(smtp={"security": "starttls", "users": {"tidings": SMTP_PASSWORD}}) as sb:
        config = tmp_path / "tidings.yaml"
        text = config_text(smtp_settings(sb.smtp, password=wrong), TARGETS)
        config.write_text(text, "utf-8")
        task = write_json(tmp_path / "task.json", seed_task())
        result = cli("send", "-t", task)
        received = sb.received("mail")
    assert result.code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("FAILED") for line in lines)
    assert "answered 535 5.7.8 Authentication credentials invalid" in lines[0]
    assert "check system.smtp.username and password" in lines[0]
    assert wrong not in result.output and received == []


async def test_refusals_by_reply_code_and_an_unreachable_server():
    assert smtp_outcome_kind(451, "4.3.0 try again later") is Retry
    assert smtp_outcome_kind(550, "5.1.1 no such mailbox") is Fail
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = loads(
        config_text(
            f"{{host: 127.0.0.1, port: {port}, security: none, sender: a@example.com}}",
            "[{type: email, user_name: x@example.com}]",
        ),
        "t",
        {},
    )
    plan = plan_event(config, config.workflows[0], parse_task(seed_task()))
    (planned,) = plan.planned
    io = WorkerIO(HttpTransport(), Clock(), timeout=2.0)
    outcome, status = await mail.deliver(planned.requests[0], planned.destination, "d-1", io)
    assert isinstance(outcome, Retry) and status is None
    assert f"127.0.0.1:{port}" in outcome.reason


def smtp_outcome_kind(code: int, text: str) -> type:
    return type(mail.smtp_outcome(code, text, "smtp.example.com:587"))
