"""What a database can store of a JSON value: both SQLite and PostgreSQL refuse NUL characters
in text, neither stores an integer past 64 bits, and no encoder writes a lone surrogate (which
Python's json module reads from "\\ud800" without complaint). Input is checked at the boundary
with this, so one bad value is refused (naming its field) instead of failing the transaction
it shares with other events.
"""

from __future__ import annotations

from typing import Any

from tidings.errors import Problem

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_PATH = 200  # characters of a path shown
MAX_PROBLEMS = 20  # a hostile body could hold millions: the first few say enough


def text_problem(text: str) -> str | None:
    """Why this text cannot be stored, or None."""
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which the database cannot store: remove it"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate (\\ud800-\\udfff): not valid Unicode"
    return None


def problems(value: Any, path: str = "") -> list[Problem]:
    """Each string (keys included) and integer of this parsed JSON that cannot be stored, by
    its path (`a.b[2].c`)."""
    found: list[Problem] = []
    _walk(value, path, found)
    # Paths are made of the caller's keys: shown shortened, like any echo of input.
    return [Problem(p.path[:MAX_PATH], p.message) for p in found[:MAX_PROBLEMS]]


def _walk(value: Any, path: str, found: list[Problem]) -> None:
    if len(found) >= MAX_PROBLEMS:
        return
    if isinstance(value, str):
        why = text_problem(value)
        if why:
            found.append(Problem(path or "body", why))
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            found.append(Problem(path or "body", "integer out of range (64-bit: ±2^63)"))
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (why := text_problem(key)):
                found.append(Problem(path or "body", f"a key {why}"))
                name = f"{path}.<key>" if path else "<key>"
            _walk(item, name, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", found)
