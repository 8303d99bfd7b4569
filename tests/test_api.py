"""The HTTP API over real HTTP (uvicorn on a free port), platforms simulated by the sandbox."""

from __future__ import annotations

import textwrap

import pytest

from api_helpers import ADMIN, READER, RUNNER, SENDER, ApiServer, tokens_yaml, wait_for
from helpers import DT_SECRET, WEBHOOK_TOKEN, seed_task

EVENT_UUID = "5b7d4c2e-1111-4f6a-9c3d-2e6f1a0b9c77"


def _config(tmp_path, sandbox, *, extra_system: str = "", hook_script=()) -> str:
    ding = sandbox.dingtalk_robot("dt-token-abcdef123456", secret=DT_SECRET, keywords=("工作流",))
    hook = sandbox.webhook_inbox("receiver", script=hook_script)
    text = (
        "system:\n  address: https://zadig.example.com\n"
        + tokens_yaml()
        + extra_system
        + textwrap.dedent(
            f"""\
            workflows:
              - name: demo-workflow-dev
                notify_ctls:
                  - webhook_type: dingding
                    notify_type: [passed, failed]
                    dingding_notification_config:
                      hook_address: "{ding}"
                      secret: "{DT_SECRET}"
                  - webhook_type: webhook
                    notify_type: [passed, failed]
                    webhook_notification_config: {{address: "{hook}", token: "{WEBHOOK_TOKEN}"}}
            """
        )
    )
    path = tmp_path / "tidings.yaml"
    path.write_text(text, "utf-8")
    return str(path)


def _payload(**changes) -> dict:
    return {"object_kind": "workflow", "event": "workflow", "workflow": {**seed_task(), **changes}}


@pytest.fixture
def api(tmp_path, sandbox):
    with ApiServer(_config(tmp_path, sandbox), tmp_path) as server:
        yield server


def _status(api, delivery_id: str) -> str:
    return api.call("GET", f"/api/v1/deliveries/{delivery_id}", token=READER).json()["status"]


def _all_sent(api, answer) -> bool:
    """Every delivery of this answer recorded as sent (the worker records a result just after
    the platform has answered, so a platform that has the message is not proof yet)."""
    return all(_status(api, d["id"]) == "sent" for d in answer.json()["deliveries"])


def _no_secrets(*answers) -> None:
    for answer in answers:
        text = answer.body.decode("utf-8")
        for secret in (DT_SECRET, WEBHOOK_TOKEN, "dt-token-abcdef123456", ADMIN, SENDER):
            assert secret not in text, (secret, text[:300])


def test_event_is_delivered_once_when_posted_twice(api, sandbox):
    headers = {"X-Zadig-Event-UUID": EVENT_UUID}
    first = api.call("POST", "/api/v1/events", token=SENDER, body=_payload(), headers=headers)
    assert first.status == 202, first
    created = first.json()
    assert created["duplicate"] is False and created["status"] == "passed"
    assert {d["channel"] for d in created["deliveries"]} == {"dingding", "webhook"}
    assert all(d["status"] == "pending" for d in created["deliveries"])
    wait_for(lambda: len(sandbox.accepted()) == 2, what="both platforms to receive the event")
    wait_for(lambda: _all_sent(api, first), what="both deliveries recorded as sent")
    again = api.call("POST", "/api/v1/events", token=SENDER, body=_payload(), headers=headers)
    assert again.status == 200, again
    assert again.json()["duplicate"] is True
    assert [d["id"] for d in again.json()["deliveries"]] == [d["id"] for d in created["deliveries"]]
    assert {d["status"] for d in again.json()["deliveries"]} == {"sent"}
    # Idempotency-Key works the same way; without a key each post is a new event.
    keyed = {"Idempotency-Key": "ci-run-77"}
    third = api.call("POST", "/api/v1/events", token=SENDER, body=_payload(), headers=keyed)
    assert third.status == 202
    assert (
        api.call("POST", "/api/v1/events", token=SENDER, body=_payload(), headers=keyed).status
        == 200
    )
    wait_for(lambda: len(sandbox.accepted()) == 4, what="the keyed event")
    wait_for(lambda: _all_sent(api, third), what="the keyed event recorded as sent")
    (hook, _) = sandbox.accepted("webhook")
    assert hook.body["workflow"]["task_id"] == seed_task()["task_id"]
    assert hook.headers["X-Zadig-Token"] == WEBHOOK_TOKEN
    assert "工作流" in sandbox.accepted("dingtalk")[0].text
    listed = api.call("GET", "/api/v1/deliveries?workflow=demo-workflow-dev", token=READER)
    assert listed.status == 200 and len(listed.json()) == 4
    assert {row["status"] for row in listed.json()} == {"sent"}
    one = api.call("GET", f"/api/v1/deliveries/{created['deliveries'][0]['id'][-8:]}", token=READER)
    assert one.status == 200 and one.json()["attempts_log"][0]["outcome"] == "ok"
    task = api.call(
        "GET", f"/api/v1/tasks/demo-workflow-dev/{seed_task()['task_id']}", token=READER
    )
    assert task.status == 200 and task.json()["run_here"] is False
    _no_secrets(first, again, listed, one, task)


