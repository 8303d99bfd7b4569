"""Digests (issue #18): a rate-limited robot's backlog merged into few messages.

- deliveries.digest_id: the digest a `coalesced` delivery was merged into (NULL otherwise);
- deliveries.lane: 0 for a digest, 1 for every other delivery. A digest goes out in the place
  of its oldest message, which is the head of its destination's queue when it is made, so a
  destination's pending deliveries are sent by (lane, seq): its digests first, then the rest
  in event order. The index that served (destination, status, seq) now serves that order.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("digest_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("lane", sa.Integer(), nullable=False, server_default="1"))
    op.drop_index("ix_deliveries_destination_status_seq", "deliveries")
    op.create_index(
        "ix_deliveries_destination_status_lane_seq",
        "deliveries",
        ["destination", "status", "lane", "seq"],
    )
    op.create_index("ix_deliveries_digest", "deliveries", ["digest_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_digest", "deliveries")
    op.drop_index("ix_deliveries_destination_status_lane_seq", "deliveries")
    op.create_index(
        "ix_deliveries_destination_status_seq", "deliveries", ["destination", "status", "seq"]
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lane")
        batch.drop_column("digest_id")
