"""The schema. Changed only through a new Alembic migration in store/migrations/versions."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Task ids come from other CI systems too: 64-bit (SQLite's INTEGER is 64-bit already, and
# stays INTEGER so that a single-column key keeps its meaning there).
TaskId = BigInteger().with_variant(Integer(), "sqlite")

# The latest snapshot of each task we have heard of, by (workflow, task_id).
tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow", String(255), nullable=False),
    Column("task_id", TaskId, nullable=False),
    Column("status", String(64), nullable=False),
    Column("snapshot", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("workflow", "task_id", name="uq_tasks_workflow_task"),
)

# Something that happened and was notified: a task status, or an ad-hoc notification.
events = Table(
    "events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),  # "task" | "notification"
    Column("workflow", String(255), nullable=True),
    Column("task_id", TaskId, nullable=True),
    Column("status", String(64), nullable=True),
    Column("idempotency_key", String(255), nullable=True, unique=True),
    Column("created_at", Float, nullable=False),
    # The configuration that recorded it (Config.name; NULL: an ad-hoc notify without one).
    Column("config", String(1024), nullable=True),
    # What `retry --replan` plans again: the task as notified, and the job of a job's ctl
    # (with the note of a notification job).
    Column("snapshot", JSON, nullable=True),
    Column("scope", JSON, nullable=True),
    Index("ix_events_workflow_task", "workflow", "task_id"),
)

# One request to one destination. `seq` orders deliveries of a destination (event order).
deliveries = Table(
    "deliveries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("event_id", String(36), ForeignKey("events.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("destination", String(512), nullable=False),  # its key (channels.identity)
    Column("source", String(512), nullable=False, default=""),  # the ctl, e.g. wf/notify_ctls[0]
    Column("address", String(2048), nullable=False, default=""),  # redacted, for people
    Column("label", String(64), nullable=False, default=""),
    Column("request", JSON, nullable=False),  # no secrets: signed and completed at send time
    Column("status", String(16), nullable=False),  # pending | sent | failed | dead | coalesced
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("last_code", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    # Digests (0006): the digest a `coalesced` delivery was merged into; lane 0 for a digest
    # (sent before its destination's other pending deliveries: it stands in the place of its
    # oldest message), 1 for every other delivery.
    Column("digest_id", String(36), nullable=True),
    Column("lane", Integer, nullable=False, server_default="1"),
    Index("ix_deliveries_destination_status_lane_seq", "destination", "status", "lane", "seq"),
    Index("ix_deliveries_digest", "digest_id"),
    Index("ix_deliveries_event", "event_id"),
    Index("ix_deliveries_status", "status"),
    # Browsing (0005): one channel by keyset; the last 24 hours from the index alone.
    Index("ix_deliveries_channel_seq", "channel", "seq"),
    Index("ix_deliveries_channel_status_created", "channel", "status", "created_at"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("outcome", String(8), nullable=False),  # ok | retry | fail
    Column("http_status", Integer, nullable=True),
    Column("code", String(64), nullable=True),
    Column("detail", Text, nullable=False, default=""),
    Column("worker", String(128), nullable=False, default=""),
    Index("ix_attempts_at", "at"),
)

# Per destination: who holds it (one sender at a time keeps event order), when it next has
# work, and the recent send times its platform's rate limit is paced against. A process
# claims only destinations whose address key its configuration holds.
destinations = Table(
    "destinations",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("address_key", String(512), nullable=False, index=True),
    Column("next_due_at", Float, nullable=True, index=True),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("recent", JSON, nullable=True),
    # Its circuit breaker (0007): failures in a row, pauses in a row, paused until when, why.
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("pauses", Integer, nullable=False, server_default="0"),
    Column("paused_until", Float, nullable=True),
    Column("paused_reason", Text, nullable=True),
)

# The runner's own state of a task it runs (tidings run): who runs it (pid, host, heartbeat:
# a run whose process died is marked failed), a cancel request from another shell, where its
# logs are, and the approval it waits for.
runs = Table(
    "runs",
    metadata,
    Column("workflow", String(255), primary_key=True),
    Column("task_id", TaskId, primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("cancel_requested_at", Float, nullable=True),
    Column("cancel_requested_by", String(255), nullable=True),
    Column("run_dir", String(2048), nullable=False),  # workspace, logs/<job>.log, outputs
    Column("waiting", JSON, nullable=True),  # {job, approvers, needed} while an approval waits
    Column("created_at", Float, nullable=False),
)

# Decisions on approval jobs, one per user per job; and who ran a manual stage (job
# `stage/<name>`, decision `run`).
approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow", String(255), nullable=False),
    Column("task_id", TaskId, nullable=False),
    Column("job", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("decision", String(16), nullable=False),  # approve | reject | run
    Column("comment", Text, nullable=False, default=""),
    Column("at", Float, nullable=False),
    UniqueConstraint("workflow", "task_id", "job", "user_id", name="uq_approvals_user"),
)

# Runs that GitHub and GitLab report event by event (tidings.sources): the run's state (its
# status and jobs so far, as JSON), updated under a lock by each of its events; kept a week.
source_runs = Table(
    "source_runs",
    metadata,
    Column("run_key", String(255), primary_key=True),  # e.g. github:<repository id>:<run id>
    Column("state", JSON, nullable=True),
    Column("updated_at", Float, nullable=False, index=True),
)

# The workers working the outbox (0009): each one's heartbeat, so that a claim takes its fair
# share of what is due while others are alive. A worker that stops deletes its row; one that
# died is no longer counted once its heartbeat is a lease old.
workers = Table(
    "workers",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
)
