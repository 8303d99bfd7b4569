"""People as configurations name them and as channels reach them (no channel, no I/O here).

`Target` is Zadig's `User` reference (a configured user, a group, the task creator, the users
who may run a manual stage, or a raw address), used by mail's target_users and by manual
stages; `Person` is someone found, with what is known of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tidings.schema import Model

TARGET_TYPES = ("user", "group", "task_creator", "stage_executor", "email")


@dataclass(frozen=True)
class Person:
    """Someone to reach, with what is known of them."""

    name: str
    email: str = ""
    phone: str = ""


@dataclass
class Target(Model):
    """Zadig's User: a configured user, a group, the task creator, a manual stage's
    executors, or a raw address (type email: the address is in user_name)."""

    type: Literal["user", "group", "task_creator", "stage_executor", "email"] = "user"
    user_id: str = ""
    user_name: str = ""
    group_id: str = ""
    group_name: str = ""