def test_bare_snapshot_with_status_override(api, sandbox):
    answer = api.call(
        "POST", "/api/v1/events?status=failed", token=ADMIN, body={**seed_task(), "task_id": 9}
    )
    assert answer.status == 202 and answer.json()["status"] == "failed"
    wait_for(lambda: len(sandbox.accepted()) == 2)
    assert "失败" in sandbox.accepted("dingtalk")[0].text
    nothing = api.call("POST", "/api/v1/events?status=created", token=ADMIN, body=seed_task())
    assert nothing.status == 202 and nothing.json()["deliveries"] == []


def test_tokens_and_scopes(api):
    event = _payload()
    anonymous = api.call("POST", "/api/v1/events", body=event)
    assert anonymous.status == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in anonymous.json()["error"]
    assert (
        api.call("POST", "/api/v1/events", token="not-a-token-at-all-0000", body=event).status
        == 401
    )
    assert (
        api.call("GET", "/api/v1/deliveries", headers={"Authorization": "Basic eDp5"}).status == 401
    )
    forbidden = api.call("POST", "/api/v1/events", token=READER, body=event)
    assert forbidden.status == 403 and "'send'" in forbidden.json()["error"]
    assert api.call("GET", "/api/v1/deliveries", token=READER).status == 200
    assert api.call("GET", "/api/v1/deliveries", token=SENDER).status == 403
    assert (
        api.call("POST", "/api/v1/workflows/demo-workflow-dev/tasks", token=SENDER, body={}).status
        == 403
    )
    # token_sha256: the runner token is configured by its digest only.
    assert api.call("GET", "/api/v1/workflows", token=RUNNER).status == 200
    assert api.call("POST", "/api/v1/deliveries/retry-dead", token=RUNNER).status == 403
    assert api.call("GET", "/api/v1/deliveries", token=ADMIN).status == 200
    # Health, readiness and the API's description need no token; metrics do.
    assert api.call("GET", "/healthz").json() == {"status": "ok"}
    assert api.call("GET", "/readyz").json() == {"status": "ready"}
    assert api.call("GET", "/openapi.json").status == 200
    # No Swagger UI page: FastAPI's loads its scripts from a CDN (docs/api.md).
    assert api.call("GET", "/docs").status == 404
    assert api.call("GET", "/metrics").status == 401
    metrics = api.call("GET", "/metrics", token=READER)
    assert metrics.status == 200 and b"tidings_queue_depth" in metrics.body


def test_bad_input_names_the_field_and_writes_nothing(api):
    missing = _payload()
    del missing["workflow"]["task_id"]
    answer = api.call("POST", "/api/v1/events", token=SENDER, body=missing)
    assert answer.status == 422, answer
    assert {"path": "workflow.task_id", "message": "field required"} in answer.json()["problems"]
    unknown = api.call("POST", "/api/v1/events", token=SENDER, body=_payload(workflow_name="nope"))
    assert unknown.status == 404 and "nope" in unknown.json()["error"]
    bad_json = api.call(
        "POST",
        "/api/v1/events",
        token=SENDER,
        raw=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert bad_json.status == 422 and bad_json.json()["problems"]
    status = api.call("POST", "/api/v1/events?status=done", token=SENDER, body=_payload())
    assert status.status == 422 and status.json()["problems"][0]["path"] == "query.status"
    limit = api.call("GET", "/api/v1/deliveries?limit=0", token=READER)
    assert limit.status == 422 and limit.json()["problems"][0]["path"] == "query.limit"
    huge = _declared_only(api, "/api/v1/events", 1024 * 1024 + 1)
    assert huge.startswith(b"HTTP/1.1 413") and b"api_max_body" in huge
    assert api.call("GET", "/api/v1/deliveries/zzzzzzzz", token=READER).status == 422
    assert api.call("GET", "/api/v1/deliveries/abcdef12", token=READER).status == 404
    assert api.call("GET", "/api/v1/tasks/demo-workflow-dev/999", token=READER).status == 404
    assert api.call("GET", "/api/v1/deliveries", token=READER).json() == []
    assert api.call("GET", "/api/v1/tasks", token=READER).json() == []


def _declared_only(api, path: str, length: int) -> bytes:
    """Headers announcing a large body, and no body: the answer must come before any of it
    is read (curl waits for it with `Expect: 100-continue`)."""
    import socket

    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SENDER}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_preview_masks_secrets(api, sandbox):
    answer = api.call("POST", "/api/v1/preview", token=SENDER, body=_payload())
    assert answer.status == 200, answer
    requests = answer.json()["requests"]
    assert [r["channel"] for r in requests] == ["dingding", "webhook"]
    assert requests[1]["headers"]["X-Zadig-Token"] == "***"
    assert "access_token=***" in requests[0]["url"]
    _no_secrets(answer)
    assert sandbox.received() == []


