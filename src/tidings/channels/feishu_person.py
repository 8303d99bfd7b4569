"""Feishu/Lark app message to each person (飞书成员通知): the bot's card, one delivery per
person so each is paced on its own (5 a second per user).

`is_executor` is the task creator: rendered with what is known of them (phone, email) and
turned into a Feishu id when sent (batch_get_id, cached), see feishu_openapi. So are, with
`is_stage_executor`, the users who may run the manual stage a task is paused before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidings.channels import escape, feishu_openapi, identity
from tidings.channels.base import Channel, Destination, Problems, RenderContext, Request
from tidings.channels.feishu_openapi import (
    LIMITS,
    LarkUser,
    deliver,
    interpret,
    preview,
    recipient_entry,
)
from tidings.notify.content import Message, Note
from tidings.people import Person
from tidings.schema import Model

if TYPE_CHECKING:
    from tidings.channels.ports import ConfigView, SystemView

WEBHOOK_TYPE = "feishu_person"
CONFIG_KEY = "lark_person_notification_config"
__all__ = [
    "CHANNEL",
    "LIMITS",
    "deliver",
    "describe",
    "destination",
    "interpret",
    "preview",
    "render",
    "render_note",
]


@dataclass
class LarkPersonConfig(Model):
    """lark_person_notification_config: a Feishu app's message to each person (飞书成员通知)."""

    app_id: str
    target_users: list[LarkUser] = field(default_factory=list)
    dynamic_recipients: list[str] = field(default_factory=list)


def check(config: LarkPersonConfig, view: ConfigView) -> tuple[Problems, Problems]:
    errors = feishu_openapi.app_problems(CONFIG_KEY, config.app_id, view)
    warnings: Problems = []
    if not config.target_users:
        warnings.append(((CONFIG_KEY, "target_users"), "empty: nobody receives this"))
    for index, user in enumerate(config.target_users):
        if not user.id and not (user.is_executor or user.is_stage_executor):
            errors.append(
                (
                    (CONFIG_KEY, "target_users", index, "id"),
                    "must not be empty (or set is_executor: true for the task creator, "
                    "is_stage_executor: true for who may run a manual stage)",
                )
            )
    return errors, warnings


def destination(config: LarkPersonConfig, system: SystemView | None = None) -> Destination:
    """The app is what is addressed; each person is a destination of it of their own (their
    key adds the person, channels.identity), whoever the ctl names today."""
    app = feishu_openapi.app_of(system, config.app_id)
    return feishu_openapi.destination(app, WEBHOOK_TYPE, [], f"{app.base} (app {app.id})")


def describe(request: Request, destination: Destination) -> str:
    """How history shows one person's destination: the app's platform and who."""
    return f"{destination.url} to {request.body.get('target', '?')}"


def render(message: Message, config: LarkPersonConfig, ctx: RenderContext) -> list[Request]:
    return _to_each(feishu_openapi.card_content(message), config, ctx)


def render_note(note: Note, config: LarkPersonConfig, ctx: RenderContext) -> list[Request]:
    """Zadig's notification job to each person (sendLarkMessage): the blue card."""
    return _to_each(feishu_openapi.note_content(note), config, ctx)


def _to_each(
    content: dict[str, Any], config: LarkPersonConfig, ctx: RenderContext
) -> list[Request]:
    """The card to each person, once."""
    requests: dict[str, Request] = {}
    for person_id, id_type, receive_id, person, target in _people(config, ctx):
        key = identity.key(ctx.destination, person_id)
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
    """(who: the person's identity, id type, Feishu id, the person to look up when sent, how
    errors name them)
    of everyone a card goes to: the listed users, the task creator (is_executor) and, while the
    task is paused before a manual stage, its executors (is_stage_executor)."""
    directory = ctx.directory
    for user in config.target_users:
        if user.is_stage_executor:
            people = directory.stage_executor_people() if directory is not None else []
            for _user_id, person in people:
                target = f"stage executor {person.name}"
                yield _looked_up(user.id_type, person), user.id_type, "", person, target
        elif user.is_executor:
            creator = directory.executor() if directory is not None else None
            if creator is not None:  # else noted by the directory: reported as skipped
                who = _looked_up(user.id_type, creator)
                yield who, user.id_type, "", creator, f"the task creator {creator.name}"
        elif user.id_type == "mobile":  # looked up by phone when sent
            person = Person(user.name or user.id, phone=user.id)
            yield _looked_up("user_id", person), "user_id", "", person, f"{person.name}"
        else:
            target = f"{user.name or user.id} ({user.id_type} {user.id})"
            yield f"{user.id_type}:{user.id}", user.id_type, user.id, None, target


def _looked_up(id_type: str, person: Person) -> str:
    """A person found by phone or email when sent is addressed by those."""
    return f"lookup:{id_type}:{person.phone}:{person.email}"


CHANNEL = Channel(
    webhook_type=WEBHOOK_TYPE,
    config_key=CONFIG_KEY,
    config_type=LarkPersonConfig,
    limits=LIMITS,
    destination=destination,
    render=render,
    render_note=render_note,
    deliver=deliver,
    preview=preview,
    describe=describe,
    sandbox="feishu_app",
    known_as=("lark_person", "feishu_user", "lark_user"),
    escape=escape.lark_md,
    recipient_fields={
        "email": "target_users",
        "user_id": "target_users",
        "mobile": "target_users",
    },
    recipient_entry=recipient_entry,
    check=check,
    needs_system=True,
    manual_pause=True,
    pending_stage_line=True,
)
