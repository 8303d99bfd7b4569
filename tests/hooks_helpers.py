"""GitHub's and GitLab's webhooks as the platforms send them: the documented payloads
(tests/data/hooks), changed where a test needs it, signed with the webhook's secret."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

from api_helpers import Answer, ApiServer, tokens_yaml

DATA = Path(__file__).parent / "data" / "hooks"
GITHUB_SECRET = "gh-hook-secret-0123456789abcdef"
GITLAB_TOKEN = "gl-hook-token-0123456789abcdef"
# A Standard Webhooks secret (whsec_ and the base64 of 32 bytes).
SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REPOSITORY = "octo-org/octo-repo"
PROJECT = "gitlab-org/gitlab-test"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text("utf-8"))


def workflow_run(
    action: str = "completed",
    conclusion: str | None = "success",
    *,
    status: str | None = None,
    run_id: int = 30433642,
    number: int = 562,
    attempt: int = 1,
    name: str = "CI",
    repository: str = REPOSITORY,
    actor: str = "octocat",
) -> dict[str, Any]:
    """GitHub's workflow_run event: `action` requested / in_progress / completed (its
    `conclusion`); the run's status as GitHub writes it for that action unless given."""
    body = copy.deepcopy(fixture("github_workflow_run"))
    body["action"] = action
    run = body["workflow_run"]
    run.update(
        id=run_id,
        run_number=number,
        run_attempt=attempt,
        name=name,
        status=status or {"requested": "queued"}.get(action, action),
        conclusion=conclusion if action == "completed" else None,
        html_url=f"https://github.com/{repository}/actions/runs/{run_id}",
    )
    run["triggering_actor"]["login"] = actor
    body["workflow"]["name"] = name
    body["repository"]["full_name"] = repository
    return body


def workflow_job(
    name: str,
    action: str = "completed",
    conclusion: str | None = "success",
    *,
    job_id: int = 399444496,
    run_id: int = 30433642,
    attempt: int = 1,
    workflow: str = "CI",
) -> dict[str, Any]:
    """GitHub's workflow_job event of one job of run `run_id`."""
    body = copy.deepcopy(fixture("github_workflow_job"))
    body["action"] = action
    job = body["workflow_job"]
    job.update(
        id=job_id,
        name=name,
        run_id=run_id,
        run_attempt=attempt,
        workflow_name=workflow,
        status=action,
        conclusion=conclusion if action == "completed" else None,
    )
    if action != "completed":
        job["completed_at"] = None
    return body


def pipeline(
    status: str = "success",
    *,
    pipeline_id: int = 31,
    iid: int = 3,
    builds: dict[int, str] | None = None,
    project: str = PROJECT,
) -> dict[str, Any]:
    """GitLab's Pipeline Hook; `builds` sets the status of jobs by id (376 build-image, 377
    test-image, 378 test-build, 379 staging, 380 production)."""
    body = copy.deepcopy(fixture("gitlab_pipeline"))
    attrs = body["object_attributes"]
    attrs.update(id=pipeline_id, iid=iid, status=status)
    attrs["url"] = f"http://example.com/{project}/-/pipelines/{pipeline_id}"
    body["project"]["path_with_namespace"] = project
    for build in body["builds"]:
        if builds and build["id"] in builds:
            build["status"] = builds[build["id"]]
    return body


def job_hook(
    name: str = "test", status: str = "success", *, build_id: int = 1977, pipeline_id: int = 31
) -> dict[str, Any]:
    body = copy.deepcopy(fixture("gitlab_job"))
    body.update(build_name=name, build_status=status, build_id=build_id, pipeline_id=pipeline_id)
    body["project_id"] = 1  # the pipeline fixture's project
    body["project"]["id"] = 1
    return body


def github_signature(body: bytes, secret: str = GITHUB_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_github(
    api: ApiServer,
    event: str,
    payload: dict[str, Any],
    *,
    delivery: str | None = None,
    secret: str | None = GITHUB_SECRET,
    signature: str | None = None,
) -> Answer:
    """POST /api/v1/hooks/github as GitHub does: JSON, X-GitHub-Event, X-GitHub-Delivery,
    X-Hub-Signature-256 (none when `secret` is None; `signature` to send another)."""
    raw = json.dumps(payload).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = github_signature(raw, secret)
    return api.call("POST", "/api/v1/hooks/github", raw=raw, headers=headers)


def post_gitlab(
    api: ApiServer,
    event: str,
    payload: dict[str, Any],
    *,
    uuid_: str | None = None,
    token: str | None = GITLAB_TOKEN,
) -> Answer:
    """POST /api/v1/hooks/gitlab as GitLab does: X-Gitlab-Event, X-Gitlab-Token,
    X-Gitlab-Event-UUID and Idempotency-Key."""
    key = uuid_ or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.6.0",
        "X-Gitlab-Event": event,
        "X-Gitlab-Instance": "https://gitlab.example.com",
        "X-Gitlab-Webhook-UUID": "02affd2d-2cba-4033-917d-ec22d5dc4b38",
        "X-Gitlab-Event-UUID": key,
        "Idempotency-Key": key,
    }
    if token is not None:
        headers["X-Gitlab-Token"] = token
    raw = json.dumps(payload).encode("utf-8")
    return api.call("POST", "/api/v1/hooks/gitlab", raw=raw, headers=headers)


def hooks_config(tmp_path: Path, ctls: str, *, extra_routes: str = "", users: str = "") -> str:
    """A configuration whose workflow `shop-ci` receives octo-org/octo-repo's `CI` runs and
    `shop-pipeline` gitlab-org/gitlab-test's pipelines, both with the notify_ctls `ctls` (YAML
    list items); `extra_routes`: more GitHub routes (YAML list items)."""
    ctl_lines = textwrap.indent(textwrap.dedent(ctls).strip("\n"), " " * 6)
    routes = textwrap.indent(textwrap.dedent(extra_routes).strip("\n"), " " * 6)
    text = (
        "system:\n"
        + tokens_yaml()
        + "sources:\n"
        + "  github:\n"
        + f"    secret: {GITHUB_SECRET}\n"
        + "    routes:\n"
        + f"      - {{repository: {REPOSITORY}, actions_workflow: CI, workflow: shop-ci}}\n"
        + (routes + "\n" if routes else "")
        + "  gitlab:\n"
        + f"    token: {GITLAB_TOKEN}\n"
        + "    routes:\n"
        + f"      - {{project: {PROJECT}, workflow: shop-pipeline}}\n"
        + (textwrap.dedent(users).strip("\n") + "\n" if users else "")
        + "workflows:\n"
        + "  - name: shop-ci\n    display_name: Shop CI\n    notify_ctls:\n"
        + ctl_lines
        + "\n  - name: shop-pipeline\n    notify_ctls:\n"
        + ctl_lines
        + "\n"
    )
    path = tmp_path / "tidings.yaml"
    path.write_text(text, "utf-8")
    return str(path)
