"""Feishu app messages (feishu_app to a chat, feishu_person to people) through the outbox and
the worker to the sandbox's open platform, over real sockets: one tenant token per app, the
task creator found by phone, bot-not-in-chat, rate limits, token refresh, no secret shown."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from helpers import seed_task, write_json
from tidings.channels import feishu_openapi
from tidings.channels.base import Response, Retry
from tidings.config.loading import loads
from tidings.config.models import Config
from tidings.delivery.outbox import NewEvent
from tidings.delivery.resolve import Resolver
from tidings.delivery.settings import limits_of
from tidings.delivery.worker import Final, Settings, Worker
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task
from tidings.sandbox import Sandbox, SandboxThread
from tidings.sending.record import record
from tidings.store.db import Store

APP_ID = "cli_a1b2c3d4e5"
APP_SECRET = "feishu-app-secret-3f9d2c7b1a6e4d80"
SMTP_PASSWORD = "smtp-password-9c4e1f7a2b5d"
CREATOR_ID = "89358827-5137-11ee-b0c5-56d5fd1dd39e"  # the seed snapshot's task_creator_id
FEISHU_USERS = [
    {"open_id": "ou_ada", "user_id": "u_ada", "mobile": "13800000000", "name": "Ada"},
    {"open_id": "ou_bob", "user_id": "u_bob", "email": "bob@example.com", "name": "Bob"},
    {"open_id": "ou_cy", "user_id": "u_cy", "mobile": "13800000002", "name": "Cy"},
]
CHATS = [
    {"chat_id": "oc_team", "name": "team"},
    {"chat_id": "oc_no_bot", "name": "release", "bot_in_chat": False},
]


def config_text(base: str, ctls: str, creator_phone: str = "13800000000", smtp: str = "") -> str:
    smtp = f"smtp: {smtp}" if smtp else "language: zh-cn"
    head = f"""
    system:
      address: https://zadig.example.com
      {smtp}
      im_apps:
        - {{id: feishu-main, app_id: {APP_ID}, app_secret: {APP_SECRET}, base_url: "{base}"}}
    users:
      - {{id: {CREATOR_ID}, name: Ada, email: ada@unknown.example, phone: "{creator_phone}"}}
    workflows:
      - name: demo-workflow-dev
        project: yaml
        notify_ctls:
    """
    return textwrap.dedent(head) + textwrap.indent(textwrap.dedent(ctls), " " * 6)


GROUP = """
- webhook_type: feishu_app
  notify_type: [passed, failed]
  lark_group_notification_config:
    app_id: feishu-main
    chat: {chat_id: oc_team, chat_name: team}
    at_users: [{id: ou_bob, id_type: open_id, name: Bob}]
    is_at_all: true
"""
PEOPLE = """
- webhook_type: feishu_person
  notify_type: [passed, failed]
  lark_person_notification_config:
    app_id: feishu-main
    target_users:
      - {id: ou_bob, id_type: open_id, name: Bob}
      - {id: u_cy, name: Cy}
      - {is_executor: true, id_type: open_id}
"""


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/tidings.db").open()


@pytest.fixture
async def sb():
    async with Sandbox() as sandbox:
        sandbox.feishu_app(APP_ID, APP_SECRET, users=FEISHU_USERS, chats=CHATS)
        yield sandbox


class Sender:
    """One worker (one token cache) sending task events, as `tidings worker` would."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store, self.config = store, config
        self.finals: dict[str, Final] = {}
        self.worker = Worker(
            store,
            Resolver(config),
            limits=limits_of(config),
            settings=Settings(timeout=5, lease=10),
            on_final=lambda f: self.finals.__setitem__(f.id, f),
        )

    async def __aenter__(self) -> Sender:
        await self.worker.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.worker.__aexit__(*exc)

    async def send(self, **task_fields) -> list[Final]:
        task = parse_task({**seed_task(), **task_fields})
        plan = plan_event(self.config, self.config.workflows[0], task)
        event = NewEvent("task", task.workflow_name, task.task_id, task.status)
        ids = record(self.store, plan, event, now=time.time(), expires_in=20).delivery_ids
        await self.worker.run_until(ids, time.time() + 20)
        return [self.finals[i] for i in ids]


async def test_five_messages_one_tenant_token_and_the_delivery_id_as_uuid(sb, store):
    config = loads(config_text(sb.url, GROUP + PEOPLE), "t.yaml", {})
    async with Sender(store, config) as sender:
        finals = await sender.send()
    assert [f.status for f in finals] == ["sent"] * 5, finals
    assert sb.feishu_token_requests(APP_ID) == 1  # never one per message
    rows = sb.accepted("feishu_app")
    assert sorted(r.destination for r in rows) == ["oc_team", "oc_team", "ou_ada", "ou_bob", "u_cy"]
    assert {r.body["uuid"] for r in rows} == {f.id for f in finals}
    card, mentions = sb.accepted("feishu_app", "oc_team")
    assert card.msgtype == "interactive" and card.body["content"]["header"]["template"] == "green"
    assert "👍工作流 demo-workflow-dev #47 执行成功" in card.text
    assert mentions.mentions == ["ou_bob", "all"] and "Bob" in mentions.text
    assert {r.query["receive_id_type"] for r in rows} == {"chat_id", "open_id", "user_id"}
    # Each person is a destination of its own (paced per user), named in the history.
    assert len({f.destination for f in finals if f.label == "card"}) == 4
    addresses = " | ".join(f.address for f in finals)
    assert "ou_bob" in addresses and "u_cy" in addresses and "the task creator" in addresses


