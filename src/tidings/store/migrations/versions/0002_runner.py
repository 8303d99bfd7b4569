"""The runner: runs (pid, heartbeat, cancel requests, run directory, waiting approval) and
approvals.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("workflow", sa.String(255), primary_key=True),
        sa.Column("task_id", sa.Integer, primary_key=True),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("cancel_requested_at", sa.Float, nullable=True),
        sa.Column("cancel_requested_by", sa.String(255), nullable=True),
        sa.Column("run_dir", sa.String(2048), nullable=False),
        sa.Column("waiting", sa.JSON, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workflow", sa.String(255), nullable=False),
        sa.Column("task_id", sa.Integer, nullable=False),
        sa.Column("job", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.UniqueConstraint("workflow", "task_id", "job", "user_id", name="uq_approvals_user"),
    )


def downgrade() -> None:
    op.drop_table("approvals")
    op.drop_table("runs")
