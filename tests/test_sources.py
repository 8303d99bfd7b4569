"""GitHub's and GitLab's payloads as tidings reads them, without HTTP: every status mapped, a
field of the wrong type named, everything bounded, signatures, and a run's state merged from
events in any order."""

from __future__ import annotations

import pytest

from hooks_helpers import (
    GITHUB_SECRET,
    GITLAB_TOKEN,
    fixture,
    github_signature,
    job_hook,
    pipeline,
    workflow_job,
    workflow_run,
)
from tidings.config.loading import loads
from tidings.errors import ConfigError, InputError
from tidings.sources import github, gitlab, verify
from tidings.sources.payload import TEXT, decode_body, parse_time
from tidings.sources.runs import MAX_JOBS, find_user, merge_job, merge_run, snapshot
from tidings.sources.updates import Ignored, JobEvent, Ping, RunUpdate

GITHUB_RUNS = [
    # (action, workflow_run.status, conclusion) -> the task's status
    ("requested", "queued", None, "created"),
    ("requested", "requested", None, "created"),
    ("requested", "pending", None, "created"),
    ("in_progress", "waiting", None, "wait_for_approval"),
    ("in_progress", "in_progress", None, "running"),
    ("completed", "completed", "success", "passed"),
    ("completed", "completed", "neutral", "passed"),
    ("completed", "completed", "failure", "failed"),
    ("completed", "completed", "startup_failure", "failed"),
    ("completed", "completed", "cancelled", "cancelled"),
    ("completed", "completed", "stale", "cancelled"),
    ("completed", "completed", "timed_out", "timeout"),
    ("completed", "completed", "skipped", "skipped"),
    ("completed", "completed", "action_required", "wait_for_approval"),
]


@pytest.mark.parametrize(("action", "status", "conclusion", "expected"), GITHUB_RUNS)
def test_every_github_run_status_is_mapped(action, status, conclusion, expected):
    event = github.parse("workflow_run", workflow_run(action, conclusion, status=status))
    assert isinstance(event, RunUpdate)
    assert event.status == expected
    assert event.task_id == 562 and event.generation == 1


GITHUB_JOBS = [
    ("queued", None, ""),
    ("waiting", None, "wait_for_approval"),
    ("in_progress", None, "running"),
    ("completed", "success", "passed"),
    ("completed", "failure", "failed"),
    ("completed", "cancelled", "cancelled"),
    ("completed", "timed_out", "timeout"),
    ("completed", "skipped", "skipped"),
    ("completed", "neutral", "passed"),
]


@pytest.mark.parametrize(("action", "conclusion", "expected"), GITHUB_JOBS)
def test_every_github_job_status_is_mapped(action, conclusion, expected):
    event = github.parse("workflow_job", workflow_job("build", action, conclusion))
    assert isinstance(event, JobEvent)
    assert event.job.status == expected
    assert event.origin.ci_workflow == "CI"


GITLAB_PIPELINES = [
    ("created", "created"),
    ("pending", "created"),
    ("preparing", "created"),
    ("waiting_for_resource", "created"),
    ("running", "running"),
    ("scheduled", "running"),
    ("manual", "pause"),
    ("success", "passed"),
    ("failed", "failed"),
    ("canceling", "cancelled"),
    ("canceled", "cancelled"),
    ("skipped", "skipped"),
]


@pytest.mark.parametrize(("status", "expected"), GITLAB_PIPELINES)
def test_every_gitlab_pipeline_status_is_mapped(status, expected):
    event = gitlab.parse("Pipeline Hook", pipeline(status))
    assert isinstance(event, RunUpdate)
    assert (event.status, event.task_id, event.stages) == (expected, 3, ("build", "test", "deploy"))
    assert {job.name: job.stage for job in event.jobs} == {
        "production": "deploy",
        "test-image": "test",
        "test-build": "test",
        "build-image": "build",
        "staging": "deploy",
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("created", ""),
        ("pending", ""),
        ("manual", ""),
        ("running", "running"),
        ("success", "passed"),
        ("failed", "failed"),
        ("canceled", "cancelled"),
        ("skipped", "skipped"),
    ],
)
def test_every_gitlab_job_status_is_mapped(status, expected):
    event = gitlab.parse("Job Hook", job_hook("test", status))
    assert isinstance(event, JobEvent)
    assert (event.job.status, event.job.stage, event.origin.repository) == (
        expected,
        "test",
        "gitlab-org/gitlab-test",
    )


