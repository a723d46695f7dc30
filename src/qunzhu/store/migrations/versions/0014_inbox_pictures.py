"""A waiting event's pictures are kept with it until it is processed.

The engine held the pictures of events waiting in the inbox in memory only: after a crash the
events were processed again without them, so their QR codes, fingerprints and text went
unchecked (Telegram does not send an update twice once its offset is confirmed). They are
now written with the event and deleted when it is processed, a moment later.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_pictures",
        sa.Column("inbox_id", sa.Integer, primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbox_pictures")
