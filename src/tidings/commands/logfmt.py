"""The log lines of `tidings worker` and `tidings serve`: one line per record on stderr,
`key=value` for people or JSON for machines, secrets masked. uvicorn's own records (its
start-up lines and one per request) are formatted the same way."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidings.delivery.worker import Final
    from tidings.redact import Redactor

FORMATS = ("text", "json")


def line(fields: dict[str, Any], fmt: str) -> str:
    """Fields as one line: JSON, or key=value with values that hold spaces quoted."""
    if fmt == "json":
        return json.dumps(fields, ensure_ascii=False)
    return " ".join(
        f"{k}={json.dumps(v, ensure_ascii=False) if isinstance(v, str) and ' ' in v else v}"
        for k, v in fields.items()
        if v is not None and v != ""
    )


def delivery_fields(final: Final) -> dict[str, Any]:
    """What a line says about a finished delivery."""
    return {
        "event": "delivery",
        "id": final.id,
        "status": final.status,
        "channel": final.channel,
        "destination": final.destination,
        "source": final.source,
        "address": final.address,
        "label": final.label,
        "attempts": final.attempts,
        "code": final.code,
        "detail": final.detail,
    }


def delivery_line(final: Final, fmt: str) -> str:
    return line({"ts": _now(time.time()), **delivery_fields(final)}, fmt)


def _now(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(at))


class LineFormatter(logging.Formatter):
    """A logging record as a tidings line; a record may carry its fields (`extra={"fields":
    {...}}`), uvicorn's access records are taken apart into theirs."""

    def __init__(self, fmt: str, redact: Redactor) -> None:
        super().__init__()
        self.kind = fmt
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": _now(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        given = getattr(record, "fields", None)
        args = record.args
        if isinstance(given, dict):
            fields.update(given)
        elif record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, http, status = args
            # Never the query string: a caller may have put a token in it.
            path = str(path).split("?", 1)[0]
            fields.update(
                event="request", client=client, method=method, path=path, http=http, status=status
            )
        else:
            fields["msg"] = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            fields["error"] = type(record.exc_info[1]).__name__
        return self.redact(line(fields, self.kind))


def configure(fmt: str, level: str, redact: Redactor) -> None:
    """Every record of tidings and uvicorn to stderr as tidings lines, from `level` up."""
    import logging.config

    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"tidings": {"()": lambda: LineFormatter(fmt, redact)}},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "tidings",
                    "stream": sys.stderr,
                }
            },
            "loggers": {
                name: {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
                for name in ("tidings", "uvicorn", "uvicorn.error", "uvicorn.access")
            },
        }
    )
