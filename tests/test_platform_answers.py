"""Platform answers read strictly (#20.8): a success code counts only under a 2xx status and
only as the integer the platform writes; `{"errcode": 0}` with HTTP 403 (a gateway, a proxy,
a look-alike answered) or `{"errcode": false}` is not a message delivered."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import orjson
import pytest

from helpers import enqueue_tasks
from hostile import RawServer, ok
from tidings.channels import dingding, feishu, feishu_openapi, wechat
from tidings.channels.base import Fail, Ok, Response
from tidings.config.loading import loads
from tidings.delivery.resolve import Resolver
from tidings.delivery.worker import Backoff, Settings, Worker
from tidings.store.db import Store

INTERPRETERS = {
    "dingding": (dingding.interpret, "errcode"),
    "wechat": (wechat.interpret, "errcode"),
    "feishu": (feishu.interpret, "code"),
    "feishu_app": (feishu_openapi.interpret, "code"),
}


def answer(status: int, body: dict) -> Response:
    return Response(status, {"Content-Type": "application/json"}, orjson.dumps(body))


@pytest.mark.parametrize("channel", sorted(INTERPRETERS))
def test_a_success_code_counts_only_under_a_2xx_status(channel):
    interpret, field = INTERPRETERS[channel]
    assert isinstance(interpret(answer(200, {field: 0, "msg": "ok"})), Ok)
    for status in (301, 400, 403, 404):
        outcome = interpret(answer(status, {field: 0, "msg": "ok"}))
        assert isinstance(outcome, Fail), (status, outcome)
        assert outcome.reason.startswith(f"HTTP {status} with {field} 0: not a success")


@pytest.mark.parametrize("channel", sorted(INTERPRETERS))
@pytest.mark.parametrize("code", [False, 0.0, 0.5, None, "", "zero", [0]])
def test_only_the_integer_zero_is_success(channel, code):
    interpret, field = INTERPRETERS[channel]
    outcome = interpret(answer(200, {field: code, "msg": "ok"}))
    assert not isinstance(outcome, Ok), outcome


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/tidings.db").open()


async def test_a_dingtalk_robot_answering_403_with_errcode_0_is_a_failure(store):
    """Over a real socket, through the worker: failed with the status, not sent."""
    body = b'{"errcode":0,"errmsg":"ok"}'
    async with RawServer(lambda n, r: ok(body, status="403 Forbidden")) as server:
        text = f"""
        workflows:
          - name: bulk
            notify_ctls:
              - webhook_type: dingding
                notify_type: [passed]
                dingding_notification_config:
                  hook_address: "{server.url("/robot/send?access_token=T0KEN")}"
        """
        config = loads(textwrap.dedent(text))
        ids = enqueue_tasks(store, config, 1)
        settings = Settings(timeout=3, backoff=Backoff(base=60), max_attempts=5)
        async with Worker(store, Resolver(config), settings=settings) as worker:
            statuses = await worker.run_until(ids, time.time() + 5)
    assert statuses == {ids[0]: "failed"}
    with store.transaction(write=False) as db:
        error = db.value("SELECT last_error FROM deliveries WHERE id = :id", {"id": ids[0]})
    assert error.startswith("HTTP 403 with errcode 0: not a success")