def test_notify_ad_hoc_and_its_secret_stays_out(tmp_path, sandbox):
    # The sandbox is on loopback: listed, as ad-hoc destinations there are refused otherwise.
    allowed = "  api: {notify_allowed_hosts: [127.0.0.1]}\n"
    with ApiServer(_config(tmp_path, sandbox, extra_system=allowed), tmp_path) as api:
        _notify_ad_hoc(api, sandbox)


def _notify_ad_hoc(api, sandbox):
    hook = sandbox.webhook_inbox("adhoc")
    spec = {
        "webhook_type": "webhook",
        "webhook_notification_config": {"address": hook, "token": "adhoc-token-998877"},
        "title": "发布完成",
        "content": "release #12 已上线",
    }
    answer = api.call("POST", "/api/v1/notify", token=SENDER, body=spec)
    assert answer.status == 202, answer
    (delivery,) = answer.json()["deliveries"]
    wait_for(lambda: sandbox.accepted("webhook"), what="the ad-hoc message")
    wait_for(lambda: _all_sent(api, answer), what="the ad-hoc message recorded as sent")
    assert sandbox.accepted("webhook")[0].headers["X-Zadig-Token"] == "adhoc-token-998877"
    shown = api.call("GET", f"/api/v1/deliveries/{delivery['id']}", token=READER)
    assert shown.json()["status"] == "sent" and b"adhoc-token-998877" not in shown.body
    bad = api.call("POST", "/api/v1/notify", token=SENDER, body={"webhook_type": "mail"})
    assert bad.status == 422 and "ad-hoc" in bad.json()["error"]


def test_notify_is_refused_without_a_worker(tmp_path, sandbox):
    with ApiServer(_config(tmp_path, sandbox), tmp_path, worker=False) as api:
        spec = {"webhook_type": "webhook", "webhook_notification_config": {"address": "http://x"}}
        answer = api.call("POST", "/api/v1/notify", token=SENDER, body={**spec, "title": "t"})
        assert answer.status == 409 and "--no-worker" in answer.json()["error"]
        # Events are only recorded: a `tidings worker` sends them.
        queued = api.call("POST", "/api/v1/events", token=SENDER, body=_payload())
        assert queued.status == 202
        pending = api.call("GET", "/api/v1/deliveries?status=pending", token=READER).json()
        assert len(pending) == 2 and sandbox.received() == []


def test_dead_delivery_is_retried(tmp_path, sandbox):
    config = _config(
        tmp_path, sandbox, extra_system="  delivery: {max_attempts: 1}\n", hook_script=[500]
    )
    with ApiServer(config, tmp_path) as api:
        created = api.call("POST", "/api/v1/events", token=SENDER, body=_payload()).json()
        hook_id = next(d["id"] for d in created["deliveries"] if d["channel"] == "webhook")

        def dead():
            rows = api.call("GET", "/api/v1/deliveries?status=dead", token=READER).json()
            return [r["id"] for r in rows]

        assert wait_for(dead, what="the webhook delivery to die") == [hook_id]
        sent_id = next(d["id"] for d in created["deliveries"] if d["channel"] == "dingding")
        wait_for(lambda: len(sandbox.accepted("dingtalk")) == 1)
        refused = api.call("POST", f"/api/v1/deliveries/{sent_id}/retry", token=SENDER)
        assert refused.status == 409
        retried = api.call("POST", f"/api/v1/deliveries/{hook_id}/retry", token=SENDER)
        assert retried.status == 202 and retried.json() == {"queued": [hook_id], "not_queued": []}
        wait_for(lambda: sandbox.accepted("webhook"), what="the retried delivery")
        wait_for(lambda: _status(api, hook_id) == "sent", what="the retry recorded as sent")
        shown = api.call("GET", f"/api/v1/deliveries/{hook_id}", token=READER).json()
        assert shown["status"] == "sent"
        assert api.call("POST", "/api/v1/deliveries/retry-dead", token=SENDER).json() == {
            "queued": [],
            "not_queued": [],
        }


def test_api_tokens_are_validated_with_their_yaml_path_and_masked():
    from tidings.config.loading import loads
    from tidings.errors import ConfigError

    text = (
        "system:\n  api_tokens:\n"
        "    - {name: a, token: short, scopes: [read]}\n"
        "    - {name: b, token_sha256: xyz, scopes: [read]}\n"
        "    - {name: c, token: '${API_TOKEN}', scopes: [write]}\n"
        "    - {name: d, scopes: [read]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        loads(text, environ={"API_TOKEN": "env-token-0123456789abcdef"})
    problems = {p.path: p.message for p in caught.value.problems}
    assert "too short" in problems["system.api_tokens[0]"]
    assert "64 hex digits" in problems["system.api_tokens[1].token_sha256"]
    assert "read" in problems["system.api_tokens[2].scopes[0]"]
    assert "exactly one of" in problems["system.api_tokens[3]"]
    good = loads(
        "system:\n  api_tokens: [{name: c, token: '${API_TOKEN}', scopes: [send]}]\n",
        environ={"API_TOKEN": "env-token-0123456789abcdef"},
    )
    assert "env-token-0123456789abcdef" in good.secrets()
