"""Indexes for browsing history a page at a time (the console, `tidings serve`'s pages).

- deliveries (channel, seq): the newest deliveries of one channel, by keyset, without a sort;
- deliveries (channel, status, created_at): the last 24 hours per channel and status, read
  from the index alone and in its order (no sort);
- events (workflow, task_id): a task's notifications, and the deliveries of one workflow;
- attempts (at): which workers made attempts lately.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_channel_seq", "deliveries", ["channel", "seq"])
    op.create_index(
        "ix_deliveries_channel_status_created", "deliveries", ["channel", "status", "created_at"]
    )
    op.create_index("ix_events_workflow_task", "events", ["workflow", "task_id"])
    op.create_index("ix_attempts_at", "attempts", ["at"])


def downgrade() -> None:
    op.drop_index("ix_attempts_at", "attempts")
    op.drop_index("ix_events_workflow_task", "events")
    op.drop_index("ix_deliveries_channel_status_created", "deliveries")
    op.drop_index("ix_deliveries_channel_seq", "deliveries")
