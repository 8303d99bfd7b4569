"""Hostile callers of `tidings serve` (issue #20, items 1-5): a job name that walks out of the
log folder, an event that would rewrite a task the runner owns, events that no database can
store posted among good ones. Real server, real sockets, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

from api_helpers import (
    READER,
    RUNNER,
    SENDER,
    ApiServer,
    serve_process,
    tokens_yaml,
    wait_for,
)
from runner_helpers import hook_ctl


def _config(tmp_path, hook: str, allowed: str = "127.0.0.1") -> str:
    text = (
        "system:\n"
        + tokens_yaml()
        + f"  api: {{notify_allowed_hosts: [{allowed}]}}\n"
        + textwrap.dedent(
            f"""\
        workflows:
          - name: wf
            notify_ctls: [{hook_ctl(hook, "passed, failed")}]
            stages:
              - name: build
                jobs: [{{name: say, type: freestyle, spec: {{script: "echo said"}}}}]
        """
        )
    )
    path = tmp_path / "tidings.yaml"
    path.write_text(text, "utf-8")
    return str(path)


def _ran(api, task_id: int = 1) -> None:
    started = api.call("POST", "/api/v1/workflows/wf/tasks", token=RUNNER, body={})
    assert started.status == 202, started

    def ended() -> bool:
        task = api.call("GET", f"/api/v1/tasks/wf/{task_id}", token=READER).json()
        return task["status"] not in ("created", "running")

    wait_for(ended, what="the run to end")


def _traversal(tmp_path) -> str:
    """A job name that, joined into `<run_dir>/logs/<name>.log`, is `outside.log`."""
    secret = tmp_path / "outside.log"
    secret.write_text("not for the API\n", "utf-8")
    return "../" * 30 + str(tmp_path / "outside").lstrip("/")


def _snapshot(task_id: int, job: str, status: str = "failed") -> dict:
    return {
        "task_id": task_id,
        "workflow_name": "wf",
        "status": status,
        "stages": [{"name": "build", "status": status, "jobs": [{"name": job, "status": status}]}],
    }


def test_an_event_cannot_rewrite_a_task_the_runner_owns(tmp_path, sandbox, database_url):
    hook = sandbox.webhook_inbox("ci")
    with ApiServer(_config(tmp_path, hook), tmp_path, database_url=database_url) as api:
        _ran(api)
        before = api.call("GET", "/api/v1/tasks/wf/1", token=READER).json()
        queued = [
            d["id"] for d in api.call("GET", "/api/v1/deliveries?task=1", token=READER).json()
        ]
        name = _traversal(tmp_path)
        posted = api.call("POST", "/api/v1/events", token=SENDER, body=_snapshot(1, name))
        assert posted.status == 409, posted
        assert "run by tidings itself" in posted.json()["error"]
        after = api.call("GET", "/api/v1/tasks/wf/1", token=READER).json()
        assert after == before  # status, stages and jobs: the runner's
        logs = api.call("GET", "/api/v1/tasks/wf/1/logs", token=READER).json()
        assert logs["jobs"] == [{"name": "say", "log": "said\n"}]
        # Nothing of the refused event was recorded: no delivery for it.
        rows = api.call("GET", "/api/v1/deliveries?task=1", token=READER).json()
        assert [d["id"] for d in rows] == queued
        # Another system's task (no run here) is still taken as before.
        other = api.call("POST", "/api/v1/events", token=SENDER, body=_snapshot(7, "test"))
        assert other.status == 202, other


def test_a_job_name_from_a_stored_snapshot_never_becomes_a_path(tmp_path, sandbox):
    """A database written before the fix may hold such a snapshot: the name is still never
    joined into a path, by the API or by `tidings logs`."""
    hook = sandbox.webhook_inbox("ci")
    config = _config(tmp_path, hook)
    name = _traversal(tmp_path)
    with ApiServer(config, tmp_path) as api:
        _ran(api)
        with sqlite3.connect(tmp_path / "tidings.db") as db:
            (raw,) = db.execute("SELECT snapshot FROM tasks WHERE task_id = 1").fetchone()
            snapshot = json.loads(raw)
            snapshot["stages"][0]["jobs"][0]["name"] = name
            db.execute("UPDATE tasks SET snapshot = ? WHERE task_id = 1", (json.dumps(snapshot),))
        logs = api.call("GET", "/api/v1/tasks/wf/1/logs", token=READER)
        assert logs.status == 200 and logs.json()["jobs"] == [{"name": name, "log": None}]
        from urllib.parse import quote

        one = api.call("GET", f"/api/v1/tasks/wf/1/logs?job={quote(name)}", token=READER)
        assert "not for the API" not in one.body.decode()


def _poisoned() -> dict[str, bytes]:
    """Bodies a database cannot store, each with the field a 422 must name."""
    good = {"task_id": 1000, "workflow_name": "wf", "status": "failed"}

    def body(**fields: object) -> bytes:
        return json.dumps({**good, **fields}).encode("utf-8")

    return {
        "task_id": body(task_id=2**63),
        "task_id ": body(task_id=1e19),
        "remark": body(remark="\ud800"),  # json.dumps writes the lone surrogate as \ud800
        "remark ": body(remark="a\x00b"),
        "stages[0].start_time": body(stages=[{"name": "s", "start_time": 2**70}]),
        # A surrogate written as UTF-8 bytes (which strict UTF-8 refuses).
        "error": body(error="=").replace(b'"="', b'"\xed\xa0\x80"'),
    }


def _post_raw(api, data: bytes):
    return api.call(
        "POST",
        "/api/v1/events",
        token=SENDER,
        raw=data,
        headers={"Content-Type": "application/json"},
    )


def test_an_event_no_database_can_store_fails_alone_with_its_field_named(
    tmp_path, sandbox, database_url
):
    hook = sandbox.webhook_inbox("ci")
    config = _config(tmp_path, hook)
    poisoned = _poisoned()
    good = [
        json.dumps({"task_id": i, "workflow_name": "wf", "status": "failed"}).encode()
        for i in range(1, 31)
    ]
    # PostgreSQL's INTEGER ended at 2^31: a task id past it is stored (BIGINT), not a 503.
    good.append(json.dumps({"task_id": 2**31, "workflow_name": "wf", "status": "failed"}).encode())
    bodies = [*good, *poisoned.values()]
    barrier = threading.Barrier(len(bodies))

    def post(data: bytes):
        barrier.wait()
        return _post_raw(api, data)

    with ApiServer(config, tmp_path, database_url=database_url) as api:
        with ThreadPoolExecutor(len(bodies)) as pool:
            answers = list(pool.map(post, bodies))
        accepted, refused = answers[: len(good)], answers[len(good) :]
        assert [a.status for a in accepted] == [202] * len(good), accepted
        for field, answer in zip(poisoned, refused, strict=True):
            assert answer.status == 422, (field, answer)
            paths = [p["path"] for p in answer.json()["problems"]]
            assert any(path.endswith(field.strip()) for path in paths), (field, answer)
        tasks = api.call("GET", "/api/v1/tasks?workflow=wf&limit=100", token=READER).json()
        assert sorted(t["task_id"] for t in tasks) == [*range(1, 31), 2**31]
        big = api.call("GET", f"/api/v1/tasks/wf/{2**31}", token=READER)
        assert big.status == 200 and big.json()["task_id"] == 2**31
        wait_for(
            lambda: len(sandbox.accepted("webhook")) == len(good), what="every good event sent"
        )


def test_a_nul_in_the_query_string_is_refused_naming_it(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("ci")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        body = json.dumps({"task_id": 3, "workflow_name": "wf", "status": "failed"}).encode()
        answer = api.call(
            "POST",
            "/api/v1/events?workflow=wf%00x",
            token=SENDER,
            raw=body,
            headers={"Content-Type": "application/json"},
        )
        assert answer.status == 422 and answer.json()["problems"][0]["path"] == "query"
        assert api.call("GET", "/api/v1/tasks", token=READER).json() == []


# --- #20.3: redaction is a request's and a delivery's own, never server-wide ---------------


def test_secrets_posted_to_notify_never_rewrite_other_answers(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("ci")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        spec = {
            "webhook_type": "webhook",
            "webhook_notification_config": {
                "address": "http://127.0.0.1:9/x?a=status&b=channel",
                "token": "workflow",
            },
            "title": "hello",
        }
        posted = api.call("POST", "/api/v1/notify", token=SENDER, body=spec)
        assert posted.status == 202, posted
        assert b"***" not in api.call("GET", "/openapi.json").body
        event = {"task_id": 5, "workflow_name": "wf", "status": "failed", "remark": "channel"}
        accepted = api.call("POST", "/api/v1/events", token=SENDER, body=event)
        assert accepted.status == 202, accepted
        assert set(accepted.json()) >= {"event_id", "status", "deliveries"}
        task = api.call("GET", "/api/v1/tasks/wf/5", token=READER).json()
        assert task["workflow"] == "wf" and task["task"]["remark"] == "channel"
        rows = api.call("GET", "/api/v1/deliveries", token=READER).json()
        assert all({"status", "channel"} <= set(row) for row in rows), rows


def _echo_server(status: int = 400):
    """A receiver that answers every POST with the request's Authorization and X-Zadig-Token
    headers in its error body (as some gateways do)."""
    import http.server

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            said = {
                "error": "bad request",
                "authorization": self.headers.get("Authorization"),
                "token": self.headers.get("X-Zadig-Token"),
            }
            body = json.dumps(said).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_an_echoed_secret_is_masked_in_its_own_delivery_only(tmp_path, sandbox):
    """A receiver echoing the ad-hoc destination's token and Basic credentials (base64, as
    sent) into its answer: the delivery's recorded details show neither."""
    import base64

    hook = sandbox.webhook_inbox("ci")
    echo = _echo_server()
    try:
        with ApiServer(_config(tmp_path, hook), tmp_path) as api:
            address = f"http://relay:pa55-w0rd-x@127.0.0.1:{echo.server_port}/in"
            spec = {
                "webhook_type": "webhook",
                "webhook_notification_config": {"address": address, "token": "adhoc-998877"},
                "title": "hello",
            }
            posted = api.call("POST", "/api/v1/notify", token=SENDER, body=spec)
            assert posted.status == 202, posted
            (delivery,) = posted.json()["deliveries"]
            url = f"/api/v1/deliveries/{delivery['id']}"

            def failed() -> bool:
                return api.call("GET", url, token=READER).json()["status"] == "failed"

            wait_for(failed, what="the delivery refused by the receiver")
            shown = api.call("GET", url, token=READER)
            basic = base64.b64encode(b"relay:pa55-w0rd-x")
            for secret in (b"adhoc-998877", b"pa55-w0rd-x", basic):
                assert secret not in shown.body, (secret, shown)
            assert b"bad request" in shown.body  # the answer is still shown, masked
            with sqlite3.connect(tmp_path / "tidings.db") as db:
                stored = json.dumps(db.execute("SELECT * FROM attempts").fetchall())
            assert "adhoc-998877" not in stored and basic.decode() not in stored
    finally:
        echo.shutdown()


