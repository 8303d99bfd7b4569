"""One auth path and one parser: every request to POST /api/v1/events, whatever its shape, is
authenticated by the same function as every other route, then read by the one parser of the
events request, so an answer never depends on which shape the request had."""

from __future__ import annotations

import http.client
import json

import pytest

from api_helpers import ADMIN, READER, SENDER, Answer, ApiServer, tokens_yaml

UNKNOWN = "not-a-token-at-all-0000"
TASK = {"task_id": 1, "workflow_name": "release", "status": "failed"}
BODY = json.dumps({"object_kind": "workflow", "workflow": TASK}).encode("utf-8")
JSON = ("Content-Type", "application/json")

# Shapes of POST /events: what an unauthorised request looks like must not matter.
SHAPES: dict[str, tuple[str, list[tuple[str, str]], bytes]] = {
    "plain": ("/api/v1/events", [JSON], BODY),
    "with a key": ("/api/v1/events", [JSON, ("X-Zadig-Event-UUID", "e-1")], BODY),
    "+json media type": ("/api/v1/events", [("Content-Type", "application/x+json")], BODY),
    "repeated query": ("/api/v1/events?status=failed&status=passed", [JSON], BODY),
    "no content type": ("/api/v1/events", [], BODY),
    "not JSON": ("/api/v1/events", [JSON], b"{not json"),
    "not an object": ("/api/v1/events", [JSON], b"[1, 2]"),
    "invalid query": ("/api/v1/events?status=done&workflow=" + "w" * 201, [JSON], BODY),
    "key too long": ("/api/v1/events", [JSON, ("Idempotency-Key", "k" * 201)], BODY),
    "preview": ("/api/v1/preview", [JSON], BODY),
}

# Authorization as sent (None: no header); the status every shape must answer with.
AUTH: dict[str, tuple[list[str], int]] = {
    "none": ([], 401),
    "empty bearer": (["Bearer "], 401),
    "scheme only": (["Bearer"], 401),
    "basic": (["Basic eDp5"], 401),
    "no space": ([f"Bearer{SENDER}"], 401),
    "other scheme": ([f"Token {SENDER}"], 401),
    "token and more": ([f"Bearer {SENDER} extra"], 401),
    "unknown": ([f"Bearer {UNKNOWN}"], 401),
    "no send scope": ([f"Bearer {READER}"], 403),
    "twice the same": ([f"Bearer {SENDER}", f"Bearer {SENDER}"], 401),
    "good, then unknown": ([f"Bearer {SENDER}", f"Bearer {UNKNOWN}"], 401),
    "unknown, then good": ([f"Bearer {UNKNOWN}", f"Bearer {SENDER}"], 401),
    "reader, then sender": ([f"Bearer {READER}", f"Bearer {SENDER}"], 401),
}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    home = tmp_path_factory.mktemp("requests")
    config = home / "tidings.yaml"
    config.write_text(
        "system:\n" + tokens_yaml() + "workflows:\n  - name: release\n    notify_ctls:\n"
        "      - {webhook_type: webhook, notify_type: [failed],"
        " webhook_notification_config: {address: 'http://127.0.0.1:9/hook'}}\n",
        "utf-8",
    )
    # Without a worker: what is recorded is never sent.
    with ApiServer(str(config), home, worker=False) as server:
        yield server


def call(
    api: ApiServer, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
) -> Answer:
    """One request with exactly these headers, repeated ones included."""
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    try:
        connection.putrequest(method, path)
        for name, value in headers:
            connection.putheader(name, value)
        if body or method == "POST":
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def _recorded(api: ApiServer) -> list:
    return api.call("GET", "/api/v1/deliveries?limit=1000", token=ADMIN).json()


def _seen(answer: Answer) -> tuple[int, str | None, dict]:
    return answer.status, answer.headers["WWW-Authenticate"], answer.json()


@pytest.mark.parametrize("auth", AUTH)
def test_every_shape_is_authenticated_alike(api, auth):
    sent, status = AUTH[auth]
    before = _recorded(api)
    answers = {
        shape: _seen(
            call(api, "POST", path, [*headers, *(("Authorization", v) for v in sent)], body)
        )
        for shape, (path, headers, body) in SHAPES.items()
    }
    first = answers["plain"]
    assert first[0] == status, answers
    assert all(seen == first for seen in answers.values()), answers
    assert (first[1] or "").startswith("Bearer") == (status == 401)
    assert first[2]["problems"] == []
    if status == 403:
        assert "'send'" in first[2]["error"]
    # Other routes answer the same: one function checks every token.
    other = _seen(
        call(api, "POST", "/api/v1/deliveries/retry-dead", [(("Authorization", v)) for v in sent])
    )
    assert other == first
    assert _recorded(api) == before