def test_other_events_and_unknown_statuses_are_ignored_not_refused():
    assert isinstance(github.parse("ping", fixture("github_ping")), Ping)
    assert isinstance(github.parse("push", {}), Ignored)
    assert isinstance(gitlab.parse("Push Hook", {}), Ignored)
    odd = github.parse("workflow_run", workflow_run(status="exploded"))
    assert isinstance(odd, Ignored) and "exploded" in odd.reason
    assert isinstance(gitlab.parse("Pipeline Hook", pipeline("mystery")), Ignored)


def test_a_malformed_payload_names_each_field():
    body = workflow_run()
    body["workflow_run"]["run_number"] = "562"
    del body["repository"]["full_name"]
    with pytest.raises(InputError) as caught:
        github.parse("workflow_run", body)
    found = {(p.path, p.message) for p in caught.value.problems}
    assert found == {
        ("workflow_run.run_number", "must be an integer"),
        ("repository.full_name", "field required"),
    }
    bad = pipeline()
    bad["builds"][1]["id"] = True
    with pytest.raises(InputError) as caught:
        gitlab.parse("Pipeline Hook", bad)
    assert [p.path for p in caught.value.problems] == ["builds[1].id"]
    with pytest.raises(InputError) as caught:
        decode_body(b"[1, 2]", "application/json")
    assert caught.value.problems[0].path == "body"


def test_githubs_form_encoded_payload_is_read():
    from urllib.parse import urlencode

    form = urlencode({"payload": '{"zen": "Keep it logically awesome."}'}).encode()
    assert decode_body(form, "application/x-www-form-urlencoded") == {
        "zen": "Keep it logically awesome."
    }


def test_what_a_payload_holds_is_bounded():
    body = workflow_run()
    body["workflow_run"]["head_commit"]["message"] = "x" * 1_000_000
    event = github.parse("workflow_run", body)
    assert isinstance(event, RunUpdate)
    assert len(event.info["repository"]["commit_message"]) == TEXT
    many = pipeline()
    template = many["builds"][1]
    many["builds"] = [
        {**template, "id": 1000 + n, "name": f"job-{n}"} for n in range(MAX_JOBS + 100)
    ]
    event = gitlab.parse("Pipeline Hook", many)
    assert isinstance(event, RunUpdate)
    state, _ = merge_run(None, event, "shop-pipeline", "d1")
    assert len(state["jobs"]) == MAX_JOBS
    # Job events cannot grow it either.
    for n in range(50):
        state, _ = merge_job(state, gitlab.parse("Job Hook", job_hook(f"extra-{n}", build_id=n)))
    assert len(state["jobs"]) == MAX_JOBS and state["dropped"] == 50


def test_times_of_both_platforms():
    assert parse_time("2020-01-22T19:33:08Z") == 1579721588
    assert parse_time("2016-08-12 15:23:28 UTC") == 1471015408
    assert parse_time("2021-02-23T02:41:37.886Z") == 1614048097
    assert parse_time("2011-12-12T14:27:31+02:00") == 1323692851
    assert parse_time("last tuesday") == 0


def test_signatures_are_checked_in_constant_time_and_say_why():
    body = b'{"action":"completed"}'
    secrets, tokens = [GITHUB_SECRET], [GITLAB_TOKEN]
    assert verify.github(secrets, github_signature(body), body) is None
    assert "does not match" in (verify.github(secrets, github_signature(b"{}"), body) or "")
    assert "missing" in (verify.github(secrets, None, body) or "")
    assert verify.github(secrets, "sha256=é☃", body) is not None  # no crash
    assert verify.gitlab(tokens, GITLAB_TOKEN) is None
    assert verify.gitlab(tokens, "guess") is not None
    assert "missing" in (verify.gitlab(tokens, "") or "")
    for message in (verify.github(secrets, "sha256=00", body), verify.gitlab(["x" * 16], "y")):
        assert GITHUB_SECRET not in (message or "") and "x" * 16 not in (message or "")


