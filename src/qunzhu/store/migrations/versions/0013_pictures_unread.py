"""Each connector's row says how many of its pictures went unread.

The engine reads the text in pictures on one thread, about two a second; beyond 200 waiting,
pictures are let go and only the log said so. The operator now sees the count beside the
connector in the console, since a count that keeps growing means ads in pictures are missed.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connector_status") as table:
        table.add_column(
            sa.Column("pictures_unread", sa.Integer, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("connector_status") as table:
        table.drop_column("pictures_unread")
