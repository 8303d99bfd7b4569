"""Destinations named by what they address, not by where a ctl stands.

Before this revision a delivery named its destination by position (`<workflow>/notify_ctls[i]`,
`.../jobs/<job>/notify_ctls[i]`, `.../jobs/<job>/spec`, `.../to/<person>`), so a reordered or
edited configuration sent it to another robot. Now a key is a hash of what is addressed
(tidings.channels.identity), which a configuration must be read to compute; this migration
cannot read one. So:

- every delivery keeps its old key as `source` (where it came from; history shows it);
- a delivery still pending ends `dead` with the reason and the command that sends its event
  to today's configuration (`tidings retry --dead --replan`): which robot a position meant
  when it was queued can no longer be proven, and it is never guessed;
- each event gets the scope it was planned in (the job of a job-level ctl), read from those
  keys here, the only place that still knows their format;
- the per-destination state starts anew (it was keyed by position).

Revision ID: 0003
Revises: 0002
"""

import time
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

REASON = (
    "queued before tidings named destinations by what they address: the robot its position "
    "({source}) meant then cannot be proven, so it was not sent; `tidings retry {id} --replan` "
    "sends its event to today's configuration"
)


def _source(old_key: str) -> str:
    """The ctl an old key named, without the person (`.../to/<person>`)."""
    return old_key.split("/to/", 1)[0]


def _scope(source: str) -> dict[str, str] | None:
    """{"job": name} for a job's ctls and for a notification job's spec."""
    _, jobs, rest = source.partition("/jobs/")
    if not jobs:
        return None
    return {"job": rest.rsplit("/", 1)[0]}


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("config", sa.String(1024), nullable=True))
        batch.add_column(sa.Column("snapshot", sa.JSON, nullable=True))
        batch.add_column(sa.Column("scope", sa.JSON, nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("source", sa.String(512), nullable=False, server_default=""))

    connection = op.get_bind()
    deliveries = sa.table(
        "deliveries",
        sa.column("id", sa.String),
        sa.column("event_id", sa.String),
        sa.column("destination", sa.String),
        sa.column("source", sa.String),
        sa.column("status", sa.String),
        sa.column("updated_at", sa.Float),
        sa.column("finished_at", sa.Float),
        sa.column("last_error", sa.Text),
    )
    events = sa.table("events", sa.column("id", sa.String), sa.column("scope", sa.JSON))
    now = time.time()
    rows = connection.execute(
        sa.select(
            deliveries.c.id, deliveries.c.event_id, deliveries.c.destination, deliveries.c.status
        )
    ).all()
    scopes: dict[str, dict[str, str]] = {}
    for row in rows:
        source = _source(row.destination)
        values: dict[str, Any] = {"source": source}
        if row.status == "pending":
            values.update(
                status="dead",
                updated_at=now,
                finished_at=now,
                last_error=REASON.format(source=source, id=row.id[-8:]),
            )
        connection.execute(deliveries.update().where(deliveries.c.id == row.id).values(**values))
        scope = _scope(source)
        if scope is not None:
            scopes[row.event_id] = scope
    for event_id, scope in scopes.items():
        connection.execute(events.update().where(events.c.id == event_id).values(scope=scope))

    # The old per-destination rows were keyed by position; nothing is pending any more.
    op.drop_table("destinations")
    op.create_table(
        "destinations",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("address_key", sa.String(512), nullable=False),
        sa.Column("next_due_at", sa.Float, nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("recent", sa.JSON, nullable=True),
    )
    op.create_index("ix_destinations_next_due_at", "destinations", ["next_due_at"])
    op.create_index("ix_destinations_address_key", "destinations", ["address_key"])


def downgrade() -> None:
    op.drop_index("ix_destinations_address_key", "destinations")
    with op.batch_alter_table("destinations") as batch:
        batch.drop_column("address_key")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("source")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("scope")
        batch.drop_column("snapshot")
        batch.drop_column("config")
