"""The console in a real browser (Debian's Chromium through Playwright), as a person uses it:
sign in, watch a task finish live, approve, retry a dead delivery, preview the messages, a
read-only token, a phone's screen and the keyboard. Each test saves screenshots of its pages
(test-artifacts/console); no request leaves the console (the `visit` fixture checks)."""

from __future__ import annotations

import re
from typing import Any

from console_helpers import SECRETS, TOKENS

from api_helpers import ADMIN, READER, RUNNER, SENDER, wait_for

LONG = 20_000  # ms a page may take to show what the server did (runs, deliveries)


def _start(console: Any, workflow: str) -> int:
    started = console.call("POST", f"/api/v1/workflows/{workflow}/tasks", token=RUNNER, body={})
    assert started.status == 202, started
    return int(started.json()["task_id"])


def _waiting(console: Any, workflow: str, task_id: int) -> Any:
    return console.call("GET", f"/api/v1/tasks/{workflow}/{task_id}", token=READER).json()[
        "waiting"
    ]


def test_sign_in_and_out(visit):
    person = visit()
    person.go("/deliveries")
    page = person.page
    assert page.url.endswith("/login?next=/deliveries")
    person.shot("signin")
    page.fill("#token", "wrong-token-0123456789abcdef")
    page.click("form button[type=submit]")
    assert "Unknown token" in page.inner_text("main")
    page.fill("#token", ADMIN)
    page.click("form button[type=submit]")
    page.wait_for_url(person.base + "/deliveries")
    assert "Signed in as ops" in page.inner_text("header")
    (cookie,) = [c for c in person.context.cookies() if c["name"] == "tidings_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert ADMIN not in cookie["value"]
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r".*/login\?out=1$"))
    assert "You signed out." in page.inner_text("main")
    person.go("/")
    assert "/login" in page.url


def test_a_running_task_turns_passed_on_its_page_without_a_reload(visit, console):
    task_id = _start(console, "slow")
    person = visit()
    person.sign_in(ADMIN)
    person.go(f"/tasks/slow/{task_id}")
    page = person.page
    page.wait_for_selector(".task-status[data-status=running]", timeout=LONG)
    assert "Live" in page.inner_text("#task")
    page.evaluate("window.__sameDocument = true")  # a reload would lose it
    person.shot("task-running")
    console.go.write_text("go")  # the job's script ends
    page.wait_for_selector(".task-status[data-status=passed]", timeout=LONG)
    assert page.evaluate("window.__sameDocument === true")
    row = page.locator("tr[data-job=wait]")
    assert "passed" in row.inner_text()
    person.shot("task-passed")


def test_approve_a_waiting_task_from_its_page_and_see_it_continue(visit, console, sandbox):
    task_id = _start(console, "wf")
    wait_for(lambda: _waiting(console, "wf", task_id), what="the approval")
    person = visit(locale="zh-CN")
    person.sign_in(ADMIN)
    person.go(f"/tasks/wf/{task_id}")
    page = person.page
    assert "等待审批" in page.inner_text("#task-actions")
    person.shot("task-waiting")
    page.select_option("#approver", "alice")
    page.fill("#comment", "smoke tests ok")
    page.click("#task-actions button:has-text('通过')")
    page.wait_for_selector(".flash.ok", timeout=LONG)
    assert f"wf#{task_id}：alice 已批准" == page.inner_text(".flash.ok")  # in her language
    page.wait_for_selector(".task-status[data-status=passed]", timeout=LONG)
    assert "通过" not in page.inner_text("#task-actions")  # nothing left to decide
    wait_for(lambda: len(sandbox.accepted("webhook")) >= 3, what="the run's notifications")
    person.shot("task-approved")


def test_retry_a_dead_delivery_and_see_it_sent(visit, console):
    event = {"task_id": 5, "workflow_name": "hooked", "status": "failed"}
    assert console.call("POST", "/api/v1/events", token=SENDER, body=event).status == 202
    dead = wait_for(
        lambda: console.call("GET", "/api/v1/deliveries?status=dead", token=READER).json(),
        what="the dead delivery",
    )
    person = visit()
    person.sign_in(ADMIN)
    person.go("/deliveries")
    page = person.page
    page.select_option("#f-status", "dead")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r".*status=dead.*"))
    person.shot("deliveries")
    page.click(f"tr[data-id='{dead[0]['id']}'] a")
    page.wait_for_selector(".delivery-status[data-status=dead]")
    assert "500" in page.inner_text("#delivery-state")  # the attempt and its HTTP status
    person.shot("delivery-dead")
    page.click("button:has-text('Retry')")
    page.wait_for_selector(".flash.ok", timeout=LONG)
    page.wait_for_selector(".delivery-status[data-status=sent]", timeout=LONG)
    person.shot("delivery-sent")