# --- #20.2: /notify is no server-side request forgery -------------------------------------


def _notify(api, address: str):
    spec = {
        "webhook_type": "webhook",
        "webhook_notification_config": {"address": address},
        "title": "hello",
    }
    return api.call("POST", "/api/v1/notify", token=SENDER, body=spec)


def _bare_config(tmp_path, hook: str, system: str = "") -> str:
    text = (
        "system:\n"
        + tokens_yaml()
        + system
        + f"workflows:\n  - name: wf\n    notify_ctls: [{hook_ctl(hook, 'passed')}]\n"
    )
    path = tmp_path / "tidings.yaml"
    path.write_text(text, "utf-8")
    return str(path)


def test_notify_refuses_loopback_ports_and_unlisted_hosts(tmp_path, sandbox, pg_url):
    hook = sandbox.webhook_inbox("ci")  # the configuration names 127.0.0.1 (the sandbox)
    with ApiServer(_bare_config(tmp_path, hook), tmp_path, database_url=pg_url) as api:
        for address in (
            "http://127.0.0.1:5432/",  # PostgreSQL's port on this host
            hook,  # a host the configuration names, but on loopback: not listed
            "http://[::1]:5432/x",
            "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
            "http://10.1.2.3/",
            "https://intranet.example.com/hook",  # not a platform's, not configured
        ):
            answer = _notify(api, address)
            assert answer.status == 422, (address, answer)
            (problem,) = answer.json()["problems"]
            assert problem["path"] == "webhook_notification_config.address"
            assert "system.api.notify_allowed_hosts" in problem["message"]
        assert "[::1]" in _notify(api, "http://[::1]:5432/x").json()["problems"][0]["message"]
        assert api.call("GET", "/api/v1/deliveries", token=READER).json() == []
    assert sandbox.received() == []