async def test_task_creator_found_by_phone_once_and_an_unknown_phone_fails_naming_them(sb, store):
    config = loads(config_text(sb.url, PEOPLE), "t.yaml", {})
    async with Sender(store, config) as sender:
        first = await sender.send()
        again = await sender.send(task_id=48)
    assert [f.status for f in first + again] == ["sent"] * 6
    assert sb.feishu_lookups(APP_ID) == 1  # the id is cached by the worker
    to_creator = [r for r in sb.accepted("feishu_app") if r.destination == "ou_ada"]
    assert len(to_creator) == 2 and to_creator[0].query == {"receive_id_type": "open_id"}

    unknown = loads(config_text(sb.url, PEOPLE, creator_phone="13999999999"), "t.yaml", {})
    async with Sender(store, unknown) as sender:
        finals = await sender.send(task_id=49)
    (creator,) = [f for f in finals if "the task creator" in f.address]
    assert creator.status == "failed" and creator.attempts == 1
    assert "the task creator 'Ada'" in creator.detail
    assert "mobile 13999999999" in creator.detail and "no user" in creator.detail
    assert [f.status for f in finals if f is not creator] == ["sent", "sent"]


async def test_bot_not_in_chat_fails_at_once_with_the_hint(sb, store):
    ctl = GROUP.replace(
        "chat_id: oc_team, chat_name: team", "chat_id: oc_no_bot, chat_name: 发布群"
    )
    config = loads(config_text(sb.url, ctl), "t.yaml", {})
    async with Sender(store, config) as sender:
        card, mentions = await sender.send()
    assert card.status == mentions.status == "failed" and card.attempts == 1
    assert card.code == 230002
    assert "code 230002: Bot/User can NOT be out of the chat." in card.detail
    assert "add it" in card.detail and "发布群 (oc_no_bot)" in card.detail
    assert len(sb.received("feishu_app")) == 2  # refused once each, never retried


async def test_rate_limit_is_retried_after_the_reset_with_the_same_uuid(sb, store):
    config = loads(config_text(sb.url, GROUP.replace("    is_at_all: true\n", "")), "t.yaml", {})
    sb.feishu_app_throttle("oc_team", times=1)
    async with Sender(store, config) as sender:
        finals = await sender.send()
    assert [(f.status, f.attempts) for f in finals] == [("sent", 2), ("sent", 1)]
    throttled, card, _ = sb.received("feishu_app")
    assert (throttled.http_status, throttled.code) == (429, 99991400)
    assert card.at - throttled.at >= 0.95  # x-ogw-ratelimit-reset: 1
    assert throttled.body["uuid"] == card.body["uuid"] == finals[0].id
    assert sb.feishu_token_requests(APP_ID) == 1


async def test_an_apps_messages_to_many_people_stay_within_its_50_a_second(sb, store):
    """Each person is paced on its own (5/s); the app's 50/s spans them all."""
    people = [{"open_id": f"ou_p{i}", "user_id": f"u_p{i}", "name": f"P{i}"} for i in range(80)]
    sb.feishu_app(APP_ID, APP_SECRET, users=people)
    targets = "".join(f"\n      - {{id: u_p{i}}}" for i in range(80))
    ctl = f"""
- webhook_type: feishu_person
  notify_type: [passed]
  lark_person_notification_config:
    app_id: feishu-main
    target_users:{targets}
"""
    config = loads(config_text(sb.url, ctl), "t.yaml", {})
    async with Sender(store, config) as sender:
        finals = await sender.send()
    assert [f.status for f in finals] == ["sent"] * 80
    rows = sb.received("feishu_app")
    assert [r.http_status for r in rows if r.http_status != 200] == []  # no 429
    assert len(rows) == 80 and rows[-1].at - rows[0].at >= 0.55  # 80 needs a second window