def test_a_rotated_secret_accepts_the_webhooks_with_the_new_one_and_with_the_old_one():
    """Rotating the GitHub secret across many repositories' webhooks: `secret: [new, old]`
    takes both while the webhooks change; a third secret is still refused. The same for
    GitLab's token."""
    from tidings.config.loading import loads

    new, old = "gh-new-secret-0123456789abcdef", GITHUB_SECRET
    config = loads(
        f"""
        sources:
          github: {{secret: [{new}, {old}]}}
          gitlab: {{token: [gl-new-token-0123456789, {GITLAB_TOKEN}]}}
        """.replace("        ", "")
    )
    assert config.sources.github is not None and config.sources.gitlab is not None
    secrets, tokens = config.sources.github.secret, config.sources.gitlab.token
    body = b'{"action":"completed"}'
    for secret in (new, old):
        assert verify.github(secrets, github_signature(body, secret), body) is None
    stranger = github_signature(body, "some-other-secret-0123456789")
    assert "does not match" in (verify.github(secrets, stranger, body) or "")
    assert verify.gitlab(tokens, "gl-new-token-0123456789") is None
    assert verify.gitlab(tokens, GITLAB_TOKEN) is None
    assert verify.gitlab(tokens, "gl-other-token-0123456789") is not None
    # Both are secrets: masked wherever tidings prints.
    assert {new, old, GITLAB_TOKEN} <= set(config.secrets())


def _run(action: str, conclusion: str | None = "success", **kw) -> RunUpdate:
    event = github.parse("workflow_run", workflow_run(action, conclusion, **kw))
    assert isinstance(event, RunUpdate)
    return event


def _job(name: str, action: str = "completed", **kw) -> JobEvent:
    event = github.parse("workflow_job", workflow_job(name, action, **kw))
    assert isinstance(event, JobEvent)
    return event


def test_a_runs_jobs_accumulate_in_any_order():
    state, decision = merge_job(None, _job("build", "in_progress", job_id=1))
    assert decision.outcome == "recorded" and not decision.notify
    state, decision = merge_run(state, _run("requested"), "shop-ci", "d1")
    assert decision.notify and decision.status == "created"
    state, _ = merge_job(state, _job("test", job_id=2))
    state, _ = merge_job(state, _job("build", job_id=1))
    # A late in_progress of `build` does not undo its completion.
    state, _ = merge_job(state, _job("build", "in_progress", job_id=1))
    assert {s: j["status"] for s, j in state["jobs"].items()} == {
        "build": "passed",
        "test": "passed",
    }


def test_a_late_or_repeated_status_is_not_notified_again():
    state, first = merge_run(None, _run("completed"), "shop-ci", "d-completed")
    assert first.notify and first.status == "passed"
    state, late = merge_run(state, _run("in_progress", None), "shop-ci", "d-progress")
    assert late.outcome == "stale" and state["run"]["status"] == "passed"
    state, same = merge_run(state, _run("completed"), "shop-ci", "d-other")
    assert same.outcome == "unchanged"
    # The very delivery that set it, again: notified, for the outbox to answer as a duplicate.
    state, again = merge_run(state, _run("completed"), "shop-ci", "d-completed")
    assert again.notify
    # A re-run is a new generation: its statuses are news again.
    state, rerun = merge_run(state, _run("requested", attempt=2), "shop-ci", "d-rerun")
    assert rerun.notify and rerun.status == "created"


