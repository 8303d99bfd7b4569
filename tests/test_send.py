"""`tidings send` against the sandbox over real sockets: what each platform accepts and shows."""

from __future__ import annotations

from helpers import WEBHOOK_TOKEN, as_zadig_sends, make_config, seed_task, write_json


def test_every_channel_accepted_with_mentions(tmp_path, sandbox, cli):
    config = make_config(tmp_path, sandbox)
    task = write_json(tmp_path / "task.json", seed_task())
    result = cli("send", "-c", config, "-t", task)
    assert result.code == 0, result.output
    assert all(r.accepted for r in sandbox.received()), sandbox.received()
    by_platform = {r.platform: r for r in sandbox.received()}
    assert set(by_platform) == {"dingtalk", "wecom", "feishu", "webhook"}
    assert sandbox.accepted("dingtalk")[0].mentions == ["13800000001"]
    assert [r.mentions for r in sandbox.accepted("wecom")] == [["zhangsan"], ["all"]]
    feishu = sandbox.accepted("feishu")
    assert [r.msgtype for r in feishu] == ["interactive", "text"]  # card first, then mentions
    assert feishu[1].mentions == ["ou_alice"]
    assert "👍工作流 demo-workflow-dev #47 执行成功" in by_platform["dingtalk"].text
    # One line per delivery on stdout, each naming channel, destination and outcome.
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 6 and all(line.startswith("sent") for line in lines)


def test_webhook_headers_and_payload(tmp_path, sandbox, cli):
    config = make_config(tmp_path, sandbox)
    task = write_json(tmp_path / "task.json", seed_task())
    assert cli("send", "-c", config, "-t", task).code == 0
    (hook,) = sandbox.accepted("webhook")
    headers = {k.lower(): v for k, v in hook.headers.items()}
    assert headers["x-zadig-event"] == "workflow"
    assert headers["x-zadig-token"] == WEBHOOK_TOKEN
    assert headers["x-zadig-instance"] == "https://zadig.example.com"
    assert len(headers["x-zadig-event-uuid"]) == 36 and len(headers["x-zadig-webhook-uuid"]) == 36
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Zadig/")
    assert hook.body["object_kind"] == "workflow" and hook.body["event"] == "workflow"
    assert hook.body["workflow"] == as_zadig_sends(seed_task())


def test_notify_type_filters_and_nothing_to_send_is_success(tmp_path, sandbox, cli):
    config = make_config(tmp_path, sandbox)
    task = write_json(tmp_path / "task.json", seed_task())
    created = cli("send", "-c", config, "-t", task, "--status", "created")
    assert created.code == 0
    assert {r.platform for r in sandbox.received()} == {"webhook"}
    sandbox.clear()
    cancelled = cli("send", "-c", config, "-t", task, "--status", "cancelled")
    assert cancelled.code == 0 and "nothing sent" in cancelled.stderr
    assert sandbox.received() == []


def test_reject_is_sent_to_ctls_that_subscribe_to_failed(tmp_path, sandbox, cli):
    config = make_config(tmp_path, sandbox)
    task = write_json(tmp_path / "task.json", {**seed_task(), "status": "reject"})
    assert cli("send", "-c", config, "-t", task).code == 0
    assert {r.platform for r in sandbox.accepted()} == {"dingtalk", "wecom", "feishu", "webhook"}
    assert "执行被拒绝" in sandbox.accepted("dingtalk")[0].text


