"""What one GitHub or GitLab event says, in the platform's neutral terms: a run's new status
(with what the task snapshot shows of it), or one job's. `github` and `gitlab` read payloads
into these; `runs` merges them into a run's state.

Order: events may come late or twice. Each status has a `rank` (queued 0, running 1, ended
2) and each run a `generation` that grows when it runs again (GitHub's run_attempt; for GitLab
the newest job id in the pipeline, since a retried job gets a new, larger id). An event whose
(generation, rank) is below the run's is stale: it changes no status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

QUEUED, RUNNING, ENDED = 0, 1, 2


@dataclass(frozen=True)
class JobUpdate:
    """One job's state as an event reports it."""

    slot: str  # which job this is across attempts: GitHub its name, GitLab stage/name
    id: int  # the platform's job id (a retried job has a new, larger one)
    generation: int  # GitHub's run_attempt; 0 for GitLab (its ids order retries)
    rank: int
    name: str
    stage: str
    status: str  # the snapshot's job status (Zadig's words)
    raw: str  # the platform's own status, e.g. "manual"
    start_time: int = 0
    end_time: int = 0
    error: str = ""

    def order(self) -> tuple[int, int, int]:
        return (self.generation, self.id, self.rank)

    def to_state(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "generation": self.generation,
            "rank": self.rank,
            "name": self.name,
            "stage": self.stage,
            "status": self.status,
            "raw": self.raw,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "error": self.error,
        }


@dataclass(frozen=True)
class Origin:
    """Where an event comes from, for routing: the repository (GitHub owner/name, GitLab
    path_with_namespace), the GitHub Actions workflow's name and the branch, when it says."""

    repository: str
    ci_workflow: str | None = None
    branch: str | None = None

    def describe(self, source: str) -> str:
        what = f"{'GitHub repository' if source == 'github' else 'GitLab project'} "
        what += self.repository
        if self.ci_workflow is not None:
            what += f", Actions workflow {self.ci_workflow!r}"
        if self.branch is not None:
            what += f", branch {self.branch!r}"
        return what


@dataclass(frozen=True)
class RunUpdate:
    """A run's status as an event reports it, and what the task snapshot shows of the run."""

    source: str  # "github" | "gitlab"
    key: str  # the run's identity: one state per key
    origin: Origin
    generation: int
    rank: int
    status: str  # the task's status (Zadig's words)
    raw: str  # the platform's own, e.g. "completed/timed_out"
    task_id: int  # GitHub's run_number, GitLab's pipeline iid
    # Fields of the snapshot: names, times, links, the commit, the creator, the payload.
    info: dict[str, Any] = field(default_factory=dict)
    stages: tuple[str, ...] = ()  # GitLab's stage order
    jobs: tuple[JobUpdate, ...] = ()  # GitLab's builds, as the pipeline event lists them

    def order(self) -> tuple[int, int]:
        return (self.generation, self.rank)


@dataclass(frozen=True)
class JobEvent:
    """One job changed (GitHub workflow_job, GitLab Job Hook): it goes into its run's state."""

    source: str
    key: str  # the run's key
    origin: Origin
    job: JobUpdate


@dataclass(frozen=True)
class Ignored:
    """An event tidings does not act on (another event type, an unknown status): 202."""

    reason: str


@dataclass(frozen=True)
class Ping:
    """GitHub's ping when a webhook is created: answered, nothing recorded."""

    zen: str = ""


Event = RunUpdate | JobEvent | Ignored | Ping
