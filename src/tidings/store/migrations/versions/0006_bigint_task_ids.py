"""Task ids as 64-bit integers: other CI systems number their tasks as they please, and an id
past 2^31 must be stored, not answered with "post it again" for ever (issue #20.5).

SQLite's INTEGER is 64-bit already: only PostgreSQL's columns change.

Revision ID: 0006
Revises: 0008 (merged after main's 0008_digests; its id was given before)
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0008"
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