def test_changed_needs_a_different_previous_status(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("changes")
    config = tmp_path / "c.yaml"
    config.write_text(
        "workflows:\n  - name: demo-workflow-dev\n    notify_ctls:\n"
        f"      - {{webhook_type: webhook, notify_type: [changed],"
        f" webhook_notification_config: {{address: '{hook}'}}}}\n",
        "utf-8",
    )
    task = write_json(tmp_path / "task.json", seed_task())
    base = ("send", "-c", str(config), "-t", task)
    assert cli(*base, "--previous-status", "passed").code == 0
    assert sandbox.received() == []
    assert cli(*base, "--previous-status", "failed").code == 0
    assert len(sandbox.accepted("webhook")) == 1


def test_webhook_503_twice_then_delivered_with_one_stable_event_uuid(tmp_path, sandbox, cli):
    config = make_config(tmp_path, sandbox, hook_script=(503, 503))
    task = write_json(tmp_path / "task.json", seed_task())
    result = cli("send", "-c", config, "-t", task, "--status", "created")
    assert result.code == 0, result.output
    attempts = sandbox.received("webhook")
    assert [r.http_status for r in attempts] == [503, 503, 200]
    assert len({r.headers["X-Zadig-Event-UUID"] for r in attempts}) == 1
    assert "after 3 attempts" in result.stdout


def test_wrong_dingtalk_secret_fails_at_once_with_the_platform_code(tmp_path, sandbox, cli):
    config = make_config(tmp_path, sandbox, dt_secret="SECthis-is-the-wrong-secret")
    task = write_json(tmp_path / "task.json", seed_task())
    result = cli("send", "-c", config, "-t", task)
    assert result.code == 1
    assert "310000" in result.stdout and "sign not match" in result.stdout
    assert len(sandbox.received("dingtalk")) == 1  # refused once, not retried
    assert "SECthis-is-the-wrong-secret" not in result.output


def test_unreachable_destination_is_retried_until_the_deadline(tmp_path, cli):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "c.yaml"
    config.write_text(
        "workflows:\n  - name: demo-workflow-dev\n    notify_ctls:\n"
        "      - {webhook_type: webhook, notify_type: [passed],"
        f" webhook_notification_config: {{address: 'http://127.0.0.1:{port}/hook'}}}}\n",
        "utf-8",
    )
    task = write_json(tmp_path / "task.json", seed_task())
    result = cli("send", "-c", str(config), "-t", task, "--deadline", "1.5", "--json")
    assert result.code == 1
    (delivery,) = result.json()["deliveries"]
    assert delivery["outcome"] == "dead" and delivery["attempts"] >= 2
    assert "cannot connect" in delivery["detail"] and "gave up" in delivery["detail"]


def test_30kb_commit_message_is_shortened_and_accepted_everywhere(tmp_path, sandbox, cli):
    config = make_config(tmp_path, sandbox)
    task = seed_task()
    task["stages"][0]["jobs"][0]["spec"]["repositories"][0]["commit_message"] = "修复" * 15000
    path = write_json(tmp_path / "task.json", task)
    result = cli("send", "-c", config, "-t", path)
    assert result.code == 0, result.output
    for platform in ("dingtalk", "wecom", "feishu"):
        (first, *_) = sandbox.received(platform)
        assert first.accepted, first
        assert "已截断" in first.text


def test_mentions_in_commit_messages_never_notify_anyone(tmp_path, sandbox, cli):
    config = make_config(tmp_path, sandbox)
    task = seed_task()
    evil = '<at user_id="all">所有人</at> <at id=all></at> <@all> @13900000000 [x](http://e.vil)'
    task["stages"][0]["jobs"][0]["spec"]["repositories"][0]["commit_message"] = evil
    task["remark"] = evil
    task["workflow_display_name"] = "<@all>" + evil
    path = write_json(tmp_path / "task.json", task)
    assert cli("send", "-c", config, "-t", path).code == 0
    mentioned = {(r.platform, m) for r in sandbox.accepted() for m in r.mentions}
    assert mentioned == {
        ("dingtalk", "13800000001"),
        ("wecom", "zhangsan"),
        ("wecom", "all"),  # the configured is_at_all, in its own text message
        ("feishu", "ou_alice"),
    }
    wecom_markdown = sandbox.accepted("wecom")[0]
    assert wecom_markdown.mentions == ["zhangsan"]


def test_changed_without_previous_status_compares_with_the_task_before_in_history(
    tmp_path, sandbox, cli
):
    """SendWorkflowTaskNotifications' statusChanged: against task id - 1, as tidings heard of
    it; a task before that tidings never heard of counts as a change, as in Zadig."""
    hook = sandbox.webhook_inbox("changes")
    config = tmp_path / "tidings.yaml"
    config.write_text(
        "workflows:\n  - name: demo-workflow-dev\n    notify_ctls:\n"
        "      - {webhook_type: webhook, notify_type: [changed],"
        f" webhook_notification_config: {{address: '{hook}'}}}}\n",
        "utf-8",
    )

    def send(task_id: int, status: str) -> list[int]:
        task = write_json(
            tmp_path / "t.json", {**seed_task(), "task_id": task_id, "status": status}
        )
        assert cli("send", "-c", str(config), "-t", task).code == 0
        return [r.body["workflow"]["task_id"] for r in sandbox.accepted("webhook", "changes")]

    assert send(46, "passed") == [46]  # task 45 unknown: a change
    assert send(47, "passed") == [46]  # as task 46: no change
    assert send(48, "failed") == [46, 48]
    assert send(49, "failed") == [46, 48]


def test_one_event_is_notified_once(tmp_path, sandbox, cli):
    """A CI step that is run again sends the same event again: it is said, not sent."""
    from helpers import webhook_config

    hook = sandbox.webhook_inbox("once")
    (tmp_path / "tidings.yaml").write_text(webhook_config([hook], "demo-workflow-dev"), "utf-8")
    task = write_json(tmp_path / "task.json", seed_task())
    assert cli("send", "-t", task).code == 0
    again = cli("send", "-t", task)
    assert again.code == 0 and "already sent: demo-workflow-dev#47 passed" in again.stderr
    assert "1 sent" in again.stderr and "--again" in again.stderr
    assert len(sandbox.accepted("webhook")) == 1
    as_json = cli("send", "-t", task, "--json").json()
    assert as_json["duplicate"] is True and as_json["deliveries"][0]["outcome"] == "sent"
    # Another status of the same task is another event; --again and a new --event-id send.
    failed = write_json(tmp_path / "failed.json", {**seed_task(), "status": "failed"})
    assert cli("send", "-t", failed).code == 0
    assert cli("send", "-t", task, "--again").code == 0
    assert cli("send", "-t", task, "--event-id", "run-47-attempt-2").code == 0
    assert cli("send", "-t", task, "--event-id", "run-47-attempt-2").code == 0
    statuses = [r.body["workflow"]["status"] for r in sandbox.accepted("webhook")]
    assert statuses == ["passed", "passed", "passed"]  # failed: the ctl fires on passed only


def test_a_snapshot_over_the_limit_is_refused_naming_it(tmp_path, cli):
    (tmp_path / "tidings.yaml").write_text("workflows: [{name: demo-workflow-dev}]\n", "utf-8")
    big = {**seed_task(), "remark": "x" * (11 * 1024 * 1024)}
    task = write_json(tmp_path / "big.json", big)
    for command in ("send", "preview"):
        result = cli(command, "-t", task)
        assert result.code == 2, result.output
        assert "at most 10 MB" in result.stderr and "Traceback" not in result.output


def test_ctrl_c_while_retrying_says_what_stays_queued_and_a_worker_sends_it(tmp_path, sandbox, cli):
    import os
    import signal
    import subprocess
    import sys
    import time

    from helpers import webhook_config

    hook = sandbox.webhook_inbox("flaky", script=(503,) * 1000)
    config = tmp_path / "tidings.yaml"
    config.write_text(webhook_config([hook], "demo-workflow-dev"), "utf-8")
    task = write_json(tmp_path / "task.json", seed_task())
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    environ.update(NO_COLOR="1", TIDINGS_HOME=str(tmp_path / "home"))
    sending = subprocess.Popen(
        [sys.executable, "-m", "tidings", "send", "-c", str(config), "-t", task, "--deadline", "5"],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    end = time.monotonic() + 20
    while not sandbox.received("webhook") and time.monotonic() < end:
        time.sleep(0.05)
    assert sandbox.received("webhook"), "the first attempt never came"
    sending.send_signal(signal.SIGINT)
    _out, err = sending.communicate(timeout=20)
    assert sending.returncode == 130, err
    assert "interrupted: 1 of 1 deliveries stay queued" in err
    assert f"tidings worker -c {config} --once" in err and "Traceback" not in err
    (pending,) = cli("deliveries", "-c", str(config), "--status", "pending", "--json").json()
    # Still queued after the send's own 5 s deadline: a worker started later sends it.
    sandbox.webhook_inbox("flaky", script=())
    time.sleep(5.5)
    worked = cli("worker", "-c", str(config), "--once")
    assert worked.code == 0, worked.output
    (sent,) = cli("deliveries", "-c", str(config), "--json").json()
    assert (sent["id"], sent["status"]) == (pending["id"], "sent")


def test_deadline_bounds_the_whole_send_even_against_a_hanging_receiver(tmp_path, sandbox, cli):
    import time

    from helpers import webhook_config

    hook = sandbox.webhook_inbox("hanging", script=("timeout",) * 10)  # no answer for 30 s
    config = tmp_path / "tidings.yaml"
    config.write_text(webhook_config([hook], "demo-workflow-dev"), "utf-8")
    task = write_json(tmp_path / "task.json", seed_task())
    started = time.monotonic()
    result = cli("send", "-c", str(config), "-t", task, "--deadline", "2", "--json")
    took = time.monotonic() - started
    assert result.code == 1, result.output
    (delivery,) = result.json()["deliveries"]
    assert delivery["outcome"] == "dead" and "within the deadline" in delivery["detail"]
    # The attempt is cut at the deadline, not at the 10 s per-attempt timeout.
    assert took < 8, f"send --deadline 2 took {took:.1f} s"


def test_a_terminal_sees_one_retry_line_that_goes_away_and_a_pipe_sees_none(tmp_path, sandbox, cli):
    import os
    import pty
    import subprocess
    import sys

    from helpers import webhook_config

    hook = sandbox.webhook_inbox("flaky", script=(503, 503))
    config = tmp_path / "tidings.yaml"
    config.write_text(webhook_config([hook], "demo-workflow-dev"), "utf-8")
    task = write_json(tmp_path / "task.json", seed_task())
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    environ.update(NO_COLOR="1", TERM="xterm", TIDINGS_HOME=str(tmp_path / "home"))
    leader, follower = pty.openpty()
    sending = subprocess.Popen(
        [sys.executable, "-m", "tidings", "send", "-c", str(config), "-t", task],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    stdout, _ = sending.communicate(timeout=60)
    terminal = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        terminal += chunk
    os.close(leader)
    shown = terminal.decode("utf-8", "replace")
    assert sending.returncode == 0, shown
    assert "retrying webhook: attempt 1 failed, next in" in shown, shown
    assert "(HTTP 503" in shown
    assert shown.endswith("\x1b[2K"), shown  # erased when done
    assert "sent" in stdout and "retrying" not in stdout  # results only, on stdout
    # Piped stderr (a CI log): no progress line at all.
    sandbox.webhook_inbox("flaky", script=(503,))
    piped = cli("send", "-c", str(config), "-t", task, "--again")
    assert piped.code == 0, piped.output
    assert "retrying" not in piped.output
