"""Who a notification reaches: users, groups and the task creator turned into mail addresses
and contacts, before any channel renders. `Directory` is what channels see as
channels.ports.People.

Pure: it reads the configured users and groups and the task snapshot, nothing else. What it
cannot resolve (a user without email, a task without creator) is noted in `problems`, so the
sender can say why someone was left out instead of silently sending to fewer people.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tidings.people import Person

if TYPE_CHECKING:
    from tidings.config.models import Group, User
    from tidings.model import Task
    from tidings.people import Target

# Loose on purpose: the server is the judge; this only keeps garbage out of mail headers.
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


@dataclass
class Directory:
    """The people of one configuration, seen from one task (for task_creator)."""

    users: Sequence[User] = ()
    groups: Sequence[Group] = ()
    task: Task | None = None
    stage_executors: Sequence[str] = ()  # user ids: who may run the stage the task waits at
    problems: list[str] = field(default_factory=list)

    def user(self, user_id: str) -> User | None:
        return next((u for u in self.users if u.id == user_id), None) if user_id else None

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.id == group_id), None) if group_id else None

    def task_creator(self) -> Person | None:
        """The snapshot's task_creator_id as a configured user (its phone and email win),
        else what the snapshot says (task_creator, _email, _phone); None if nothing."""
        task = self.task
        if task is None:
            return None
        user = self.user(task.task_creator_id)
        name = (user.name or user.id) if user else task.task_creator
        email = (user.email if user else "") or task.task_creator_email
        phone = (user.phone if user else "") or task.task_creator_phone
        if not (name or email or phone):
            return None
        return Person(name or email or phone, email.strip(), phone.strip())

    def executor(self) -> Person | None:
        """The task creator, for Feishu's is_executor; noted as a problem when unknown."""
        person = self.task_creator()
        if person is None or not (person.phone or person.email):
            who = f"the task creator {person.name!r}" if person else "the task creator"
            self.problems.append(
                f"{who} has neither phone nor email (in users: by task_creator_id, or the "
                "snapshot's task_creator_phone / task_creator_email): not sent to them"
            )
            return None
        return person

    def stage_executor_people(self) -> list[tuple[str, Person]]:
        """(user id, Person) of each who may run the manual stage the task is paused before,
        with a phone or an email to be found by; the others are noted as problems."""
        found = []
        for user_id in self.stage_executors:
            user = self.user(user_id)
            if user is None or not (user.phone or user.email):
                self.problems.append(
                    f"stage executor {user_id!r} has neither phone nor email under users: "
                    "not sent to them"
                )
                continue
            found.append((user_id, Person(user.name or user.id, user.email, user.phone)))
        return found

    def mail_addresses(self, targets: Iterable[Target]) -> list[str]:
        """Each address once (compared without case), in the order first named."""
        found: dict[str, str] = {}

        def add(address: str, who: str) -> None:
            address = address.strip()
            if not address:
                self.problems.append(f"{who} has no email address: not sent to them")
            elif not _ADDRESS.match(address):
                self.problems.append(f"{who}: {address!r} is not an email address")
            else:
                found.setdefault(address.lower(), address)

        for target in targets:
            if target.type == "user":
                user = self.user(target.user_id)
                add(user.email if user else "", f"user {target.user_id!r}")
            elif target.type == "group":
                group = self.group(target.group_id)
                if group is None:
                    self.problems.append(f"group {target.group_id!r} is not configured")
                    continue
                for member in group.members:
                    user = self.user(member)
                    add(user.email if user else "", f"user {member!r} of group {group.id!r}")
            elif target.type == "task_creator":
                person = self.task_creator()
                who = f"the task creator {person.name!r}" if person else "the task creator"
                add(person.email if person else "", who)
            elif target.type == "email":
                add(target.user_name, "a target_users entry of type email")
            else:  # stage_executor: nobody unless the task is paused before a manual stage
                for member in self.stage_executors:
                    user = self.user(member)
                    add(user.email if user else "", f"stage executor {member!r}")
        return list(found.values())
