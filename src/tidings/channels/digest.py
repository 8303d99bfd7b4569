"""Digests: a rate-limited robot's backlog merged into few messages (issue #18).

When a robot cannot take its backlog in time (DingTalk and WeCom: 20 a minute), the delivery
worker merges its pending notifications into digests. Each notification that may be merged
carries an `Entry` (stored with its request as `Request.digest`): what a digest line needs,
and the mentions of its ctl. This module turns entries into lines (one per task, its latest
status, newest first, grouped by workflow) and packs them into as few digests as a channel's
size limit allows; each channel's `render_digest` lays one digest out in its own markup.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tidings.notify import texts
from tidings.notify.content import Message

ENTRY_VERSION = 1
MAX_VALUE = 120  # characters of a name or creator in a line: a digest lists, it does not detail

DIGEST_TEXTS = {
    texts.ZH_CN: {
        "title": "{n} 条工作流通知",  # the robot's keyword (工作流) is in every digest's title
        "events": "（{n} 条通知）",
        "part": "（第 {i}/{n} 部分）",
    },
    texts.EN_US: {
        "title": "{n} workflow notifications",
        "events": " ({n} notifications)",
        "part": " (part {i} of {n})",
    },
}
ICON = "📬"


def entry(message: Message, config: Any, mention_fields: Sequence[str]) -> dict[str, Any]:
    """What a digest needs of one notification: its line, and its ctl's mentions (the values
    of the channel's mention fields, e.g. at_mobiles, is_at_all), as plain JSON."""
    return {
        "v": ENTRY_VERSION,
        "language": message.language,
        "status": message.status,
        "icon": message.icon,
        "status_text": message.status_text,
        "task_type_text": message.task_type_text,
        "workflow": message.display_name,
        "task_id": message.task_id,
        "url": message.url,
        "creator": message.info[0].value if message.info else "",
        "mentions": {name: _plain(getattr(config, name)) for name in mention_fields},
    }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class Item:
    """A merged notification: its event and the entry its request carried."""

    event_id: str
    entry: Mapping[str, Any]


@dataclass(frozen=True)
class DigestLine:
    """One task in a digest: its latest status, and how many events it stands for."""

    workflow: str
    task_id: int
    icon: str
    status_text: str
    url: str
    creator: str
    events: int
    newest: int  # position of its latest event in the backlog (larger: newer)


@dataclass(frozen=True)
class Digest:
    """One digest as a channel renders it: its lines grouped by workflow, newest first."""

    language: str
    lines: tuple[DigestLine, ...]  # newest first
    events: int  # notifications it stands for
    mentions: Mapping[str, Any]  # each mention field: lists merged (each once), flags or-ed
    part: int = 1
    parts: int = 1

    def text(self, key: str, **values: Any) -> str:
        table = DIGEST_TEXTS.get(self.language, DIGEST_TEXTS[texts.ZH_CN])
        return table[key].format(**values)

    def title(self) -> str:
        title = f"{ICON}{self.text('title', n=self.events)}"
        if self.parts > 1:
            title += self.text("part", i=self.part, n=self.parts)
        return title

    def groups(self) -> list[tuple[str, list[DigestLine]]]:
        """(workflow, its lines) in the order of each workflow's newest line."""
        found: dict[str, list[DigestLine]] = {}
        for line in self.lines:
            found.setdefault(line.workflow, []).append(line)
        return list(found.items())

    def note(self, line: DigestLine) -> str:
        """`（3 条通知）` when a line stands for more than one event."""
        return self.text("events", n=line.events) if line.events > 1 else ""

    def row(
        self,
        line: DigestLine,
        link: Callable[[str, str], str],
        esc: Callable[[str], str],
    ) -> str:
        """A task's line in a channel's markup: icon, its id linked (`link(text, url)`),
        status, creator (`esc`aped), and how many events it stands for."""
        who = f" · {esc(line.creator)}" if line.creator else ""
        task = link(f"#{line.task_id}", line.url)
        return f"{line.icon} {task} {line.status_text}{who}{self.note(line)}"


def _clip(value: str) -> str:
    value = " ".join(str(value).split())
    return value if len(value) <= MAX_VALUE else value[:MAX_VALUE] + "…"


