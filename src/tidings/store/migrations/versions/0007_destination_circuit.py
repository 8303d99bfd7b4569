"""A circuit breaker per destination (#20.7): a destination that keeps failing is paused as a
whole, with a growing pause, instead of each queued delivery spending its retries in turn.

- failures: retryable failures in a row (network errors, timeouts, 5xx), reset by a success;
- pauses: pauses in a row (each one longer), reset by a success;
- paused_until: nothing is sent to it before then (NULL: not paused);
- paused_reason: the failure that paused it, for `tidings deliveries` and the console.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("destinations") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("pauses", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("paused_until", sa.Float(), nullable=True))
        batch.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("destinations") as batch:
        batch.drop_column("paused_reason")
        batch.drop_column("paused_until")
        batch.drop_column("pauses")
        batch.drop_column("failures")
