"""A message keeps what came with it that its kind and links do not tell.

A newcomer's forward, an inline bot's buttons, a reply quoting another chat, a mini-program:
the live engine locks them during probation, but a stored message said none of it, so a
replay could not apply those locks.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("carried", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("carried")