def lines(items: Sequence[Item]) -> list[DigestLine]:
    """One line per task (workflow, task id), showing its latest status: a final status
    supersedes the task's own earlier `created`. Newest first. `items` are oldest first; an
    event carried by several requests (WeCom's @all beside its markdown) counts once."""
    latest: dict[tuple[str, int], tuple[int, Mapping[str, Any]]] = {}
    events: dict[tuple[str, int], set[str]] = {}
    for position, item in enumerate(items):
        e = item.entry
        key = (str(e.get("workflow", "")), int(e.get("task_id", 0)))
        latest[key] = (position, e)
        events.setdefault(key, set()).add(item.event_id)
    found = [
        DigestLine(
            workflow=_clip(key[0]),
            task_id=key[1],
            icon=str(e.get("icon", "")),
            status_text=str(e.get("status_text", "")),
            url=str(e.get("url", "")),
            creator=_clip(str(e.get("creator", ""))),
            events=len(events[key]),
            newest=position,
        )
        for key, (position, e) in latest.items()
    ]
    return sorted(found, key=lambda line: -line.newest)


def merge_mentions(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every entry's mentions, once each: lists merged in first-seen order, flags or-ed."""
    merged: dict[str, Any] = {}
    lists: dict[str, dict[str, None]] = {}  # ordered sets: linear in the mentions, not squared
    for e in entries:
        for name, value in (e.get("mentions") or {}).items():
            if isinstance(value, list):
                lists.setdefault(name, {}).update(dict.fromkeys(map(str, value)))
                merged.setdefault(name, None)  # keep the order names were first seen in
            else:
                merged[name] = bool(merged.get(name)) or bool(value)
    return {name: list(lists[name]) if name in lists else value for name, value in merged.items()}


T = TypeVar("T")
# What a channel makes of a backlog: each digest's requests, and the items it carries.
Rendered = list[tuple[list[Any], list[Item]]]


def pack(
    items: Sequence[Item],
    build: Callable[[Digest], T],
    size: Callable[[T], int],
    limit: int,
) -> list[tuple[Digest, T, list[Item]]]:
    """The backlog (`items`, oldest first) as few digests as fit `limit`: (digest, what
    `build` made of it, the items it carries). A task's events stay in one digest; the first
    digest holds the oldest tasks, so digests go out in event order. A line too large for an
    empty digest is sent alone all the same (clipped values make that a limit never met)."""
    language = str(items[0].entry.get("language", texts.ZH_CN)) if items else texts.ZH_CN
    position = {id(item): i for i, item in enumerate(items)}
    by_task: dict[tuple[str, int], list[Item]] = {}
    for item in items:
        key = (str(item.entry.get("workflow", "")), int(item.entry.get("task_id", 0)))
        by_task.setdefault(key, []).append(item)
    # Tasks in the order of their latest event, oldest first.
    order = sorted(by_task, key=lambda key: position[id(by_task[key][-1])])
    tasks = [by_task[key] for key in order]

    def fits(start: int, end: int) -> bool:
        chunk = [item for task in tasks[start:end] for item in task]
        return size(build(_digest(chunk, language))) <= limit

    # Each digest takes the most tasks that fit (more tasks are never smaller): found by
    # galloping then bisection, O(log n) renders a digest, never one render per task.
    chunks: list[list[Item]] = []
    start = 0
    while start < len(tasks):
        low, step = start + 1, 1  # one task always goes, even alone too large
        while True:
            if low + step > len(tasks):
                high = len(tasks)
                break
            if not fits(start, low + step):
                high = low + step - 1
                break
            low, step = low + step, step * 2
        while low < high:
            mid = (low + high + 1) // 2
            if fits(start, mid):
                low = mid
            else:
                high = mid - 1
        chunks.append([item for task in tasks[start:low] for item in task])
        start = low
    packed = []
    for part, chunk in enumerate(chunks, 1):
        chunk.sort(key=lambda item: position[id(item)])
        digest = _digest(chunk, language, part, len(chunks))
        packed.append((digest, build(digest), chunk))
    return packed


def _digest(items: Sequence[Item], language: str, part: int = 1, parts: int = 1) -> Digest:
    return Digest(
        language=language,
        lines=tuple(lines(items)),
        events=len({item.event_id for item in items}),
        mentions=merge_mentions([item.entry for item in items]),
        part=part,
        parts=parts,
    )
