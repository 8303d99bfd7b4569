"""Errors that reach the user: each says what is wrong, where, and what to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem in an input file: its YAML/JSON path, what is wrong, and its line if known."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        line = f" (line {self.line})" if self.line else ""
        return f"{where}{self.message}{line}"

    def as_json(self) -> dict[str, str]:
        """As `check --json` and `POST /workflows/validate` print it: the line in the message."""
        line = f" (line {self.line})" if self.line else ""
        return {"path": self.path, "message": self.message + line}


class InputError(Exception):
    """Bad input from the user (exit code 2 on the CLI, 4xx on the API)."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def lines(self) -> list[str]:
        """The message, then one line per problem."""
        return [self.message, *(f"  {p}" for p in self.problems)]


class ConfigError(InputError):
    """The configuration file is invalid."""