def test_a_retried_gitlab_job_starts_a_new_generation():
    state, failed = merge_run(None, gitlab.parse("Pipeline Hook", pipeline("failed")), "p", "g1")
    assert failed.status == "failed"
    retried = pipeline("running")
    retried["builds"].append({**retried["builds"][2], "id": 381, "status": "pending"})
    state, running = merge_run(state, gitlab.parse("Pipeline Hook", retried), "p", "g2")
    assert running.notify and running.status == "running"
    assert state["jobs"]["test/test-build"]["id"] == 381
    stale = pipeline("pending")  # an old event of the first try, delivered late
    state, late = merge_run(state, gitlab.parse("Pipeline Hook", stale), "p", "g3")
    assert late.outcome == "stale"


CONFIG = """
users:
  - {id: ada, name: Ada, email: ada@example.com, phone: "13800000001", logins: [octocat]}
  - {id: root, name: Root, email: admin@example.com}
sources:
  github:
    secret: SECRET
    routes: [{repository: octo-org/octo-repo, actions_workflow: CI, workflow: shop-ci}]
workflows:
  - {name: shop-ci, display_name: Shop CI}
""".replace("SECRET", GITHUB_SECRET)


def test_the_snapshot_names_the_creator_the_commit_and_the_page():
    config = loads(CONFIG)
    state, _ = merge_run(None, _run("completed", "failure"), "shop-ci", "d1")
    state, _ = merge_job(state, _job("build", job_id=7))
    task = snapshot(state, config)
    assert task["task_id"] == 562 and task["status"] == "failed"
    assert (task["task_creator"], task["task_creator_id"], task["task_creator_phone"]) == (
        "Ada",
        "ada",
        "13800000001",
    )
    assert task["detail_url"] == "https://github.com/octo-org/octo-repo/actions/runs/30433642"
    assert task["project_display_name"] == "octo-org/octo-repo"
    repository = task["stages"][0]["jobs"][0]["spec"]["repositories"][0]
    assert repository["commit_id"].startswith("acb5820c") and repository["branch"] == "main"
    assert task["payload"]["workflow_run"]["head_commit"]["author"]["email"] == "octocat@github.com"


def test_users_are_found_by_login_id_or_email():
    config = loads(CONFIG)
    assert find_user(config, "OctoCat", "") is config.users[0]  # logins, without case
    assert find_user(config, "root", "") is config.users[1]  # the user's id
    assert find_user(config, "someone", "ADMIN@example.com") is config.users[1]
    assert find_user(config, "someone", "") is None


@pytest.mark.parametrize(
    ("routes", "workflows", "message"),
    [
        (
            "[{repository: a/b, actions_workflow: CI, workflow: nope}]",
            "[{name: w}]",
            "unknown workflow",
        ),
        (
            "[{repository: a/b, actions_workflow: CI, workflow: w}]",
            "[{name: w, stages: [{name: s, jobs: [{name: j, type: freestyle,"
            " spec: {script: x}}]}]}]",
            "has stages",
        ),
        (
            "[{repository: a/b, actions_workflow: CI, workflow: w}]",
            "[{name: w, project: shop}]",
            "has a project",
        ),
        (
            "[{repository: a/b, actions_workflow: CI, workflow: w},"
            " {repository: a/c, actions_workflow: CI, workflow: w}]",
            "[{name: w}]",
            "already receives",
        ),
        ("[{repository: acme, actions_workflow: CI, workflow: w}]", "[{name: w}]", "owner/name"),
    ],
)
def test_routes_are_checked(routes, workflows, message):
    text = f"sources:\n  github:\n    secret: {GITHUB_SECRET}\n    routes: {routes}\n"
    text += f"workflows: {workflows}\n"
    with pytest.raises(ConfigError) as caught:
        loads(text)
    assert any(
        message in p.message and p.path.startswith("sources.github.routes")
        for p in caught.value.problems
    ), caught.value.problems


def test_a_short_hook_secret_is_refused_and_secrets_are_redacted():
    with pytest.raises(ConfigError) as caught:
        loads("sources:\n  gitlab: {token: short, routes: []}\n")
    assert caught.value.problems[0].path == "sources.gitlab.token"
    config = loads(CONFIG)
    assert GITHUB_SECRET in config.secrets()
