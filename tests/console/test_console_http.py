"""The console over HTTP, as a browser would use it, without one: sign-in, sessions and
cookies, CSRF, scopes, security headers, languages, pages, and no secret in any answer."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from console_helpers import SECRETS, TOKENS

from api_helpers import ADMIN, READER, RUNNER, SENDER, serve_process, wait_for


class Web:
    """A browser's HTTP: cookies kept, forms posted urlencoded, redirects not followed."""

    def __init__(self, server: Any, language: str = "en-US,en;q=0.9") -> None:
        self.server = server
        self.cookies: dict[str, str] = {}
        self.language = language
        self.seen: list[str] = []  # every answer's body, for the secret check

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> tuple[int, Any, str]:
        sent = {"Accept-Language": self.language, **headers}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            text = answer.read().decode("utf-8", "replace")
        finally:
            connection.close()
        for header in answer.headers.get_all("set-cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";")[0]
            if "max-age=0" in header.lower() or "expires=thu, 01 jan 1970" in header.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        self.seen.append(text)
        return answer.status, answer.headers, text

    def get(self, path: str, **headers: str) -> tuple[int, Any, str]:
        return self.request("GET", path, **headers)

    def post(self, path: str, form: dict[str, str], **headers: str) -> tuple[int, Any, str]:
        return self.request("POST", path, form, **headers)

    def sign_in(self, token: str) -> None:
        _, _, page = self.get("/login")
        form = {"csrf": csrf_of(page), "token": token, "next": "/"}
        status, headers, _ = self.post("/login", form)
        assert status == 303 and headers["location"] == "/", status


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found[1]


def start_run(console: Any, workflow: str) -> int:
    started = console.call("POST", f"/api/v1/workflows/{workflow}/tasks", token=RUNNER, body={})
    assert started.status == 202, started
    return int(started.json()["task_id"])


def task(console: Any, workflow: str, task_id: int) -> Any:
    return console.call("GET", f"/api/v1/tasks/{workflow}/{task_id}", token=READER).json()


def task_status(console: Any, workflow: str, task_id: int) -> str:
    return str(task(console, workflow, task_id)["status"])


def waiting(console: Any, workflow: str, task_id: int) -> Any:
    return task(console, workflow, task_id)["waiting"]


def test_pages_need_a_session_and_sign_in_sets_a_strict_cookie(console):
    web = Web(console)
    status, headers, _ = web.get("/deliveries?status=dead")
    assert status == 303 and headers["location"] == "/login?next=/deliveries%3Fstatus%3Ddead"
    status, headers, page = web.get("/login?next=/deliveries")
    assert status == 200 and 'type="password"' in page
    signin_cookie = headers["set-cookie"]
    assert "HttpOnly" in signin_cookie and "SameSite=strict" in signin_cookie
    bad = web.post("/login", {"csrf": csrf_of(page), "token": "not-a-token-0123456789"})
    assert bad[0] == 401 and "Unknown token" in bad[2]
    _, _, page = web.get("/login")
    status, headers, _ = web.post(
        "/login", {"csrf": csrf_of(page), "token": ADMIN, "next": "/deliveries"}
    )
    assert status == 303 and headers["location"] == "/deliveries"
    cookie = next(c for c in headers.get_all("set-cookie") if c.startswith("tidings_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS it is Secure
    assert ADMIN not in cookie  # the cookie is a random id, never the token
    status, _, page = web.get("/")
    assert status == 200 and "ops" in page and "Sign out" in page
    # Signing out ends the session on the server: the old cookie opens nothing any more.
    old = dict(web.cookies)
    assert web.post("/logout", {"csrf": csrf_of(page)})[0] == 303
    web.cookies = old
    assert web.get("/")[0] == 303


def test_sign_in_without_the_forms_token_or_from_another_site_is_refused(console):
    web = Web(console)
    web.get("/login")
    assert web.post("/login", {"token": ADMIN})[0] == 403
    _, _, page = web.get("/login")
    evil = {"csrf": csrf_of(page), "token": ADMIN}
    assert web.post("/login", evil, Origin="https://evil.example")[0] == 403
    assert "tidings_session" not in web.cookies


def test_every_post_needs_the_sessions_csrf_token_and_its_origin(console):
    task_id = start_run(console, "wf")
    wait_for(lambda: waiting(console, "wf", task_id), what="the approval")
    web = Web(console)
    web.sign_in(ADMIN)
    _, _, page = web.get(f"/tasks/wf/{task_id}")
    token = csrf_of(page)
    url = f"/tasks/wf/{task_id}/approve"
    for form, headers in (
        ({"user": "alice"}, {}),  # no token
        ({"user": "alice", "csrf": "forged"}, {}),  # a wrong one
        ({"user": "alice", "csrf": token}, {"Origin": "https://evil.example"}),  # elsewhere
    ):
        status, _, answer = web.post(url, form, **headers)
        assert status == 403 and "did not come from this console" in answer
    assert waiting(console, "wf", task_id)["job"] == "gate"  # nothing was decided
    # Without the session cookie (another site's form: SameSite=Strict keeps it home).
    stranger = Web(console)
    assert stranger.post(url, {"user": "alice", "csrf": token})[0] == 401
    assert waiting(console, "wf", task_id)["job"] == "gate"
    status, headers, _ = web.post(url, {"user": "alice", "csrf": token})
    assert status == 303 and headers["location"] == f"/tasks/wf/{task_id}"
    assert wait_for(lambda: task_status(console, "wf", task_id) == "passed")


def test_a_read_token_sees_no_buttons_and_its_posts_are_refused(console):
    task_id = start_run(console, "wf")
    wait_for(lambda: waiting(console, "wf", task_id), what="the approval")
    web = Web(console)
    web.sign_in(READER)
    status, _, page = web.get(f"/tasks/wf/{task_id}")
    assert status == 200 and "<button" in page  # sign-out only
    assert "/approve" not in page and "/cancel" not in page and "Approve" not in page
    assert "/preview" not in page  # preview needs scope send, as the API's
    forged = web.post(f"/tasks/wf/{task_id}/approve", {"user": "alice", "csrf": csrf_of(page)})
    assert forged[0] == 403 and "needs scope" in forged[2] and "run" in forged[2]
    assert web.post(f"/tasks/wf/{task_id}/cancel", {"csrf": csrf_of(page)})[0] == 403
    assert web.get("/preview")[0] == 403
    assert waiting(console, "wf", task_id)["job"] == "gate"
    console.call("POST", f"/api/v1/tasks/wf/{task_id}/cancel", token=ADMIN)


def test_security_headers_and_static_assets(console):
    web = Web(console)
    status, headers, page = web.get("/login")
    csp = headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert re.match(r"app;dur=\d+\.\d$", headers["server-timing"])
    # No inline script, no event-handler attribute: only tidings' own files run.
    assert "<script>" not in page and not re.search(r"<[^>]+\son[a-z]+=", page)
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert scripts == ["/static/htmx-2.0.11.min.js", "/static/htmx-ext-sse-2.2.4.min.js"]
    for path in [*scripts, "/static/console.css", "/static/LICENSE-htmx.txt"]:
        status, headers, body = web.get(path)
        assert status == 200 and body, path
    assert "BSD Zero Clause" in web.get("/static/LICENSE-htmx.txt")[2]
    # Every address the page names is this server's.
    assert not re.findall(r'(?:src|href|action)="(?:https?:)?//', page)


def test_language_follows_the_person_the_browser_then_the_configuration(console):
    zh = Web(console, language="zh-CN,zh;q=0.9,en;q=0.5")
    assert "登录" in zh.get("/login")[2]
    en = Web(console, language="en-GB,en;q=0.9")
    assert ">Sign in<" in en.get("/login")[2]
    other = Web(console, language="fr-FR")  # tidings speaks neither: system.language (zh-cn)
    assert "登录" in other.get("/login")[2]
    status, _, _ = other.get("/lang/en-us?next=/login")
    assert status == 303 and other.cookies["tidings_lang"] == "en-us"
    assert ">Sign in<" in other.get("/login")[2]


def test_workflows_read_as_rules_with_redacted_addresses(console):
    web = Web(console)
    web.sign_in(READER)
    status, _, page = web.get("/workflows")
    assert status == 200
    text = re.sub(r"<[^>]+>", "", page)
    text = re.sub(r"\s+", " ", text)
    assert "failed, timeout → DingTalk robot" in text
    assert "/robot/send?access_token=***" in text and ", @13800000001" in text
    assert "approvers: alice" in text
    status, _, page = web.get("/workflows?check=disk")
    assert "The configuration on disk is valid." in page


def test_deliveries_filter_and_page_by_keyset(console):
    for task_id in range(1, 8):
        answer = console.call(
            "POST",
            "/api/v1/events",
            token=SENDER,
            body={"task_id": task_id, "workflow_name": "wf", "status": "passed"},
        )
        assert answer.status == 202, answer
    sent = "/api/v1/deliveries?status=sent"
    wait_for(lambda: len(console.call("GET", sent, token=READER).json()) == 7)
    web = Web(console)
    web.sign_in(READER)
    from tidings.console.pages import deliveries

    deliveries.PAGE, before = 3, deliveries.PAGE
    try:
        shown: list[str] = []
        path = "/deliveries?workflow=wf&status=sent&channel=webhook"
        pages = 0
        while path:
            status, _, page = web.get(path.replace("&amp;", "&"))
            assert status == 200
            shown += re.findall(r'<tr data-id="([^"]+)"', page)
            older = re.search(r'<a href="([^"]+)" rel="next">', page)
            path = older[1] if older else ""
            pages += 1
        assert pages == 3 and len(shown) == len(set(shown)) == 7
        newer = re.search(r'<a href="([^"]+)" rel="prev">', page)
        assert newer is not None
        _, _, back = web.get(newer[1].replace("&amp;", "&"))
        assert re.findall(r'<tr data-id="([^"]+)"', back) == shown[3:6]
        assert "No delivery matches." in web.get("/deliveries?status=dead")[2]
    finally:
        deliveries.PAGE = before


def test_times_are_shown_and_filtered_in_the_teams_zone(console):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    answer = console.call(
        "POST",
        "/api/v1/events",
        token=SENDER,
        body={"task_id": 1, "workflow_name": "wf", "status": "passed"},
    )
    assert answer.status == 202, answer
    sent = "/api/v1/deliveries?status=sent"
    wait_for(lambda: len(console.call("GET", sent, token=READER).json()) == 1)
    (delivery,) = console.call("GET", sent, token=READER).json()
    created = datetime.fromtimestamp(delivery["created_at"], ZoneInfo("Pacific/Kiritimati"))
    web = Web(console)
    web.sign_in(READER)
    _, _, page = web.get("/deliveries")
    assert created.strftime("%Y-%m-%d %H:%M:%S") in page  # system.timezone, UTC+14
    minute = created.replace(second=0, microsecond=0, tzinfo=None)

    def rows(since: datetime, until: datetime) -> int:
        query = urllib.parse.urlencode(
            {"since": since.isoformat(timespec="minutes"), "until": until.isoformat("T", "minutes")}
        )
        return len(re.findall(r"<tr data-id=", web.get(f"/deliveries?{query}")[2]))

    # The form's times are the team's too: the minute it was created finds it, an hour off
    # (as a UTC+13 reading would be) does not.
    assert rows(minute, minute + timedelta(minutes=1)) == 1
    assert rows(minute - timedelta(hours=1), minute - timedelta(minutes=59)) == 0


def test_the_preview_needs_send_and_renders_each_platform(console):
    web = Web(console)
    web.sign_in(SENDER)  # send only: the preview, not the other pages
    assert web.get("/")[0] == 403
    status, _, page = web.get("/preview?workflow=wf")
    assert status == 200
    status, _, result = web.post(
        "/preview", {"csrf": csrf_of(page), "workflow": "wf", "status": "failed", "payload": ""}
    )
    assert status == 200
    assert 'data-kind="dingtalk-markdown"' in result and "执行失败" in result
    assert 'data-header="red"' in result and 'data-kind="teams-card"' in result
    assert 'class="mail" sandbox=""' in result and "allow-scripts" not in result
    assert 'class="mail-subject">❌ 工作流 wf#' in result or "mail-subject" in result
    bad = web.post("/preview", {"csrf": csrf_of(page), "workflow": "", "payload": "{not json"})
    assert bad[0] == 422 and "not JSON" in bad[2]


def test_no_answer_holds_a_secret(console, sandbox):
    task_id = start_run(console, "wf")
    wait_for(lambda: waiting(console, "wf", task_id), what="the approval")
    console.call(
        "POST",
        "/api/v1/events",
        token=SENDER,
        body={"task_id": 9, "workflow_name": "hooked", "status": "failed"},
    )
    dead = wait_for(
        lambda: console.call("GET", "/api/v1/deliveries?status=dead", token=READER).json(),
        what="the dead delivery",
    )
    web = Web(console)
    web.sign_in(ADMIN)
    _, _, page = web.get("/preview")
    web.post("/preview", {"csrf": csrf_of(page), "workflow": "wf", "status": "failed"})
    for path in (
        "/",
        "/workflows",
        "/workflows?check=disk",
        f"/tasks/wf/{task_id}",
        "/deliveries",
        f"/deliveries/{dead[0]['id']}",
        f"/deliveries/{dead[0]['id']}/state",
    ):
        assert web.get(path)[0] == 200, path
    pages = "\n".join(web.seen)
    for secret in [*SECRETS, *TOKENS]:
        assert secret not in pages
    assert "***" in pages
    console.call("POST", f"/api/v1/tasks/wf/{task_id}/cancel", token=ADMIN)


def test_help_and_notify_never_load_the_console(tmp_path):
    code = (
        "import sys; from tidings.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('tidings.console', 'jinja2'))))"
    )
    for args in (["--help"], ["notify", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip().splitlines()[-1] == "[]", args


def test_tidings_serve_serves_the_console(tmp_path, sandbox):
    import signal
    import urllib.request

    from console_helpers import console_config

    config = console_config(tmp_path, sandbox)
    server, port = serve_process(config, tmp_path / "home")
    try:

        def login() -> Any:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=1) as r:
                    return r.read().decode()
            except OSError:
                assert server.poll() is None
                return None

        assert "tidings" in wait_for(login, what="the sign-in page")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            assert json.load(answer) == {"status": "ok"}  # the API beside it
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0


def test_template_phrases_all_have_their_chinese():
    from tidings.console import i18n

    folder = Path(i18n.__file__).with_name("templates")
    used: set[str] = set()
    for template in folder.glob("*.html"):
        used |= set(re.findall(r"""\bt\(["']([^"']+)["']\)""", template.read_text("utf-8")))
    missing = sorted(p for p in used if p not in i18n.ZH)
    assert missing == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9", "zh-cn"),
        ("en-US,en;q=0.9,zh;q=0.8", "en-us"),
        ("fr;q=1, zh-TW;q=0.5, en;q=0.4", "zh-cn"),
        ("de, en;q=0.1", "en-us"),
        ("", "en-us"),
        ("fr", "en-us"),
    ],
)
def test_language_from_accept_language(header, expected):
    from tidings.console.i18n import choose

    assert choose(None, header, "en-us") == expected
    assert choose("zh-cn", header, "en-us") == "zh-cn"


def test_a_paused_destination_shows_on_the_overview_and_the_deliveries(console):
    """The circuit breaker's state (#20.7), as the worker leaves it in the database."""
    answer = console.call(
        "POST",
        "/api/v1/events",
        token=SENDER,
        body={"task_id": 1, "workflow_name": "wf", "status": "passed"},
    )
    assert answer.status == 202, answer
    wait_for(lambda: console.call("GET", "/api/v1/deliveries?status=sent", token=READER).json())
    import time

    with console.store.transaction() as tx:
        key, address = tx.run(
            "SELECT destination, address FROM deliveries WHERE channel = 'webhook' LIMIT 1"
        )[0]
        tx.run(
            "UPDATE destinations SET failures = 5, pauses = 2, paused_until = :until, "
            "paused_reason = 'network error: no answer within 10 s' WHERE key = :key",
            {"key": key, "until": time.time() + 600},
        )
    web = Web(console)
    web.sign_in(READER)
    for path in ("/", "/deliveries"):
        status, _, page = web.get(path)
        assert status == 200
        section = page[page.index('<section class="card paused"') :]
        section = section[: section.index("</section>")]
        assert f'data-paused="{key}"' in section
        assert "network error: no answer within 10 s" in section
        assert address.split("?")[0] in section
    status, _, page = web.get("/deliveries?status=sent")
    assert "Paused destinations" in page
    rows = console.call("GET", "/api/v1/deliveries", token=READER).json()
    reasons = {r["destination"]: r["paused_reason"] for r in rows}
    assert reasons[key] == "network error: no answer within 10 s"
    with console.store.transaction() as tx:
        tx.run("UPDATE destinations SET paused_until = NULL")
    assert "Paused destinations" not in web.get("/")[2]


def test_a_digest_and_what_it_carries_on_the_console_and_the_api(tmp_path):
    """A robot's backlog merged into a digest (issue #18): the digest's page and the API list
    the events it carries; each merged delivery links to its digest."""
    import asyncio
    import time

    from api_helpers import ApiServer
    from tidings.config.loading import loads
    from tidings.delivery.clock import ScaledClock
    from tidings.delivery.outbox import NewEvent
    from tidings.delivery.resolve import Resolver
    from tidings.delivery.settings import limits_of, settings_of
    from tidings.delivery.worker import Worker
    from tidings.dispatch.plan import plan_event
    from tidings.dispatch.task import parse_task
    from tidings.sandbox import Sandbox
    from tidings.sending.record import record
    from tidings.store.db import Store

    clock = ScaledClock(scale=30)
    store = Store(f"sqlite:///{tmp_path}/tidings.db").open()
    path = tmp_path / "tidings.yaml"

    async def backlog() -> None:
        async with Sandbox(clock=clock) as sb:
            url = sb.dingtalk_robot("console-digest", keywords=("工作流",))
            text = (
                f"system:\n  api_tokens:\n    - {{name: r, token: '{READER}', scopes: [read]}}\n"
                "workflows:\n  - name: bulk\n    notify_ctls:\n"
                "      - {webhook_type: dingding, notify_type: [failed], "
                f"dingding_notification_config: {{hook_address: '{url}'}}}}\n"
            )
            path.write_text(text, "utf-8")
            config = loads(text)
            ids = []
            for task_id in range(1, 31):
                task = parse_task({"workflow_name": "bulk", "task_id": task_id, "status": "failed"})
                plan = plan_event(config, config.workflow("bulk"), task)
                event = NewEvent("task", "bulk", task_id, "failed")
                ids += record(store, plan, event, now=time.time(), expires_in=3600).delivery_ids
            limits, settings = limits_of(config), settings_of(config)
            async with Worker(
                store, Resolver(config), clock=clock, limits=limits, settings=settings
            ) as worker:
                await worker.run_until(ids, clock.now() + 3600)

    asyncio.run(backlog())
    store.close()
    with ApiServer(str(path), tmp_path, worker=False, console=True) as server:
        merged = server.call("GET", "/api/v1/deliveries?status=coalesced&limit=100", token=READER)
        rows = merged.json()
        assert len(rows) == 30 and len({row["digest_id"] for row in rows}) == 1
        digest_id = rows[0]["digest_id"]
        detail = server.call("GET", f"/api/v1/deliveries/{digest_id}", token=READER).json()
        assert detail["kind"] == "digest" and detail["status"] == "sent"
        assert sorted(c["task_id"] for c in detail["carries"]) == list(range(1, 31))
        web = Web(server)
        web.sign_in(READER)
        status, _, page = web.get(f"/deliveries/{digest_id}")
        assert status == 200
        assert "Events this digest carries (30)" in page and "bulk#30" in page
        status, _, page = web.get(f"/deliveries/{rows[0]['id']}")
        assert status == 200 and f'href="/deliveries/{digest_id}"' in page


def test_workers_show_their_heartbeat_and_one_that_stopped_says_so(console):
    """The server's own worker is running: its row has a heartbeat time. A worker that made
    attempts and stopped (its heartbeat row is deleted when it stops) reads "stopped"."""
    import time

    with console.store.transaction() as tx:
        tx.run(
            "INSERT INTO attempts (delivery_id, at, duration_ms, outcome, detail, worker) "
            "VALUES ('gone', :at, 5, 'ok', 'HTTP 200', 'ci-7:4242')",
            {"at": time.time() - 60},
        )
    web = Web(console)
    web.sign_in(READER)
    page = web.get("/")[2]
    section = page[page.index('aria-labelledby="workers"') :]
    section = section[: section.index("</section>")]
    own = re.search(r"badge ok\">running</span> <code>([^<]+)</code>", section)
    assert own, section
    rows = {
        name: cells
        for name, cells in re.findall(r"<tr><td><code>([^<]+)</code></td>(.*?)</tr>", section)
    }
    assert "stopped" not in rows[own.group(1)] and re.search(r"\d\d:\d\d", rows[own.group(1)])
    assert rows["ci-7:4242"].endswith('<td class="nowrap">stopped</td>'), rows


def test_action_results_are_said_in_the_persons_language(console):
    """A person reading the console in Chinese approves a task, then tries to cancel it once
    it has passed: both results are in Chinese, with the task, the user, the status."""
    task_id = start_run(console, "wf")
    wait_for(lambda: waiting(console, "wf", task_id), what="the approval")
    web = Web(console, language="zh-CN,zh;q=0.9")
    web.sign_in(ADMIN)
    page = web.get(f"/tasks/wf/{task_id}")[2]
    form = {"user": "alice", "csrf": csrf_of(page)}
    assert web.post(f"/tasks/wf/{task_id}/approve", form)[0] == 303
    flash = re.search(
        r'<p class="flash ok" role="status">([^<]+)</p>', web.get(f"/tasks/wf/{task_id}")[2]
    )
    assert flash and flash[1] == f"wf#{task_id}：alice 已批准", flash
    assert wait_for(lambda: task_status(console, "wf", task_id) == "passed")
    assert web.post(f"/tasks/wf/{task_id}/cancel", {"csrf": form["csrf"]})[0] == 303
    page = web.get(f"/tasks/wf/{task_id}")[2]
    assert re.findall(r'<p class="flash bad" role="status">([^<]+)</p>', page) == [
        f"任务 wf#{task_id} 已结束：passed"
    ]


def test_every_translated_phrase_keeps_its_values():
    """A phrase with {values} has the same ones in Chinese: none lost, none misspelt."""
    from tidings.console import i18n

    for english, chinese in i18n.ZH.items():
        assert sorted(re.findall(r"{(\w+)}", english)) == sorted(re.findall(r"{(\w+)}", chinese)), (
            english
        )


def test_all_tasks_latest_first_filtered_and_paged(console):
    """The tasks page lists every workflow's tasks, the latest first, says which tidings ran
    and which were sent from elsewhere, filters by workflow and status, and pages by 50."""
    run_id = start_run(console, "wf")
    for task_id in range(1, 52):
        event = {"task_id": task_id, "workflow_name": "hooked", "status": "failed"}
        assert console.call("POST", "/api/v1/events", token=SENDER, body=event).status == 202
    web = Web(console)
    web.sign_in(READER)

    def listed(path: str) -> tuple[list[tuple[str, str]], str]:
        status, _, page = web.get(path)
        assert status == 200
        rows = re.findall(r'<tr data-task="([^"]+)">(.*?)</tr>', page, re.S)
        older = re.search(r'<a href="([^"]+)" rel="next">', page)
        return [(task, cells) for task, cells in rows], older[1].replace(
            "&amp;", "&"
        ) if older else ""

    rows, older = listed("/tasks")
    assert len(rows) == 50 and older
    assert [task for task, _ in rows[:3]] == ["hooked#51", "hooked#50", "hooked#49"]
    assert all("sent from elsewhere" in cells for _, cells in rows)
    rest, last = listed(older)
    assert [task for task, _ in rest] == ["hooked#1", f"wf#{run_id}"] and last == ""
    assert "tidings" in rest[1][1] and "sent from elsewhere" not in rest[1][1]
    only, _ = listed("/tasks?workflow=wf")
    assert [task for task, _ in only] == [f"wf#{run_id}"]
    assert listed("/tasks?workflow=hooked&status=passed")[0] == []
    # A page key past 64 bits (or not a number) names no row: the first page, never a 500.
    for path in ("/tasks", "/deliveries"):
        for key in ("9" * 30, "-" + "9" * 30, "x", "9" * 5000):
            assert web.get(f"{path}?before={key}&after={key}")[0] == 200, (path, key)
    assert 'href="/tasks/hooked/51"' in web.get("/tasks")[2]
