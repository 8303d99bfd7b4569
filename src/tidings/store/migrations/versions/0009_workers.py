"""Workers and their heartbeats: a claim takes a fair share of the destinations that are due
when other workers are alive, and all of them when it is the only one (quick and fair claims,
after #20.9's fixed claim_batch made a lone worker wait between claims).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workers")
