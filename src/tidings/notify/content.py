"""Event -> Message: the channel-neutral content of a workflow notification, as Zadig builds
it (instantmessage/workflow_task.go getNotificationContentWithOptions and
getApproveNotificationContent, util/workflownotify/job_content.go BuildWorkflowJobContents).

Values that users or commits control are kept raw here; each channel escapes them for its own
markup. Labels and fixed texts come from the text tables and are trusted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tidings.notify import texts

if TYPE_CHECKING:
    from tidings.model import Job, Repository, Task


@dataclass(frozen=True)
class Line:
    """One `**label**：value` line of a message, then links (text, url) after the value.

    `kind` says how Zadig lays the value out: `text` on the line; `message` (a commit
    message; `error`, tidings' error lines, alike) on the line when it is one line, else on
    lines of its own; `list` (images) one
    per line below the label; `report` (test counts) followed by a line break; `metrics`
    (scan results) as value(label) pairs, the values bold in markdown. `sep` is the colon
    Zadig writes after the label, `tail` the spaces before the line ends.
    """

    label: str
    value: str
    block: bool = False  # the value may span lines (commit messages, image lists)
    links: tuple[tuple[str, str], ...] = ()
    kind: str = "text"
    sep: str = "："
    tail: str = "  "
    pairs: tuple[tuple[str, str], ...] = ()  # metrics: (value, label)


@dataclass(frozen=True)
class JobBlock:
    type_text: str
    name: str
    status_text: str  # "" in the approval message, which shows no job status
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
    url: str  # the task's page, linked from every IM message
    hidden_jobs: int = 0
    # The task as Zadig's webhook sends it (`workflow` object), for machine receivers.
    payload: dict[str, Any] = field(default_factory=dict)
    # Zadig's approval message (getApproveNotificationContent): its own title and colours.
    approval: bool = False
    workflow_url: str = ""  # the workflow's page, linked from the mail
    pending_stage: str = ""  # the manual stage the task is paused before
    task_type: str = "workflow"

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

    def for_channel(self, manual_pause: bool, pending_stage_line: bool) -> Message:
        """This message as one channel says it: paused tasks read 等待手动执行 on the channels
        whose record says so (Zadig's Feishu ones, and the manual-stage message of mail and
        feishu_person), and those show 待执行阶段 too."""
        if self.status != "pause" or self.approval:
            return self
        message = self
        if manual_pause:
            message = replace(message, status_text=texts.status_text("manual_pause", self.language))
        if pending_stage_line and self.pending_stage:
            line = Line(self.text("pending_stage"), self.pending_stage)
            message = replace(message, info=(*self.info[:2], line, *self.info[2:]))
        return message

    def clip(self, max_chars: int) -> Message:
        """A copy whose values are at most max_chars long, cut with a visible marker."""
        marker = self.text("truncated")

        def cut(line: Line) -> Line:
            if len(line.value) <= max_chars:
                return line
            return replace(line, value=line.value[:max_chars] + marker, pairs=())

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


def path_escape(text: str) -> str:
    """Go's url.PathEscape: everything but letters, digits, `-_.~` and `$&+:=@` escaped."""
    return quote(text, safe="$&+:=@")


def _scanning_id(task: Task) -> str:
    return task.workflow_name.rsplit("-", 1)[-1]


def workflow_url(address: str, task: Task) -> str:
    """The page Zadig's mail links and its webhook sends as `detail_url` (no task id for a
    workflow), or "" without an address or project."""
    if not (address and task.project_name):
        return ""
    base = f"{address}/v1/projects/detail/{task.project_name}"
    name = path_escape(task.display_name)
    if task.task_type == "scan":
        return f"{base}/scanner/detail/{name}/task/{task.task_id}?id={_scanning_id(task)}"
    if task.task_type == "test":
        return f"{base}/test/detail/function/{name}/{task.task_id}"
    return f"{base}/pipelines/custom/{task.workflow_name}?display_name={name}"


def detail_url(address: str, task: Task) -> str:
    """The task's page, linked from IM messages (by task type, as Zadig's sendNotification);
    else the snapshot's own detail_url."""
    if not (address and task.project_name):
        return task.detail_url
    if task.task_type in ("scan", "test"):
        return workflow_url(address, task)
    path = f"{address}/v1/projects/detail/{task.project_name}/pipelines/custom/"
    path += f"{task.workflow_name}/{task.task_id}"
    query = f"display_name={path_escape(task.display_name)}"
    if len(query) > MAX_DISPLAY_QUERY:
        # display_name only labels the page; a huge one would crowd out the message itself.
        return path
    return f"{path}?{query}"


# --- job blocks (BuildWorkflowJobContents) ---------------------------------------------------

# The pull request of each code host, from the repository's address (scheme and host), its
# owner and name; other hosts get no link, and Zadig then leaves the pull request out.
_PR_PATHS = {"github": "pull", "gitee": "pulls", "gitlab": "merge_requests"}


def _is_template(image: str) -> bool:
    return image.startswith("{{.") or "}}" in image


def _primary(repositories: list[Repository]) -> Repository | None:
    """The first repository, or the last marked is_primary."""
    found = None
    for index, repo in enumerate(repositories):
        if index == 0 or repo.is_primary:
            found = repo
    return found


def _pr_link(repo: Repository, pr: int) -> str:
    base = repo.commit_url.split("/commit/")[0] if "/commit/" in repo.commit_url else ""
    if not base:
        return ""
    if repo.source == "gerrit":
        suffix = f"/{repo.repo_owner}/{repo.repo_name}"
        address = base[: -len(suffix)] if base.endswith(suffix) else base
        return f"{address}/{pr}"
    path = _PR_PATHS.get(repo.source)
    return f"{base}/{path}/{pr}" if path else ""


def _repository_lines(repo: Repository, t: dict[str, str]) -> list[Line]:
    """`main [#12](pr) [622cc1fd](commit)` and the commit message: only when the commit id is
    longer than 8 characters, as Zadig."""
    if len(repo.commit_id) <= 8:
        return []
    commit = repo.commit_id[:8]
    links = [(f"#{pr}", link) for pr in sorted(repo.prs or []) if (link := _pr_link(repo, pr))]
    plain = [repo.tag or repo.branch]
    if repo.commit_url:
        links.append((commit, repo.commit_url))
    else:
        plain.append(commit)
    message = repo.commit_message.strip("\n")
    return [
        Line(t["repository"], " ".join(p for p in plain if p), links=tuple(links)),
        Line(t["commit_message"], message, block=True, kind="message", tail=" "),
    ]


def _test_line(job: Job, t: dict[str, str]) -> Line:
    result = job.spec.test_result if job.spec is not None else None
    value = ""
    if result is not None:
        value = (
            f"{result.success}({t['success']}) {result.failed}({t['failure']}) "
            f"{result.total}({t['total']})"
        )
    return Line(t["test_result"], value, kind="report", sep=": ")


def _scan_line(job: Job, t: dict[str, str], language: str) -> Line | None:
    metrics = job.spec.sonar_metrics if job.spec is not None else None
    if metrics is None:
        return None
    pairs = (
        (texts.sonar_gate_text(metrics.quality_gate_status, language), t["sonar_gate"]),
        (metrics.ncloc, t["sonar_ncloc"]),
        (metrics.bugs, t["sonar_bugs"]),
        (metrics.vulnerabilities, t["sonar_vulnerabilities"]),
        (metrics.code_smells, t["sonar_code_smells"]),
        (f"{metrics.coverage}%", t["sonar_coverage"]),
    )
    value = " ".join(f"{v}({label})" for v, label in pairs)
    return Line(t["scan_result"], value, kind="metrics", sep=": ", pairs=pairs)


def _job_lines(job: Job, language: str) -> list[Line]:
    t = texts.TEXTS[language]
    spec = job.spec
    lines: list[Line] = []
    if job.type in ("zadig-build", "freestyle") and spec is not None:
        primary = _primary(spec.repositories or [])
        if primary is not None:
            lines.extend(_repository_lines(primary, t))
        image = spec.image or ""
        if job.status == "passed" and image and not _is_template(image):
            lines.append(Line(t["image"], image))
    elif job.type in ("zadig-deploy", "zadig-helm-deploy"):
        lines.append(Line(t["env"], (spec.env if spec is not None else None) or ""))
        modules = (spec.service_modules if spec is not None else None) or []
        images = [m.image for m in modules if m.image and not _is_template(m.image)]
        if job.status == "passed" and modules:  # only deployed images, for both types
            lines.append(Line(t["image"], "\n".join(images), block=True, kind="list"))
    elif job.type == "zadig-test":
        lines.append(_test_line(job, t))
    elif job.type == "zadig-scanning":
        scan = _scan_line(job, t, language)
        if scan is not None:
            lines.append(scan)
    if job.error and job.status in ("failed", "timeout", "reject", "cancelled"):
        lines.append(Line(t["error"], job.error, block=True, kind="error"))  # an extension
    return lines


def _approval_jobs(task: Task, language: str) -> tuple[JobBlock, ...]:
    """The approval message's jobs: each deploy job and its environment, no status."""
    t = texts.TEXTS[language]
    return tuple(
        JobBlock(
            type_text=texts.job_type_text(job.type, language),
            name=job.shown_name,
            status_text="",
            lines=(Line(t["env"], (job.spec.env if job.spec is not None else None) or ""),),
        )
        for job in task.jobs()
        if job.type in ("zadig-deploy", "zadig-helm-deploy")
    )


def local_time(timestamp: float, tz: tzinfo | None = None) -> str:
    """`2006-01-02 15:04:05` (Zadig's layout) in the team's zone (system.timezone), else the
    machine's. A time no calendar holds (a snapshot's 10^12-year start) is shown as given."""
    try:
        return datetime.fromtimestamp(timestamp, tz).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return str(timestamp)


def build_message(
    task: Task,
    status: str,
    *,
    language: str = texts.ZH_CN,
    address: str = "",
    now: float | None = None,
    approval: bool = False,
    tz: tzinfo | None = None,
) -> Message:
    """The content of a notification for `task` reaching `status`; `approval`: Zadig's
    message when the workflow waits for an approval (getApproveNotificationContent)."""
    from tidings.model import task_payload  # pydantic models: not needed by ad-hoc notes

    t = texts.TEXTS[language]
    now = time.time() if now is None else now
    info = [
        Line(t["executor"], task.task_creator),
        Line(t["project"], task.project_display_name or task.project_name),
    ]
    if task.start_time:
        start = local_time(task.start_time, tz)
        end = task.end_time if task.end_time >= task.start_time else 0
        info.append(Line(t["start_time"], start))
        info.append(Line(t["duration"], go_duration(int((end or now) - task.start_time))))
    info.append(Line(t["remark"], task.remark, tail="  " if approval else " "))
    if task.error and status in ("failed", "timeout", "reject") and not approval:
        info.append(Line(t["error"], task.error, block=True, kind="error"))  # an extension
    if approval:
        jobs = _approval_jobs(task, language)
        task_type_text, status_text = t["workflow"], t["waiting_for_approval"]
    else:
        jobs = tuple(
            JobBlock(
                type_text=texts.job_type_text(job.type, language),
                name=job.shown_name,
                status_text=texts.status_text(job.status, language),
                lines=tuple(_job_lines(job, language)),
            )
            for job in task.jobs()
        )
        task_type_text = texts.task_type_text(task.task_type, language)
        status_text = texts.status_text(status, language)
    pending = [s.name for s in task.stages if s.status == "pause"]
    return Message(
        status=status,
        language=language,
        icon=texts.icon(status),
        task_type_text=task_type_text,
        display_name=task.display_name,
        task_id=task.task_id,
        status_text=status_text,
        info=tuple(info),
        jobs=jobs,
        url=detail_url(address, task),
        payload=task_payload(task),
        approval=approval,
        workflow_url=workflow_url(address, task) or task.detail_url,
        pending_stage=", ".join(pending),
        task_type=task.task_type or "workflow",
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
