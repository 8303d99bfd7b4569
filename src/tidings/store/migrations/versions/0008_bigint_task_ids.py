"""Task ids as 64-bit integers: other CI systems number their tasks as they please, and an id
past 2^31 must be stored, not answered with "post it again" for ever (issue #20.5).

SQLite's INTEGER is 64-bit already: only PostgreSQL's columns change.

Revision ID: 0008
Revises: 0007 (given as 0006; re-chained after main's 0006 digests and 0007 circuit)
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COLUMNS = (("tasks", False), ("events", True), ("runs", False), ("approvals", False))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, nullable in _COLUMNS:
        op.alter_column(
            table,
            "task_id",
            type_=sa.BigInteger(),
            existing_type=sa.Integer(),
            existing_nullable=nullable,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, nullable in _COLUMNS:
        op.alter_column(
            table,
            "task_id",
            type_=sa.Integer(),
            existing_type=sa.BigInteger(),
            existing_nullable=nullable,
        )