@pytest.mark.parametrize("name", ["access_token", "token", "api_key", "authorization"])
def test_a_token_in_the_query_string_is_not_a_token(api, name):
    for path, headers, body in SHAPES.values():
        separator = "&" if "?" in path else "?"
        answer = call(api, "POST", f"{path}{separator}{name}={SENDER}", headers, body)
        assert answer.status == 401, (path, answer)
        assert "Authorization: Bearer" in answer.json()["error"]
    assert call(api, "GET", f"/api/v1/deliveries?{name}={READER}", []).status == 401


def test_every_route_but_health_and_docs_declares_the_one_check(api):
    """No route can skip authentication or check tokens its own way: each one declares the
    same dependency, which calls `authenticate`; the OpenAPI document lists them all."""
    from fastapi.routing import APIRoute

    from tidings.api.auth import Require
    from tidings.api.routes import deliveries, events, health, hooks, tasks, workflows

    # GitHub and GitLab cannot send a bearer token: their signature is checked instead
    # (tests/test_hooks.py).
    public = {"/healthz", "/readyz", "/api/v1/hooks/github", "/api/v1/hooks/gitlab"}
    checked = set()
    for module in (events, hooks, deliveries, workflows, tasks, health):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            checks = [d.call for d in route.dependant.dependencies if isinstance(d.call, Require)]
            assert len(checks) == (route.path not in public), route.path
            checked |= {(method.lower(), route.path) for method in route.methods}
    documented = api.call("GET", "/openapi.json").json()["paths"]
    assert checked == {(m, path) for path, ops in documented.items() for m in ops}
    for path, ops in documented.items():
        for operation in ops.values():
            assert operation.get("security") == (None if path in public else [{"HTTPBearer": []}])


def _problems(answer: Answer) -> list[tuple[str, str]]:
    return [(p["path"], p["message"]) for p in answer.json()["problems"]]


def _post(api, path: str, headers=(), body: bytes = BODY, token: str = SENDER) -> Answer:
    return call(api, "POST", path, [("Authorization", f"Bearer {token}"), *headers], body)


LONG = "w" * 201
INVALID = {
    "query.workflow": (f"?workflow={LONG}", [JSON], BODY, "at most 200 characters"),
    "query.status": ("?status=done", [JSON], BODY, "must be one of created, running"),
    "query.previous_status": ("?previous_status=", [JSON], BODY, "must be one of"),
    "header.x-zadig-event-uuid": ("", [JSON, ("X-Zadig-Event-UUID", LONG)], BODY, "at most 200"),
    "header.idempotency-key": ("", [JSON, ("Idempotency-Key", LONG)], BODY, "at most 200"),
}
BAD_BODIES = {
    "no content type": ([], BODY, "Content-Type: application/json"),
    "text/plain": ([("Content-Type", "text/plain")], BODY, "Content-Type: application/json"),
    "form": ([("Content-Type", "application/x-www-form-urlencoded")], b"a=b", "Content-Type"),
    "not JSON": ([JSON], b"{not json", "not valid JSON"),
    "not UTF-8": ([JSON], b'{"a": "\xff"}', "not valid JSON (UTF-8)"),
    "an array": ([JSON], b"[1, 2]", "must be a JSON object"),
    "null": ([JSON], b"null", "must be a JSON object"),
    "empty": ([JSON], b"", "required"),
}


@pytest.mark.parametrize("field", INVALID)
def test_each_invalid_parameter_is_named(api, field):
    query, headers, body, message = INVALID[field]
    before = _recorded(api)
    answer = _post(api, "/api/v1/events" + query, headers, body)
    assert answer.status == 422, answer
    ((path, said),) = _problems(answer)
    assert path == field and message in said, answer
    assert answer.json()["error"] == f"invalid request: {field}; fix the fields listed in problems"
    if field.startswith("query."):  # /preview takes the same query, read by the same parser
        assert _problems(_post(api, "/api/v1/preview" + query, headers, body)) == [(path, said)]
    assert _recorded(api) == before


