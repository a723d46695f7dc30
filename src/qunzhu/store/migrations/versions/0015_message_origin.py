"""A message keeps the Telegram channel or user it was forwarded from.

A confirmed ad forwarded from a channel makes the channel a known contact, but only where the
decision kept it: a member's report of a forward is decided on the stored message, and a
replay reads stored messages, and neither knew where one came from.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("origin", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("origin")
