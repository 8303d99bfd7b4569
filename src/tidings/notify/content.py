"""Event -> Message: the channel-neutral content of a workflow notification (specs/zadig.md §3).

Values that users or commits control are kept raw here; each channel escapes them for its own
markup. Labels and fixed texts come from the text tables and are trusted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tidings.notify import texts

if TYPE_CHECKING:
    from tidings.model import Job, Repository, Task


@dataclass(frozen=True)
class Line:
    """One `**label**：value` line, then links (text, url) after the value.

    `block` values may span lines (commit messages, image lists).
    """

    label: str
    value: str
    block: bool = False
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobBlock:
    type_text: str
    name: str
    status_text: str
    lines: tuple[Line, ...] = ()


@dataclass(frozen=True)
class Message:
    """What a workflow notification says, before any channel's markup."""

    status: str
    language: str
    icon: str
    task_type_text: str
    display_name: str
    task_id: int
    status_text: str
    info: tuple[Line, ...]
    jobs: tuple[JobBlock, ...]
    url: str
    hidden_jobs: int = 0
    # The task as Zadig's webhook sends it (`workflow` object), for machine receivers.
    payload: dict[str, Any] = field(default_factory=dict)

    def text(self, key: str) -> str:
        return texts.TEXTS[self.language][key]

    @property
    def link_text(self) -> str:
        return self.text("more")

    def short_title(self) -> str:
        """plain_title with the name clipped: for the small extra messages (mentions, @all)."""
        return self.clip(SHORT_NAME).plain_title()

    def plain_title(self) -> str:
        """`👍工作流 name #12 执行成功`: the title without markup."""
        return (
            f"{self.icon}{self.task_type_text} {self.display_name} "
            f"#{self.task_id} {self.status_text}"
        )

    def clip(self, max_chars: int) -> Message:
        """A copy whose values are at most max_chars long, cut with a visible marker."""
        marker = self.text("truncated")

        def cut(line: Line) -> Line:
            if len(line.value) <= max_chars:
                return line
            return replace(line, value=line.value[:max_chars] + marker)

        jobs = tuple(
            replace(job, name=_cut(job.name, max_chars, marker), lines=tuple(map(cut, job.lines)))
            for job in self.jobs
        )
        return replace(
            self,
            info=tuple(map(cut, self.info)),
            jobs=jobs,
            display_name=_cut(self.display_name, max_chars, marker),
        )

    def keep_jobs(self, count: int) -> Message:
        """A copy showing only the first `count` jobs; the rest are counted in a visible line."""
        hidden = len(self.jobs) - count + self.hidden_jobs
        return replace(self, jobs=self.jobs[:count], hidden_jobs=hidden)

    def hidden_jobs_line(self) -> str:
        return self.text("more_jobs").format(n=self.hidden_jobs) if self.hidden_jobs else ""


def _cut(value: str, max_chars: int, marker: str) -> str:
    return value if len(value) <= max_chars else value[:max_chars] + marker


