"""GitHub's and GitLab's webhooks posted over real HTTP to `tidings serve`, as the platforms post
them: signatures right, wrong, missing and replayed; every status; a run's jobs accumulated
across concurrent events; events out of order; DingTalk's message and a signed webhook at the
sandbox; unknown repositories counted; malformed payloads named."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from standardwebhooks import Webhook

from api_helpers import READER, ApiServer, wait_for
from hooks_helpers import (
    GITHUB_SECRET,
    GITLAB_TOKEN,
    SIGNING_SECRET,
    fixture,
    hooks_config,
    job_hook,
    pipeline,
    post_github,
    post_gitlab,
    workflow_job,
    workflow_run,
)

ALL = "created, running, passed, failed, cancelled, timeout, pause, wait_for_approval, skipped"


def _ctls(sandbox, statuses: str = ALL) -> str:
    ding = sandbox.dingtalk_robot("dt-hooks-0123456789", keywords=("工作流",))
    hook = sandbox.webhook_inbox("ci")
    return f"""
      - webhook_type: dingding
        notify_type: [{statuses}]
        dingding_notification_config: {{hook_address: "{ding}"}}
      - webhook_type: webhook
        notify_type: [{statuses}]
        webhook_notification_config: {{address: "{hook}", signing_secret: "{SIGNING_SECRET}"}}
    """


def _nothing_recorded(api: ApiServer) -> None:
    assert api.call("GET", "/api/v1/deliveries", token=READER).json() == []
    assert api.call("GET", "/api/v1/tasks", token=READER).json() == []


def _metric(api: ApiServer, source: str, outcome: str) -> float:
    text = api.call("GET", "/metrics", token=READER).body.decode()
    found = re.search(
        rf'tidings_source_events_total{{outcome="{outcome}",source="{source}"}} (\S+)', text
    )
    return float(found.group(1)) if found else 0.0


def test_a_github_run_reaches_dingtalk_and_a_signed_webhook_with_all_its_jobs(tmp_path, sandbox):
    config = hooks_config(tmp_path, _ctls(sandbox, "created, passed, failed"))
    with ApiServer(config, tmp_path) as api:
        answer = post_github(api, "workflow_run", workflow_run("requested"))
        assert answer.status == 202 and answer.json()["outcome"] == "notified", answer
        assert (answer.json()["workflow"], answer.json()["task_id"]) == ("shop-ci", 562)
        names = ["build", "lint", "test (3.11)", "test (3.12)", "package", "docs"]
        events = [
            workflow_job(name, action, conclusion, job_id=100 + index)
            for index, name in enumerate(names)
            for action, conclusion in (("queued", None), ("in_progress", None))
        ] + [
            workflow_job(
                name, "completed", "failure" if name == "lint" else "success", job_id=100 + i
            )
            for i, name in enumerate(names)
        ]
        # GitHub sends the jobs of parallel jobs at the same moment: all of them count.
        barrier = threading.Barrier(len(names))

        def post(body):
            if body["action"] == "completed":
                barrier.wait()
            return post_github(api, "workflow_job", body)

        with ThreadPoolExecutor(len(names)) as pool:
            answers = list(pool.map(post, events))
        assert {a.status for a in answers} == {202}
        assert {a.json()["outcome"] for a in answers} == {"recorded"}
        done = post_github(api, "workflow_run", workflow_run("completed", "failure"))
        assert done.json()["outcome"] == "notified" and done.json()["status"] == "failed"
        wait_for(lambda: len(sandbox.accepted("dingtalk")) == 2, what="two DingTalk messages")
        wait_for(lambda: len(sandbox.accepted("webhook")) == 2, what="two webhooks")
    created, failed = sandbox.accepted("dingtalk")
    assert "👍工作流 Shop CI #562 开始执行" in created.text
    assert "❌工作流 Shop CI #562 执行失败" in failed.text
    assert "**执行用户**：octocat" in failed.text
    assert "**项目名称**：octo-org/octo-repo" in failed.text
    assert "**备注**：Fix the checkout flow" in failed.text
    for name in names:
        status = "执行失败" if name == "lint" else "执行成功"
        assert f"**通用任务**: {name}    **状态**: {status}" in failed.text
    assert "[acb5820c](https://github.com/octo-org/octo-repo/commit/acb5820c" in failed.text
    # The button opens the run's page on GitHub.
    run_url = "https://github.com/octo-org/octo-repo/actions/runs/30433642"
    (button,) = failed.body["actionCard"]["btns"]
    assert quote(run_url, safe="") in button["actionURL"]
    hook = sandbox.accepted("webhook")[1]
    payload = Webhook(SIGNING_SECRET).verify(hook.extra["raw"].encode(), dict(hook.headers))
    workflow = payload["workflow"]
    assert (workflow["workflow_name"], workflow["task_id"], workflow["status"]) == (
        "shop-ci",
        562,
        "failed",
    )
    (stage,) = workflow["stages"]
    assert [job["name"] for job in stage["jobs"]] == names
    assert stage["status"] == "failed"


def test_github_signature_right_wrong_missing_and_replayed(tmp_path, sandbox):
    config = hooks_config(tmp_path, _ctls(sandbox))
    body = workflow_run("completed", "success")
    with ApiServer(config, tmp_path) as api:
        wrong = post_github(api, "workflow_run", body, secret="not-the-secret-0123456789")
        missing = post_github(api, "workflow_run", body, secret=None)
        garbage = post_github(api, "workflow_run", body, signature="sha256=é")
        for answer in (wrong, missing, garbage):
            assert answer.status == 401, answer
            assert GITHUB_SECRET not in answer.body.decode()
        assert "X-Hub-Signature-256" in missing.json()["error"]
        _nothing_recorded(api)
        assert _metric(api, "github", "unauthorized") == 3
        first = post_github(
            api, "workflow_run", body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958"
        )
        assert first.status == 202 and first.json()["outcome"] == "notified"
        again = post_github(
            api, "workflow_run", body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958"
        )
        assert again.status == 200 and again.json()["outcome"] == "duplicate"
        assert [d["id"] for d in again.json()["deliveries"]] == [
            d["id"] for d in first.json()["deliveries"]
        ]
        wait_for(lambda: len(sandbox.accepted("webhook")) == 1, what="the webhook")
        # Another delivery of the same status is no news either.
        other = post_github(api, "workflow_run", body)
        assert other.status == 202 and other.json()["outcome"] == "unchanged"
    assert len(sandbox.accepted("dingtalk")) == 1 and len(sandbox.accepted("webhook")) == 1


def test_events_out_of_order(tmp_path, sandbox):
    config = hooks_config(tmp_path, _ctls(sandbox))
    with ApiServer(config, tmp_path) as api:
        # A job before its run, the run's completion before its progress.
        job = post_github(api, "workflow_job", workflow_job("build", job_id=7))
        assert job.json()["outcome"] == "recorded" and job.json()["status"] is None
        done = post_github(api, "workflow_run", workflow_run("completed", "success"))
        assert done.json()["status"] == "passed"
        late = post_github(api, "workflow_run", workflow_run("in_progress", None))
        assert late.status == 202 and late.json()["outcome"] == "stale"
        late = post_github(api, "workflow_run", workflow_run("requested", None))
        assert late.json()["outcome"] == "stale"
        wait_for(lambda: sandbox.accepted("webhook"), what="the webhook")
        # A re-run (attempt 2) is news again.
        rerun = post_github(api, "workflow_run", workflow_run("requested", None, attempt=2))
        assert rerun.json()["outcome"] == "notified" and rerun.json()["status"] == "created"
        wait_for(lambda: len(sandbox.accepted("webhook")) == 2, what="the re-run's webhook")
    statuses = [r.body["workflow"]["status"] for r in sandbox.accepted("webhook")]
    assert statuses == ["passed", "created"]
    first = sandbox.accepted("webhook")[0].body["workflow"]
    assert [j["name"] for j in first["stages"][0]["jobs"]] == ["build"]


GITHUB_STATUSES = [
    ("requested", "queued", None, "created"),
    ("in_progress", "waiting", None, "wait_for_approval"),
    ("in_progress", "in_progress", None, "running"),
    ("completed", "completed", "success", "passed"),
    ("completed", "completed", "neutral", "passed"),
    ("completed", "completed", "failure", "failed"),
    ("completed", "completed", "startup_failure", "failed"),
    ("completed", "completed", "cancelled", "cancelled"),
    ("completed", "completed", "timed_out", "timeout"),
    ("completed", "completed", "skipped", "skipped"),
    ("completed", "completed", "stale", "cancelled"),
    ("completed", "completed", "action_required", "wait_for_approval"),
]
GITLAB_STATUSES = [
    ("created", "created"),
    ("pending", "created"),
    ("running", "running"),
    ("manual", "pause"),
    ("success", "passed"),
    ("failed", "failed"),
    ("canceled", "cancelled"),
    ("skipped", "skipped"),
]


def test_every_status_is_mapped(tmp_path):
    config = hooks_config(
        tmp_path,
        "- {webhook_type: webhook, notify_type: [], "
        "webhook_notification_config: {address: 'http://127.0.0.1:9/x'}}",
    )
    with ApiServer(config, tmp_path, worker=False) as api:
        for n, (action, status, conclusion, expected) in enumerate(GITHUB_STATUSES):
            body = workflow_run(action, conclusion, status=status, run_id=9000 + n, number=n + 1)
            answer = post_github(api, "workflow_run", body)
            assert answer.status == 202, answer
            assert answer.json()["status"] == expected, (status, conclusion, answer.json())
        for n, (status, expected) in enumerate(GITLAB_STATUSES):
            answer = post_gitlab(
                api, "Pipeline Hook", pipeline(status, pipeline_id=500 + n, iid=n + 1)
            )
            assert answer.status == 202, answer
            assert answer.json()["status"] == expected, (status, answer.json())
        tasks = api.call("GET", "/api/v1/tasks?workflow=shop-pipeline&limit=100", token=READER)
        assert len(tasks.json()) == len(GITLAB_STATUSES)


def test_a_gitlab_pipeline_by_stage_with_its_job_events(tmp_path, sandbox):
    config = hooks_config(tmp_path, _ctls(sandbox, "running, failed"))
    with ApiServer(config, tmp_path) as api:
        wrong = post_gitlab(
            api, "Pipeline Hook", pipeline("running"), token="guess-0123456789abcdef"
        )
        missing = post_gitlab(api, "Pipeline Hook", pipeline("running"), token=None)
        assert (wrong.status, missing.status) == (401, 401)
        assert GITLAB_TOKEN not in wrong.body.decode()
        _nothing_recorded(api)
        running = pipeline("running", builds={376: "success", 377: "running", 378: "running"})
        assert post_gitlab(api, "Pipeline Hook", running).json()["outcome"] == "notified"
        # A job event between pipeline events: kept with its pipeline.
        job = post_gitlab(api, "Job Hook", job_hook("test-build", "failed", build_id=378))
        assert job.json()["outcome"] == "recorded" and job.json()["task_id"] == 3
        again = post_gitlab(api, "Pipeline Hook", running, uuid_="same-event-uuid")
        assert again.json()["outcome"] == "unchanged"
        failed = post_gitlab(api, "Pipeline Hook", pipeline("failed"), uuid_="f5e5f430-f57b")
        assert failed.json()["outcome"] == "notified"
        replay = post_gitlab(api, "Pipeline Hook", pipeline("failed"), uuid_="f5e5f430-f57b")
        assert replay.status == 200 and replay.json()["outcome"] == "duplicate"
        wait_for(lambda: len(sandbox.accepted("dingtalk")) == 2, what="two DingTalk messages")
        wait_for(lambda: len(sandbox.accepted("webhook")) == 2, what="two webhooks")
    text = sandbox.accepted("dingtalk")[1].text
    assert "❌工作流 shop-pipeline #3 执行失败" in text
    assert "**执行用户**：Administrator" in text
    order = [m.group(1) for m in re.finditer(r"\*\*通用任务\*\*: (\S+)", text)]
    assert order == ["build-image", "test-image", "test-build", "staging", "production"]
    assert "**错误信息**：script_failure" in text
    assert "[#1](http://example.com/gitlab-org/gitlab-test/merge_requests/1)" in text
    workflow = sandbox.accepted("webhook")[1].body["workflow"]
    assert [s["name"] for s in workflow["stages"]] == ["build", "test", "deploy"]
    # deploy: staging not started, production skipped.
    assert [s["status"] for s in workflow["stages"]] == ["passed", "failed", ""]
    assert workflow["detail_url"] == "http://example.com/gitlab-org/gitlab-test/-/pipelines/31"


def test_unknown_repositories_are_accepted_and_counted(tmp_path, sandbox):
    config = hooks_config(tmp_path, _ctls(sandbox))
    with ApiServer(config, tmp_path) as api:
        other = post_github(api, "workflow_run", workflow_run(repository="octo-org/other-repo"))
        assert other.status == 202 and other.json()["outcome"] == "unrouted"
        assert other.json()["message"].startswith(
            "no workflow configured for GitHub repository octo-org/other-repo"
        )
        named = post_github(api, "workflow_run", workflow_run(name="Nightly"))
        assert "Actions workflow 'Nightly'" in named.json()["message"]
        gitlab = post_gitlab(api, "Pipeline Hook", pipeline(project="acme/elsewhere"))
        assert "GitLab project acme/elsewhere" in gitlab.json()["message"]
        _nothing_recorded(api)
        assert _metric(api, "github", "unrouted") == 2
        assert _metric(api, "gitlab", "unrouted") == 1
        assert post_github(api, "ping", fixture("github_ping")).json()["outcome"] == "pong"
        push = post_github(api, "push", {"ref": "refs/heads/main"})
        assert push.status == 202 and push.json()["outcome"] == "ignored"


def test_a_malformed_payload_is_refused_naming_the_field(tmp_path, sandbox):
    config = hooks_config(tmp_path, _ctls(sandbox))
    body = workflow_run()
    body["workflow_run"]["id"] = "30433642"
    del body["workflow_run"]["run_number"]
    with ApiServer(config, tmp_path) as api:
        answer = post_github(api, "workflow_run", body)
        assert answer.status == 400
        problems = {p["path"]: p["message"] for p in answer.json()["problems"]}
        assert problems == {
            "workflow_run.id": "must be an integer",
            "workflow_run.run_number": "field required",
        }
        assert "workflow_run.id" in answer.json()["error"]
        raw = api.call(
            "POST",
            "/api/v1/hooks/gitlab",
            raw=b"{not json",
            headers={"X-Gitlab-Token": GITLAB_TOKEN, "X-Gitlab-Event": "Pipeline Hook"},
        )
        assert raw.status == 400 and raw.json()["problems"][0]["path"] == "body"
        _nothing_recorded(api)
        assert _metric(api, "github", "invalid") == 1


def test_changed_compares_with_the_run_before(tmp_path, sandbox):
    config = hooks_config(tmp_path, _ctls(sandbox, "changed"))
    with ApiServer(config, tmp_path) as api:
        for number, conclusion in ((40, "failure"), (41, "success"), (42, "success")):
            body = workflow_run("completed", conclusion, run_id=1000 + number, number=number)
            assert post_github(api, "workflow_run", body).status == 202
        wait_for(lambda: len(sandbox.accepted("webhook")) == 2, what="two changes")
    # #40: nothing known before it (counts as changed, as in Zadig); #41 failed -> passed.
    assert [r.body["workflow"]["task_id"] for r in sandbox.accepted("webhook")] == [40, 41]


def test_the_creator_is_found_under_users(tmp_path, sandbox):
    users = """
        users:
          - {id: ada, name: Ada Lovelace, email: ada@example.com, logins: [octocat]}
          - {id: root, name: Root, email: user_email@gitlab.com}
    """
    config = hooks_config(tmp_path, _ctls(sandbox, "passed, failed"), users=users)
    with ApiServer(config, tmp_path) as api:
        post_github(api, "workflow_run", workflow_run("completed", "success"))
        post_gitlab(api, "Pipeline Hook", pipeline("failed"))
        wait_for(lambda: len(sandbox.accepted("webhook")) == 2, what="two webhooks")
    by_name = {
        r.body["workflow"]["workflow_name"]: r.body["workflow"] for r in sandbox.accepted("webhook")
    }
    assert (by_name["shop-ci"]["task_creator"], by_name["shop-ci"]["task_creator_id"]) == (
        "Ada Lovelace",
        "ada",
    )
    assert by_name["shop-ci"]["task_creator_email"] == "ada@example.com"
    assert by_name["shop-pipeline"]["task_creator_id"] == "root"  # by login `root`


def test_github_form_encoded_deliveries_and_unconfigured_sources(tmp_path, sandbox):
    import hashlib
    import hmac
    import json
    from urllib.parse import urlencode

    config = hooks_config(tmp_path, _ctls(sandbox, "passed"))
    raw = urlencode({"payload": json.dumps(workflow_run())}).encode()
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": "form-1",
        "X-Hub-Signature-256": signature,
    }
    with ApiServer(config, tmp_path) as api:
        answer = api.call("POST", "/api/v1/hooks/github", raw=raw, headers=headers)
        assert answer.status == 202 and answer.json()["outcome"] == "notified", answer
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "tidings.yaml").write_text("workflows: []\n", "utf-8")
    with ApiServer(str(bare / "tidings.yaml"), bare, worker=False) as api:
        answer = post_github(api, "workflow_run", workflow_run())
        assert answer.status == 404 and "sources.github" in answer.json()["error"]
