"""Recipients: users, groups (expanded), the task creator and raw addresses -> each address
once; the task creator's phone and email for Feishu; what cannot be resolved is said."""

from __future__ import annotations

from helpers import seed_task
from tidings.config.models import Group, User
from tidings.dispatch.recipients import Directory
from tidings.dispatch.task import parse_task
from tidings.people import Person, Target

USERS = [
    User(id="u-dev", name="Dev", email="dev@example.com", phone="13800000001"),
    User(id="u-qa", name="QA", email="QA@Example.com"),
    User(id="u-nomail", name="No Mail", phone="13800000003"),
    User(id="creator-1", name="Ada", email="ada@example.com", phone="13800000009"),
]
GROUPS = [Group(id="team", members=["u-dev", "u-qa", "u-nomail"])]


def task(**fields):
    return parse_task({**seed_task(), **fields})


def targets(*items: dict) -> list[Target]:
    return [Target(**item) for item in items]


def test_users_groups_creator_and_raw_addresses_each_once_in_order():
    directory = Directory(USERS, GROUPS, task(task_creator_id="creator-1"))
    found = directory.mail_addresses(
        targets(
            {"type": "user", "user_id": "u-dev"},
            {"type": "group", "group_id": "team"},
            {"type": "email", "user_name": "qa@example.com"},  # the same mailbox as u-qa
            {"type": "task_creator"},
            {"type": "email", "user_name": "ops@example.com"},
            {"type": "stage_executor"},  # no manual stage waits: nobody
        )
    )
    assert found == ["dev@example.com", "QA@Example.com", "ada@example.com", "ops@example.com"]
    assert directory.problems == [
        "user 'u-nomail' of group 'team' has no email address: not sent to them"
    ]


def test_task_creator_by_configured_user_else_the_snapshot():
    configured = Directory(USERS, GROUPS, task(task_creator_id="creator-1"))
    assert configured.task_creator() == Person("Ada", "ada@example.com", "13800000009")
    unknown = Directory(USERS, GROUPS, task(task_creator_id="zadig-uuid", task_creator="bob"))
    snapshot = seed_task()
    assert unknown.task_creator() == Person(
        "bob", snapshot["task_creator_email"], snapshot["task_creator_phone"]
    )
    assert unknown.mail_addresses(targets({"type": "task_creator"})) == [
        snapshot["task_creator_email"]
    ]


def test_executor_phone_then_email_and_the_reason_when_neither_is_known():
    directory = Directory(USERS, GROUPS, task(task_creator_id="u-nomail"))
    assert directory.executor() == Person(
        "No Mail", seed_task()["task_creator_email"], "13800000003"
    )
    nobody = Directory(
        USERS,
        GROUPS,
        task(task_creator_id="", task_creator="eve", task_creator_email="", task_creator_phone=""),
    )
    assert nobody.executor() is None
    assert nobody.mail_addresses(targets({"type": "task_creator"})) == []
    assert nobody.problems == [
        "the task creator 'eve' has neither phone nor email (in users: by task_creator_id, or "
        "the snapshot's task_creator_phone / task_creator_email): not sent to them",
        "the task creator 'eve' has no email address: not sent to them",
    ]


def test_snapshot_addresses_that_are_not_addresses_are_refused():
    directory = Directory(USERS, GROUPS, task(task_creator_email="eve@x.com>, boss@x.com"))
    assert directory.mail_addresses(targets({"type": "task_creator"})) == []
    assert "is not an email address" in directory.problems[0]
