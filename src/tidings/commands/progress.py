"""One transient line on an interactive stderr while deliveries wait to be retried:
"retrying wechat: attempt 3 failed, next in 4 s (HTTP 503 …) https://…". It disappears when they
end; piped or redirected output never gets it (the results alone are printed there)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tidings.commands.output import Output

if TYPE_CHECKING:
    from rich.live import Live
    from rich.text import Text

    from tidings.delivery.worker import Final, Retrying


class Waiting:
    """The deliveries now waiting for their next attempt, drawn as one line from the first
    retry on (rich renders it several times a second from its own thread: the countdown moves)."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self._next: dict[str, tuple[Retrying, float]] = {}  # id -> (notice, monotonic due)
        self._lock = threading.Lock()
        self._live: Live | None = None

    def retrying(self, notice: Retrying) -> None:
        wait = max(notice.next_at - time.time(), 0.0)  # the worker's clock is the wall clock
        with self._lock:
            self._next[notice.id] = (notice, time.monotonic() + wait)
        if self._live is None:
            from rich.console import Console
            from rich.live import Live

            # transient: erased when done. Results printed meanwhile appear above the line:
            # stderr's through rich, stdout's too when it is the same terminal (a redirected
            # stdout is left alone).
            self._live = Live(
                self,
                console=Console(stderr=True, highlight=False),
                transient=True,
                refresh_per_second=4,
                redirect_stdout=sys.stdout.isatty(),
            )
            self._live.start()
        self._live.refresh()  # each new failure shown at once, not at the next tick

    def ended(self, final: Final) -> None:
        with self._lock:
            self._next.pop(final.id, None)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __rich__(self) -> Text:
        from rich.text import Text

        with self._lock:
            waiting = list(self._next.values())
        if not waiting:
            return Text("")
        notice, due = min(waiting, key=lambda pair: pair[1])
        seconds = max(due - time.monotonic(), 0.0)
        more = f" (and {len(waiting) - 1} more)" if len(waiting) > 1 else ""
        # What matters first: a narrow terminal cuts the end of the line.
        line = (
            f"retrying {notice.channel}: attempt {notice.attempt} failed, next in "
            f"{seconds:.0f} s{more} ({notice.reason}) {notice.address}"
        )
        return Text(self.out.redact(line), overflow="ellipsis", no_wrap=True)


@contextmanager
def retry_line(out: Output, enabled: bool = True) -> Iterator[Waiting | None]:
    """A `Waiting` for the block when stderr is an interactive terminal; else None."""
    if not enabled or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        yield None
        return
    waiting = Waiting(out)
    try:
        yield waiting
    finally:
        waiting.stop()
