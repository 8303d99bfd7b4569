"""Feishu/Lark app message to each person (飞书成员通知): the bot's card, one delivery per
person so each is paced on its own (5 a second per user).

`is_executor` is the task creator: rendered with what is known of them (phone, email) and
turned into a Feishu id when sent (batch_get_id, cached), see feishu_openapi. So are, with
`is_stage_executor`, the users who may run the manual stage a task is paused before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tidings.channels import feishu_openapi
from tidings.channels.base import Destination, RenderContext, Request
from tidings.channels.feishu_openapi import LIMITS, deliver, interpret, preview
from tidings.notify.content import Message

if TYPE_CHECKING:
    from tidings.config import LarkPersonConfig, LarkUser, System

WEBHOOK_TYPE = "feishu_person"
EXECUTOR = "executor"  # the key suffix of the task creator's deliveries
STAGE_EXECUTOR = "stage-executor/"  # + user id: a manual stage's executor's deliveries
__all__ = ["LIMITS", "deliver", "destination", "interpret", "preview", "render"]


def destination(config: LarkPersonConfig, key: str, system: System | None = None) -> Destination:
    """Each person's key is `<ctl key>/to/<id>` (or `/to/executor`); a person no longer in
    target_users is not sent to, unless dynamic_recipients (a task's variables) named them."""
    app = feishu_openapi.app_of(system, config.app_id)
    _, _, to = key.partition("/to/")
    if to == EXECUTOR and any(u.is_executor for u in config.target_users):
        return feishu_openapi.destination(app, key, f"{app.base} to the task creator")
    if to.startswith(STAGE_EXECUTOR) and any(u.is_stage_executor for u in config.target_users):
        who = to.removeprefix(STAGE_EXECUTOR)
        return feishu_openapi.destination(app, key, f"{app.base} to stage executor {who}")
    user = next((u for u in config.target_users if u.id and u.id == to), None)
    if user is None and to and config.dynamic_recipients:
        return feishu_openapi.destination(app, key, f"{app.base} to {to}")
    if user is None:
        raise ValueError(f"{to or key!r} is no longer in lark_person_notification_config")
    return feishu_openapi.destination(app, key, f"{app.base} to {user.id_type} {user.id}")


def render(message: Message, config: LarkPersonConfig, ctx: RenderContext) -> list[Request]:
    content = feishu_openapi.card_content(message)
    requests: dict[str, Request] = {}
    for user in config.target_users:
        if user.is_stage_executor:
            requests.update(_to_stage_executors(user, content, ctx))
            continue
        key = f"{ctx.destination}/to/{EXECUTOR if user.is_executor else user.id}"
        if key in requests:
            continue
        person = None
        if user.is_executor:
            person = ctx.directory.executor() if ctx.directory is not None else None
            if person is None:
                continue  # noted by the directory: reported as skipped
        target = (
            f"the task creator {person.name}"
            if person is not None
            else f"{user.name or user.id} ({user.id_type} {user.id})"
        )
        requests[key] = feishu_openapi.message_request(
            WEBHOOK_TYPE,
            key,
            receive_id_type=user.id_type,
            receive_id=user.id if person is None else "",
            msg_type="interactive",
            content=content,
            label="card",
            target=target,
            executor=person,
        )
    return list(requests.values())


def _to_stage_executors(
    user: LarkUser, content: dict[str, Any], ctx: RenderContext
) -> dict[str, Request]:
    """One request per executor of the manual stage the task is paused before (none at other
    times), each found in Feishu by phone or email when sent."""
    people = ctx.directory.stage_executor_people() if ctx.directory is not None else []
    requests = {}
    for user_id, person in people:
        key = f"{ctx.destination}/to/{STAGE_EXECUTOR}{user_id}"
        requests[key] = feishu_openapi.message_request(
            WEBHOOK_TYPE,
            key,
            receive_id_type=user.id_type,
            receive_id="",
            msg_type="interactive",
            content=content,
            label="card",
            target=f"stage executor {person.name}",
            executor=person,
        )
    return requests