async def test_an_app_past_its_1000_a_minute_retries_when_the_minute_frees():
    from tidings.channels.base import Destination
    from tidings.channels.feishu_steps import APP_LIMITS, App, pace_app
    from tidings.delivery.clock import Clock
    from tidings.delivery.io import WorkerIO
    from tidings.delivery.transport import HttpTransport

    clock = Clock()
    app = App(Destination("k", "https://open.feishu.cn", options={"app_id": APP_ID}))
    start = clock.now() - 30.0  # 1000 sends in the last 30 seconds
    io = WorkerIO(HttpTransport(), clock, timeout=5)
    sends = ("pace", ("feishu_app_sends", *app.cache_key))
    io.cache[sends] = [start + i * 0.03 for i in range(1000)]
    paced = await pace_app(io, app)
    assert isinstance(paced, Retry) and "1000 messages a minute" in paced.reason
    assert 29.0 < paced.after < 31.5  # when the oldest leaves the minute
    io.cache[sends] = [start] * 10
    assert await pace_app(io, app) is None  # room: sent at once, and counted
    assert len(io.cache[("pace-reserved", sends[1])]) == 1
    io.answered(sends[1], APP_LIMITS)  # answered: it counts from now
    assert len(io.cache[sends]) == 11 and not io.cache[("pace-reserved", sends[1])]


async def test_an_expired_token_is_refreshed_once_and_the_message_sent(sb, store):
    config = loads(config_text(sb.url, GROUP.replace("    is_at_all: true\n", "")), "t.yaml", {})
    async with Sender(store, config) as sender:
        await sender.send()
        sb.expire_feishu_tokens(APP_ID)
        sb.clear()
        finals = await sender.send(task_id=48)
    assert [(f.status, f.attempts) for f in finals] == [("sent", 1), ("sent", 1)]
    assert [r.code for r in sb.received("feishu_app")] == [99991663, 0, 0]
    assert sb.feishu_token_requests(APP_ID) == 2


async def test_a_wrong_app_secret_fails_naming_the_app_not_the_secret(sb, store):
    config = loads(config_text(sb.url, GROUP).replace(APP_SECRET, "wrong-secret-0000"), "t", {})
    async with Sender(store, config) as sender:
        finals = await sender.send()
    assert {f.status for f in finals} == {"failed"}
    detail = finals[0].detail
    assert "system.im_apps 'feishu-main'" in detail and "code 10014" in detail
    assert "wrong-secret-0000" not in detail and sb.received("feishu_app") == []


def test_interpret_reads_codes_and_the_reset_header():
    limited = Response(
        429,
        {"X-Ogw-Ratelimit-Reset": "3"},
        json.dumps({"code": 99991400, "msg": "request trigger frequency limit"}).encode(),
    )
    assert feishu_openapi.interpret(limited) == Retry(
        "rate limited (HTTP 429, code 99991400)", after=3.0, code=99991400
    )
    server = feishu_openapi.interpret(Response(503, {}, b"upstream"))
    assert isinstance(server, Retry)


def test_no_secret_in_check_preview_send_or_history(tmp_path, cli):
    smtp = {"security": "starttls", "users": {"tidings": SMTP_PASSWORD}}
    with SandboxThread(smtp=smtp) as sb:
        sb.feishu_app(APP_ID, APP_SECRET, users=FEISHU_USERS, chats=CHATS)
        mail = """
        - webhook_type: mail
          notify_type: [passed]
          mail_notification_config: {target_users: [{type: task_creator}]}
        """
        smtp = (
            f"{{host: 127.0.0.1, port: {sb.smtp.port}, username: tidings, "
            f"password: {SMTP_PASSWORD}, sender: ci@example.com, ca_file: '{sb.smtp.cafile}'}}"
        )
        text = config_text(sb.url, GROUP + PEOPLE + textwrap.dedent(mail), smtp=smtp)
        config = tmp_path / "tidings.yaml"
        config.write_text(text, "utf-8")
        task = write_json(tmp_path / "task.json", seed_task())
        runs = [
            cli("check"),
            cli("check", "--json"),
            cli("preview", "-t", task),
            cli("preview", "-t", task, "--json"),
            cli("send", "-t", task),
            cli("send", "-t", task, "--json", "--again"),
        ]
        tokens = {r.headers["Authorization"].split()[1] for r in sb.received("feishu_app")}
        assert len(sb.accepted("mail")) == 2 and len(sb.accepted("feishu_app")) == 10
    for run in runs:
        assert run.code == 0, run.output
    (delivery,) = [d for d in runs[5].json()["deliveries"] if d["label"] == "mentions"]
    runs.append(cli("deliveries", "show", delivery["delivery_id"], "--json"))
    runs.append(cli("deliveries", "--json"))
    for run in runs:
        for secret in (APP_SECRET, SMTP_PASSWORD, *tokens):
            assert secret not in run.output, f"{secret[:6]}… leaked: {run.output[:300]}"
    preview = runs[2].stdout
    assert preview.count("tenant_access_token/internal") == 1  # fetched once per app
    assert '"app_secret": "***"' in preview and "Authorization: Bearer ***" in preview
    assert "batch_get_id?user_id_type=open_id" in preview
    assert "SMTP smtp://127.0.0.1:" in preview and "SMTP-Password: ***" in preview
    assert "Subject: 👍 工作流 demo-workflow-dev#47 执行成功" in preview