def test_the_preview_shows_each_platform_as_it_will_look(visit, console, sandbox):
    person = visit(locale="zh-CN")
    person.sign_in(ADMIN)
    person.go("/preview?workflow=wf")
    page = person.page
    page.select_option("#p-status", "failed")
    page.click("form.card button[type=submit]")
    dingtalk = page.locator("[data-channel=dingding] [data-kind=dingtalk-markdown]")
    assert "工作流 发布流水线" in dingtalk.inner_text() and "执行失败" in dingtalk.inner_text()
    assert "@13800000001" in dingtalk.inner_text()
    header = page.locator("[data-channel=feishu] .fs-header")
    assert header.get_attribute("class") == "fs-header red"
    colour = header.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(226, 46, 40)"  # Feishu's red header for a failed task
    subject = page.locator("[data-channel=mail] .mail-subject").inner_text()
    assert "工作流" in subject and "执行失败" in subject
    frame = page.locator("[data-channel=mail] iframe.mail")
    assert frame.get_attribute("sandbox") == ""  # no scripts, no same origin
    body = page.frame_locator("[data-channel=mail] iframe.mail").locator("body")
    assert "执行信息如下" in body.inner_text()
    assert "Attention" not in page.locator("[data-kind=teams-card]").inner_text()
    person.shot("preview")
    page.locator("[data-channel=mail]").scroll_into_view_if_needed()
    page.locator("[data-channel=mail]").screenshot(path=str(person.artifacts / "preview-mail.png"))
    page.locator("[data-channel=webhook] button:has-text('发送测试消息')").click()
    page.wait_for_selector(".flash.ok", timeout=LONG)
    wait_for(lambda: sandbox.accepted("webhook"), what="the test message")
    html = page.content()
    for secret in [*SECRETS, *TOKENS]:
        assert secret not in html


def test_a_read_only_token_sees_no_buttons_and_a_forged_post_is_refused(visit, console):
    task_id = _start(console, "wf")
    wait_for(lambda: _waiting(console, "wf", task_id), what="the approval")
    person = visit()
    person.sign_in(READER)
    person.go(f"/tasks/wf/{task_id}")
    page = person.page
    page.wait_for_selector("#task-live")
    buttons = [b.strip() for b in page.locator("main button").all_inner_texts()]
    assert buttons == []
    assert page.locator("a[href='/preview']").count() == 0
    person.shot("task-read-only")
    csrf = page.locator("header input[name=csrf]").get_attribute("value")
    forged = page.request.post(
        f"{person.base}/tasks/wf/{task_id}/approve",
        form={"csrf": csrf or "", "user": "alice"},
        max_redirects=0,
    )
    assert forged.status == 403 and "<code>run</code>" in forged.text()  # the scope it needs
    assert _waiting(console, "wf", task_id)["job"] == "gate"
    console.call("POST", f"/api/v1/tasks/wf/{task_id}/cancel", token=ADMIN)


def test_no_secret_in_any_page(visit, console):
    task_id = _start(console, "wf")
    wait_for(lambda: _waiting(console, "wf", task_id), what="the approval")
    event = {"task_id": 6, "workflow_name": "hooked", "status": "failed"}
    console.call("POST", "/api/v1/events", token=SENDER, body=event)
    dead = wait_for(
        lambda: console.call("GET", "/api/v1/deliveries?status=dead", token=READER).json()
    )
    person = visit()
    person.sign_in(ADMIN)
    page = person.page
    seen = []
    for path in (
        "/",
        "/workflows",
        f"/tasks/wf/{task_id}",
        "/deliveries",
        f"/deliveries/{dead[0]['id']}",
        "/preview?workflow=wf",
    ):
        person.go(path)
        seen.append(page.content())
        if path == "/":
            person.shot("overview")
        if path == "/workflows":
            person.shot("workflows")
    page.click("form.card button[type=submit]")
    seen.append(page.content())
    html = "\n".join(seen)
    for secret in [*SECRETS, *TOKENS]:
        assert secret not in html
    console.call("POST", f"/api/v1/tasks/wf/{task_id}/cancel", token=ADMIN)


def test_on_a_phone_nothing_is_wider_than_the_screen(visit, console):
    event = {"task_id": 7, "workflow_name": "wf", "status": "failed"}
    console.call("POST", "/api/v1/events", token=SENDER, body=event)
    person = visit(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    person.sign_in(ADMIN)
    page = person.page
    for path in ("/", "/tasks", "/tasks/wf/7", "/preview?workflow=wf"):
        person.go(path)
        if path.startswith("/preview"):
            page.click("form.card button[type=submit]")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    person.shot("phone-preview")
    person.go("/")
    person.shot("phone-overview", full_page=False)


def test_keyboard_only(visit, console):
    person = visit()
    person.go("/login")
    page = person.page
    assert page.evaluate("document.activeElement.id") == "token"  # the field has focus
    page.keyboard.type(ADMIN)
    page.keyboard.press("Enter")
    page.wait_for_url(person.base + "/")
    page.keyboard.press("Tab")  # the skip link comes first, and takes you to the content
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    labels = []
    for _ in range(6):
        page.keyboard.press("Tab")
        labels.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert labels[0] != ""  # focus moves through the page's links and buttons


def test_the_tasks_page_lists_every_workflows_tasks_and_opens_one(visit, console):
    """A person looking for yesterday's failed task: the tasks page, filtered by status,
    then a click to the task's own page."""
    for task_id, status in ((1, "passed"), (2, "failed"), (3, "passed")):
        event = {"task_id": task_id, "workflow_name": "hooked", "status": status}
        assert console.call("POST", "/api/v1/events", token=SENDER, body=event).status == 202
    person = visit(locale="zh-CN")
    person.sign_in(READER)
    person.go("/tasks")
    page = person.page
    rows = page.locator("table.tasks tbody tr")
    assert rows.count() == 3 and "hooked#3" in rows.first.inner_text()
    assert "外部发送" in rows.first.inner_text()
    person.shot("tasks")
    page.select_option("#f-status", "failed")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r".*/tasks\?.*status=failed$"))
    assert [r.inner_text().split()[0] for r in rows.all()] == ["hooked#2"]
    page.click("text=hooked#2")
    page.wait_for_url(person.base + "/tasks/hooked/2")
