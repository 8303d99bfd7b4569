"""Feishu/Lark app message to each person (飞书成员通知): the bot's card, one delivery per
person so each is paced on its own (5 a second per user).

`is_executor` is the task creator: rendered with what is known of them (phone, email) and
turned into a Feishu id when sent (batch_get_id, cached), see feishu_openapi. So are, with
`is_stage_executor`, the users who may run the manual stage a task is paused before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from tidings.channels import feishu_openapi
from tidings.channels.base import Destination, RenderContext, Request
from tidings.channels.feishu_openapi import LIMITS, deliver, interpret, preview
from tidings.notify.content import Message

if TYPE_CHECKING:
    from tidings.config import LarkPersonConfig, System
    from tidings.notify.recipients import Person

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
    for to, id_type, receive_id, person, target in _people(config, ctx):
        key = f"{ctx.destination}/to/{to}"
        if key not in requests:
            requests[key] = feishu_openapi.message_request(
                WEBHOOK_TYPE,
                key,
                receive_id_type=id_type,
                receive_id=receive_id,
                msg_type="interactive",
                content=content,
                label="card",
                target=target,
                executor=person,
            )
    return list(requests.values())


def _people(
    config: LarkPersonConfig, ctx: RenderContext
) -> Iterator[tuple[str, str, str, Person | None, str]]:
    """(key suffix, id type, Feishu id, the person to look up when sent, how errors name them)
    of everyone a card goes to: the listed users, the task creator (is_executor) and, while the
    task is paused before a manual stage, its executors (is_stage_executor)."""
    directory = ctx.directory
    for user in config.target_users:
        if user.is_stage_executor:
            people = directory.stage_executor_people() if directory is not None else []
            for user_id, person in people:
                target = f"stage executor {person.name}"
                yield f"{STAGE_EXECUTOR}{user_id}", user.id_type, "", person, target
        elif user.is_executor:
            person = directory.executor() if directory is not None else None
            if person is not None:  # else noted by the directory: reported as skipped
                yield EXECUTOR, user.id_type, "", person, f"the task creator {person.name}"
        else:
            target = f"{user.name or user.id} ({user.id_type} {user.id})"
            yield user.id, user.id_type, user.id, None, target