def test_notify_goes_to_a_listed_host_and_network(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("ci")
    adhoc = sandbox.webhook_inbox("adhoc")
    system = "  api: {notify_allowed_hosts: ['127.0.0.0/8']}\n"
    with ApiServer(_bare_config(tmp_path, hook, system), tmp_path) as api:
        answer = _notify(api, adhoc)
        assert answer.status == 202, answer
        wait_for(lambda: sandbox.accepted("webhook"), what="the ad-hoc message")
        assert [r.destination for r in sandbox.accepted("webhook")] == ["adhoc"]


def test_a_name_allowed_is_checked_again_after_dns_on_every_connection(tmp_path, sandbox):
    """`localhost` is named by the configuration (trusted for its own destinations), so an
    ad-hoc message may name it; but it resolves to loopback, which is not listed: the worker
    refuses to connect, and the receiver never sees the request."""
    port = sandbox.url.rsplit(":", 1)[1]
    hook = sandbox.webhook_inbox("ci").replace("127.0.0.1", "localhost")
    adhoc = f"http://localhost:{port}/webhook/adhoc"
    sandbox.webhook_inbox("adhoc")
    with ApiServer(_bare_config(tmp_path, hook), tmp_path) as api:
        answer = _notify(api, adhoc)
        assert answer.status == 202, answer
        (delivery,) = answer.json()["deliveries"]
        url = f"/api/v1/deliveries/{delivery['id']}"

        def failed() -> dict | None:
            shown = api.call("GET", url, token=READER).json()
            return shown if shown["status"] == "failed" else None

        shown = wait_for(failed, what="the delivery refused")
        assert "loopback" in shown["last_error"] and "notify_allowed_hosts" in shown["last_error"]
        assert shown["attempts"] == 1  # refused for good, not retried
    assert sandbox.received("webhook") == []


def test_host_policy_allows_the_platforms_and_what_is_listed():
    from tidings.net import HostPolicy

    policy = HostPolicy.build(["hooks.example.com", "*.corp.example", "10.0.0.0/8"], set())
    for host in ("oapi.dingtalk.com", "qyapi.weixin.qq.com", "open.feishu.cn"):
        assert policy.host_problem(host) is None, host
    assert policy.host_problem("x.webhook.office.com") is None
    assert policy.host_problem("hooks.example.com") is None
    assert policy.host_problem("a.corp.example") is None
    assert policy.host_problem("10.9.8.7") is None
    assert policy.host_problem("11.0.0.1") is not None  # public, but not listed
    assert policy.host_problem("evil.example.com") is not None
    # After DNS: a platform's name at a private address is refused; a listed name is not.
    assert "private" in (policy.address_problem("oapi.dingtalk.com", "192.168.1.5") or "")
    assert policy.address_problem("hooks.example.com", "192.168.1.5") is None
    assert policy.address_problem("oapi.dingtalk.com", "::ffff:127.0.0.1") is not None
    assert policy.address_problem("oapi.dingtalk.com", "203.0.113.9") is not None  # TEST-NET
    assert policy.address_problem("oapi.dingtalk.com", "8.8.8.8") is None


# --- #20.4: small leaks -----------------------------------------------------------------------


def test_serve_never_logs_a_query_string_and_refuses_tokens_in_one(tmp_path, sandbox):
    import signal
    import urllib.error
    import urllib.request

    config = _config(tmp_path, sandbox.webhook_inbox("ci"))
    server, port = serve_process(config, tmp_path / "home", "--log-level", "info", stdout=None)
    base = f"http://127.0.0.1:{port}"

    def get(path: str, token: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers)) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    try:
        wait_for(lambda: get("/healthz") == 200, what="tidings serve to answer")
        assert get(f"/api/v1/tasks?access_token={READER}") == 401
        assert get(f"/api/v1/tasks?workflow=query-marker-77&token={READER}", READER) == 401
        assert get("/api/v1/tasks?workflow=query-marker-88", READER) == 200
    finally:
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=20)
    assert "path=/api/v1/tasks " in err and "status=200" in err and "status=401" in err
    assert READER not in err and "query-marker" not in err
    requests = [line for line in err.splitlines() if "event=request" in line]
    assert len(requests) >= 4 and not any("?" in line for line in requests), requests


