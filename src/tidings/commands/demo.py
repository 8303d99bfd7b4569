"""`tidings demo`: an example task through every channel to the in-process sandbox.

Shows, for a passed and a failed run, what tidings sent and what each simulated platform
received and whether it accepted it. Needs no network and no configuration.
"""

from __future__ import annotations

import asyncio
import json
import time
from importlib import resources
from typing import Any

from tidings.commands.output import Output


def _tasks() -> list[dict[str, Any]]:
    passed = json.loads(
        resources.files("tidings.examples").joinpath("task.json").read_text("utf-8")
    )
    failed = json.loads(json.dumps(passed))
    failed.update(task_id=48, status="failed", error="stage 冒烟测试 failed")
    test_job = failed["stages"][2]["jobs"][0]
    failed["stages"][2]["status"] = test_job["status"] = "failed"
    test_job["error"] = "2 of 48 smoke tests failed"
    test_job["spec"] = {"test_result": {"total": 48, "success": 46, "failed": 2}}
    return [passed, failed]


async def _release(sb: Any, store: Any, out: Output, folder: str) -> int:
    """The example release workflow (examples/release.yaml), run here; qa approves at once."""
    from pathlib import Path

    from tidings.commands.run import LineObserver
    from tidings.config.loading import loads
    from tidings.runner import state
    from tidings.runner.engine import RunOptions, run_here

    class AutoApprove(LineObserver):
        def waiting(self, task: Any, job: Any, waiting: dict[str, Any]) -> None:
            super().waiting(task, job, waiting)
            state.decide(store, task.workflow_name, task.task_id, "qa", "approve", "demo")
            self.out.err(f"{self.name}  qa approved (the demo approves at once)", fg="green")

    text = resources.files("tidings.examples").joinpath("release.yaml").read_text("utf-8")
    config = loads(text, "examples/release.yaml", {"SANDBOX": sb.url})
    out.out("== tidings run release: build, notify QA, approval, deploy, test", bold=True)
    sb.clear()
    sb.dingtalk_robot("demo", keywords=("工作流",))  # as `tidings sandbox` registers them
    sb.webhook_inbox("demo")
    options = RunOptions(creator="admin", remark="demo", home=Path(folder), handle_sigint=False)
    result = await run_here(config, config.workflow("release"), store, options, AutoApprove(out))
    task = result.task
    out.out(f"== release #{task.task_id} {task.status}: what each platform received", bold=True)
    for received in sb.received():
        _show(received, out)
    out.out()
    return 0 if task.status == "passed" and not result.undelivered else 1


async def _demo(language: str, out: Output, database: str, folder: str) -> int:
    from tidings.commands.send import print_final
    from tidings.config.loading import loads
    from tidings.delivery.outbox import NewEvent
    from tidings.dispatch.plan import plan_event
    from tidings.dispatch.task import parse_task
    from tidings.notify.texts import TEXTS
    from tidings.sandbox import DEMO_SMTP, Sandbox
    from tidings.sending.record import deliver_now, record
    from tidings.store.db import Store

    store = Store(database).open()
    failures = 0
    keyword = TEXTS[language]["workflow"]  # robots are set up with this keyword, as users do
    async with Sandbox(smtp=DEMO_SMTP) as sb:
        sb.add_demo_destinations()  # every platform's demo destinations (sandbox.demo.DEMO)
        sb.dingtalk_robot("demo-signed", secret="SECdemo0123456789", keywords=(keyword,))
        sb.feishu_bot("demo-signed", secret="demo_secret", keywords=(keyword,))
        # The receiver answers 503 once, so the demo shows a retry with a stable event id.
        sb.webhook_inbox("demo-receiver", script=(503,))
        assert sb.smtp is not None
        text = resources.files("tidings.examples").joinpath("demo.yaml").read_text("utf-8")
        environ = {
            "SANDBOX": sb.url,
            "LANGUAGE": language,
            "SMTP_PORT": str(sb.smtp.port),
            "SMTP_CA": sb.smtp.cafile or "",
        }
        config = loads(text, "demo", environ)
        workflow = config.workflows[0]
        for raw in _tasks():
            task = parse_task(raw)
            out.out(f"== task #{task.task_id} {task.status}: what tidings sent", bold=True)
            sb.clear()
            plan = plan_event(config, workflow, task)
            event = NewEvent("task", task.workflow_name, task.task_id, task.status)
            enqueued = record(store, plan, event, now=time.time(), expires_in=30)
            result = await deliver_now(
                store, config, enqueued, deadline=30, on_final=lambda f: print_final(f, out)
            )
            failures += result.failed
            out.out(
                f"== task #{task.task_id} {task.status}: what each platform received", bold=True
            )
            for received in sb.received():
                _show(received, out)
            out.out()
        failures += await _release(sb, store, out, folder)
    store.close()
    out.out(
        "Every channel above went through a simulator that checks signatures, keywords, "
        "byte limits and rate limits like the real platform. Run `tidings sandbox` to keep "
        "one running and point your own configuration at it."
    )
    return 1 if failures else 0


def _show(received: Any, out: Output) -> None:
    code = "" if received.code is None else f", code {received.code}"
    verdict = (
        "accepted"
        if received.accepted
        else f"refused (HTTP {received.http_status}{code}: {received.message})"
    )
    out.out(
        f"-- {received.platform} {received.destination}: {verdict}",
        fg="green" if received.accepted else "yellow",
    )
    if received.platform == "webhook":
        headers = {k: v for k, v in received.headers.items() if k.lower().startswith("x-zadig")}
        for name in sorted(headers):
            out.out(f"   {name}: {'***' if name.lower() == 'x-zadig-token' else headers[name]}")
        if isinstance(received.body, dict):
            workflow = received.body.get("workflow", {})
            out.out(
                f"   body: object_kind={received.body.get('object_kind')} "
                f"workflow={workflow.get('workflow_name')} #{workflow.get('task_id')} "
                f"status={workflow.get('status')} stages={len(workflow.get('stages', []))}"
            )
        return
    if received.platform == "mail" and isinstance(received.body, dict):
        parts = [name for name in ("text", "html") if received.body.get(name)]
        out.out(f"   Subject: {received.body.get('subject')}  ({' + '.join(parts)} parts)")
        return
    if received.mentions:
        out.out(f"   mentions: {', '.join(received.mentions)}")
    for line in received.text.splitlines():
        if line.strip():
            out.out(f"   | {line}")


def run(language: str) -> int:
    import tempfile

    out = Output()
    # The demo keeps its history in a throw-away database, not the user's.
    with tempfile.TemporaryDirectory(prefix="tidings-demo-") as folder:
        return asyncio.run(_demo(language, out, f"sqlite:///{folder}/demo.db", folder))