@pytest.mark.parametrize("case", BAD_BODIES)
def test_an_invalid_body_is_named(api, case):
    headers, body, message = BAD_BODIES[case]
    for path in ("/api/v1/events", "/api/v1/preview"):
        answer = _post(api, path, headers, body)
        assert answer.status == 422, answer
        ((where, said),) = _problems(answer)
        assert where == "body" and message in said, answer


def test_every_problem_of_a_request_in_one_answer(api):
    before = _recorded(api)
    answer = _post(
        api,
        f"/api/v1/events?workflow={LONG}&status=done&previous_status=nope",
        [JSON, ("X-Zadig-Event-UUID", LONG), ("Idempotency-Key", LONG)],
        b"[]",
    )
    assert answer.status == 422
    assert [path for path, _ in _problems(answer)] == [
        "query.workflow",
        "query.status",
        "query.previous_status",
        "header.x-zadig-event-uuid",
        "header.idempotency-key",
        "body",
    ]
    assert _recorded(api) == before


def test_authentication_comes_before_reading_the_request(api):
    """An unauthorised caller learns nothing about its request: 401/403, never 422."""
    for token, status in ((UNKNOWN, 401), (READER, 403)):
        for query, headers, body, _ in INVALID.values():
            assert _post(api, "/api/v1/events" + query, headers, body, token).status == status
        for headers, body, _ in BAD_BODIES.values():
            assert _post(api, "/api/v1/events", headers, body, token).status == status


def test_what_the_parser_takes(api):
    """Limits are inclusive; JSON media types with parameters or a +json suffix are JSON; a
    repeated query parameter counts by its last value, a repeated key header by its first
    (as FastAPI reads parameters); X-Zadig-Event-UUID wins over Idempotency-Key."""
    edge = "k" * 200
    first = _post(api, "/api/v1/events", [JSON, ("X-Zadig-Event-UUID", edge)])
    assert first.status == 202, first
    again = _post(
        api,
        "/api/v1/events",
        [("Content-Type", "application/json; charset=utf-8"), ("X-Zadig-Event-UUID", edge)],
    )
    assert again.status == 200 and again.json()["event_id"] == first.json()["event_id"]
    by_idempotency_key = _post(
        api, "/api/v1/events", [("Content-Type", "Application/JSON"), ("Idempotency-Key", edge)]
    )
    assert by_idempotency_key.json()["event_id"] == first.json()["event_id"]
    repeated = _post(
        api,
        "/api/v1/events",
        [
            ("Content-Type", "application/vnd.zadig+json"),
            ("X-Zadig-Event-UUID", edge),
            ("X-Zadig-Event-UUID", "another"),
        ],
    )
    assert repeated.status == 200 and repeated.json()["event_id"] == first.json()["event_id"]
    both = _post(
        api, "/api/v1/events", [JSON, ("X-Zadig-Event-UUID", "new-one"), ("Idempotency-Key", edge)]
    )
    assert both.status == 202 and both.json()["event_id"] != first.json()["event_id"]
    status = _post(api, "/api/v1/events?status=done&status=passed", [JSON])
    assert status.status == 202 and status.json()["status"] == "passed"
    workflow = _post(api, f"/api/v1/events?workflow={'w' * 200}", [JSON])
    assert workflow.status == 404 and "w" * 200 in workflow.json()["error"]


def test_the_openapi_document_describes_the_events_request(api):
    paths = api.call("GET", "/openapi.json").json()["paths"]
    events, preview = paths["/api/v1/events"]["post"], paths["/api/v1/preview"]["post"]
    params = {(p["in"], p["name"]): p["schema"] for p in events["parameters"]}
    assert list(params) == [
        ("query", "workflow"),
        ("query", "status"),
        ("query", "previous_status"),
        ("header", "x-zadig-event-uuid"),
        ("header", "idempotency-key"),
    ]
    assert params["query", "workflow"] == {"type": "string", "maxLength": 200}
    assert "passed" in params["query", "status"]["enum"]
    assert params["header", "idempotency-key"]["maxLength"] == 200
    assert [p["name"] for p in preview["parameters"]] == ["workflow", "status", "previous_status"]
    for operation in (events, preview):
        body = operation["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"]["type"] == "object"
        assert operation["security"] == [{"HTTPBearer": []}]
        assert {"401", "403", "413", "422"} <= set(operation["responses"])
    assert set(events["responses"]) >= {"200", "202", "404", "503"}