def test_no_answer_tells_where_the_database_is(tmp_path, sandbox, pg_url):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(pg_url).database
    with ApiServer(
        _config(tmp_path, sandbox.webhook_inbox("ci")), tmp_path, database_url=pg_url
    ) as api:
        missing = api.call("GET", "/api/v1/deliveries/0123456789ab", token=READER)
        assert missing.status == 404 and "GET /api/v1/deliveries" in missing.json()["error"]
        assert name.encode() not in missing.body and b"postgres" not in missing.body
        admin = create_engine(pg_url.replace(f"/{name}", "/postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        down = api.call("GET", "/readyz")
        assert down.status == 503, down
        assert name.encode() not in down.body and b"127.0.0.1" not in down.body
        assert b"postgres" not in down.body


def test_send_refuses_a_task_the_runner_owns_and_what_no_database_stores(tmp_path, sandbox, cli):
    config = _config(tmp_path, sandbox.webhook_inbox("ci"))
    assert cli("run", "-c", config, "wf").code == 0
    task = tmp_path / "task.json"
    task.write_text(json.dumps(_snapshot(1, _traversal(tmp_path))), "utf-8")
    refused = cli("send", "-c", config, "-t", str(task), "--no-wait")
    assert refused.code == 2 and "run by tidings itself" in refused.stderr, refused
    logs = cli("logs", "-c", config, "wf#1", "--json")
    assert logs.code == 0 and "not for the API" not in logs.stdout
    assert [job["name"] for job in json.loads(logs.stdout)["jobs"]] == ["say"]
    task.write_text(json.dumps({**_snapshot(2, "say"), "remark": "\ud800"}), "utf-8")
    bad = cli("send", "-c", config, "-t", str(task), "--no-wait")
    assert bad.code == 2 and "remark: holds a lone surrogate" in bad.stderr, bad
