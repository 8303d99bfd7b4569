"""Reading a code host's webhook body: JSON (or GitHub's form encoding), each field checked for
its type and named by its path when it is wrong, every string bounded.

A payload is outside input: whatever it holds, what tidings keeps of it is small (strings
clipped, lists cut) and a value of the wrong type is a 400 naming the field, never a crash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from tidings.errors import InputError, Problem
from tidings.yamlsrc import format_path

NAME = 255  # job, stage, branch, workflow and user names
TEXT = 4000  # commit messages and titles
URL = 2048
MAX_LIST = 50  # pull requests, stages: more is not a CI run anyone reads about


def decode_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The payload as a JSON object: the body itself, or the `payload` field of a form
    (GitHub's `application/x-www-form-urlencoded` content type)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    raw: bytes | str = body
    if kind == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qs

        try:
            form = parse_qs(body.decode("utf-8"), max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            form = {}
        if not form.get("payload"):
            raise InputError(
                "invalid payload: body",
                [Problem("body", "a form without a payload field; send JSON")],
            )
        raw = form["payload"][0]
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            "invalid payload: body", [Problem("body", f"not valid JSON (UTF-8): {exc}")]
        ) from None
    if not isinstance(data, dict):
        raise InputError("invalid payload: body", [Problem("body", "must be a JSON object")])
    return data


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_time(value: str) -> int:
    """Unix seconds of GitHub's (`2020-10-05T16:33:24Z`) and GitLab's (`2016-08-12 15:23:28
    UTC`, `2021-02-23T02:41:37.886Z`, `2011-12-12T14:27:31+02:00`) times; 0 when unreadable
    (a time only labels a message: it is never a reason to refuse the event)."""
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    elif text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int(when.timestamp()))


class Reader:
    """Typed access to a payload; what is missing or of the wrong type is noted in `problems`
    by its path (`workflow_run.run_number`), and a neutral value returned instead."""

    def __init__(self, data: dict[str, Any], what: str) -> None:
        self.data = data
        self.what = what  # "GitHub workflow_run payload"
        self.problems: list[Problem] = []

    def _get(self, path: tuple[str | int, ...]) -> tuple[bool, Any]:
        value: Any = self.data
        for part in path:
            if isinstance(part, int):
                if not isinstance(value, list) or part >= len(value):
                    return False, None
                value = value[part]
            else:
                if not isinstance(value, dict) or part not in value:
                    return False, None
                value = value[part]
        return True, value

    def _problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(format_path(path), message))

    def _typed(
        self, path: tuple[str | int, ...], kind: type | tuple[type, ...], name: str, required: bool
    ) -> Any:
        found, value = self._get(path)
        if not found or value is None:
            if required:
                self._problem(path, "field required")
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            self._problem(path, f"must be {name}")
            return None
        return value

    def obj(self, *path: str | int, required: bool = False) -> dict[str, Any]:
        found = self._typed(path, dict, "an object", required)
        return found if found is not None else {}

    def items(self, *path: str | int, limit: int = MAX_LIST) -> list[Any]:
        """A list (at most `limit` items; null or missing: empty)."""
        found = self._typed(path, list, "a list", False)
        return (found or [])[:limit]

    def text(self, *path: str | int, required: bool = False, limit: int = NAME) -> str:
        found = self._typed(path, str, "a string", required)
        return clip(found, limit) if found is not None else ""

    def integer(self, *path: str | int, required: bool = False) -> int:
        found = self._typed(path, int, "an integer", required)
        return found if found is not None else 0

    def seconds(self, *path: str | int) -> int:
        """A duration in seconds: GitLab writes an integer or a float (or null)."""
        found = self._typed(path, (int, float), "a number", False)
        return max(0, int(found)) if found is not None else 0

    def flag(self, *path: str | int) -> bool:
        found = self._typed(path, bool, "true or false", False)
        return bool(found)

    def time(self, *path: str | int) -> int:
        found = self._typed(path, str, "a time (string)", False)
        return parse_time(found) if found else 0

    def done(self) -> None:
        """Raise the 400's InputError when anything was wrong."""
        if self.problems:
            fields = ", ".join(dict.fromkeys(p.path for p in self.problems))
            raise InputError(f"invalid {self.what}: {fields}", self.problems)
