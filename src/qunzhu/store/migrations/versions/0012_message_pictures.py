"""Pictures' fingerprints are kept with their messages.

The behaviour layer counted a picture's groups in memory only, so a restart forgot which
pictures had gone round today, and a report of a message older than the day could not teach
its picture. The store now keeps each message's fingerprints (no picture is kept).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_pictures",
        sa.Column("message_id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.String(16), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("message_pictures")
