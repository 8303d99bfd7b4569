"""The state of runs that GitHub and GitLab report event by event (tidings.sources): one row
per run, its jobs accumulated across events.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_runs",
        sa.Column("run_key", sa.String(255), primary_key=True),
        sa.Column("state", sa.JSON, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_source_runs_updated_at", "source_runs", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_source_runs_updated_at", table_name="source_runs")
    op.drop_table("source_runs")