def go_duration(seconds: int) -> str:
    """Go's Duration.String() for whole seconds: 0s, 45s, 1m30s, 2h0m5s."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


MAX_DISPLAY_QUERY = 512
SHORT_NAME = 200


def workflow_url(address: str, task: Task) -> str:
    """The workflow's page (Zadig's webhook `detail_url`), or "" without an address or project."""
    if not (address and task.project_name):
        return ""
    return (
        f"{address}/v1/projects/detail/{task.project_name}/pipelines/custom/"
        f"{task.workflow_name}?display_name={quote(task.display_name, safe='')}"
    )


def detail_url(address: str, task: Task) -> str:
    """The task's page, linked from IM messages; else the snapshot's own detail_url."""
    page = workflow_url(address, task)
    if not page:
        return task.detail_url
    path, query = page.split("?", 1)
    if len(query) > MAX_DISPLAY_QUERY:
        # display_name only labels the page; a huge one would crowd out the message itself.
        return f"{path}/{task.task_id}"
    return f"{path}/{task.task_id}?{query}"


def _repository_line(repo: Repository, label: str) -> Line:
    """`main [#12](pr) [622cc1fd](commit)`: branch or tag, pull requests, short commit."""
    repo_url = repo.commit_url.split("/commit/")[0] if "/commit/" in repo.commit_url else ""
    pr_path = "merge_requests" if repo.source == "gitlab" else "pull"
    links: list[tuple[str, str]] = []
    plain = [repo.tag or repo.branch]
    for pr in repo.prs or []:
        if repo_url:
            links.append((f"#{pr}", f"{repo_url}/{pr_path}/{pr}"))
        else:
            plain.append(f"#{pr}")
    commit = repo.commit_id[:8]
    if commit and repo.commit_url:
        links.append((commit, repo.commit_url))
    elif commit:
        plain.append(commit)
    return Line(label, " ".join(p for p in plain if p), links=tuple(links))


def _job_lines(job: Job, lang: str) -> list[Line]:
    t = texts.TEXTS[lang]
    spec = job.spec
    if spec is None:
        lines: list[Line] = []
    elif job.type in ("zadig-build", "freestyle"):
        lines = []
        for repo in spec.repositories or []:
            lines.append(_repository_line(repo, t["repository"]))
            if repo.commit_message:
                lines.append(Line(t["commit_message"], repo.commit_message, block=True))
        if spec.image and job.status == "passed":
            lines.append(Line(t["image"], spec.image))
    elif job.type in ("zadig-deploy", "zadig-helm-deploy", "custom-deploy"):
        lines = []
        if spec.env:
            lines.append(Line(t["env"], spec.env))
        images = [m.image for m in spec.service_modules or [] if m.image]
        if images and (job.type != "zadig-helm-deploy" or job.status == "passed"):
            lines.append(Line(t["image"], "\n".join(images), block=True))
    elif job.type in ("zadig-test", "zadig-scanning") and spec.test_result is not None:
        r = spec.test_result
        value = f"{r.success}({t['success']}) {r.failed}({t['failure']}) {r.total}({t['total']})"
        lines = [Line(t["test_result"], value)]
    else:
        lines = []
    if job.error and job.status in ("failed", "timeout", "reject", "cancelled"):
        lines.append(Line(t["error"], job.error, block=True))
    return lines


def build_message(
    task: Task,
    status: str,
    *,
    language: str = texts.ZH_CN,
    address: str = "",
    now: float | None = None,
) -> Message:
    """The content of a notification for `task` reaching `status`."""
    from tidings.model import task_payload  # pydantic models: not needed by ad-hoc notes

    t = texts.TEXTS[language]
    now = time.time() if now is None else now
    info = [
        Line(t["executor"], task.task_creator),
        Line(t["project"], task.project_display_name or task.project_name),
    ]
    pending = [s.name for s in task.stages if s.status == "pause"]
    if pending:
        info.append(Line(t["pending_stage"], ", ".join(pending)))
    if task.start_time:
        start = datetime.fromtimestamp(task.start_time).strftime("%Y-%m-%d %H:%M:%S")
        end = task.end_time if task.end_time >= task.start_time else 0
        info.append(Line(t["start_time"], start))
        info.append(Line(t["duration"], go_duration(int((end or now) - task.start_time))))
    info.append(Line(t["remark"], task.remark))
    if task.error and status in ("failed", "timeout", "reject"):
        info.append(Line(t["error"], task.error, block=True))
    jobs = tuple(
        JobBlock(
            type_text=texts.JOB_TYPE_TEXTS[language].get(job.type, job.type),
            name=job.shown_name,
            status_text=texts.status_text(job.status, language),
            lines=tuple(_job_lines(job, language)),
        )
        for job in task.jobs()
    )
    task_type = texts.TASK_TYPE_TEXTS[language].get(task.task_type or "workflow", t["workflow"])
    return Message(
        status=status,
        language=language,
        icon=texts.icon(status),
        task_type_text=task_type,
        display_name=task.display_name,
        task_id=task.task_id,
        # Paused before a manual stage: Zadig's 等待手动执行, not a bare 暂停.
        status_text=texts.status_text(
            "manual_pause" if status == "pause" and pending else status, language
        ),
        info=tuple(info),
        jobs=jobs,
        url=detail_url(address, task),
        payload=task_payload(task),
    )


@dataclass(frozen=True)
class Note:
    """An ad-hoc notification (Zadig's notification job, specs/zadig.md §6).

    Title and content are the author's own markdown and are sent as written.
    """

    title: str
    content: str
    url: str = ""
    language: str = texts.ZH_CN

    def text(self, key: str) -> str:
        return texts.TEXTS[self.language][key]
