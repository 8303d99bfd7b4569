"""Printing for the CLI: results on stdout, progress on stderr, secrets masked, colour only on a
terminal and never with NO_COLOR."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, tzinfo
from typing import Any

import click

from tidings.redact import Redactor


def when(ts: float | None, tz: tzinfo | None = None) -> str:
    """A time for people, in the team's zone (system.timezone; None: the machine's)."""
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def colour_enabled(stream: Any) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


class Output:
    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redact = redactor or Redactor()

    def with_secrets(self, secrets: list[str]) -> None:
        self.redact = self.redact.add(secrets)

    def out(self, text: str = "", *, fg: str | None = None, bold: bool = False) -> None:
        self._echo(text, sys.stdout, fg, bold)

    def err(self, text: str = "", *, fg: str | None = None, bold: bool = False) -> None:
        self._echo(text, sys.stderr, fg, bold)

    def table(self, rows: list[list[str]], colours: list[str | None]) -> None:
        """Rows in columns aligned by the cells they take on a terminal (a CJK character takes
        two), each as wide as its widest value; the last column is not padded."""
        from rich.cells import cell_len  # only the list commands draw tables

        cells = [[self.redact(value) for value in row] for row in rows]
        widths = [max(cell_len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)]
        for row, fg in zip(cells, colours, strict=True):
            padded = [v + " " * (w - cell_len(v)) for v, w in zip(row[:-1], widths, strict=True)]
            self.out("  ".join([*padded, row[-1]]).rstrip(), fg=fg)

    def json(self, data: Any) -> None:
        text = json.dumps(data, ensure_ascii=False, indent=2)
        click.echo(self.redact(text), file=sys.stdout, color=False)

    def _echo(self, text: str, stream: Any, fg: str | None, bold: bool) -> None:
        text = self.redact(text)
        if colour_enabled(stream) and (fg or bold):
            text = click.style(text, fg=fg, bold=bold)
        click.echo(text, file=stream, color=colour_enabled(stream))
