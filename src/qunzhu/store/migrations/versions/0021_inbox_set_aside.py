"""The inbox marks the events the engine set aside (`engine/faults.py`) instead of the engine
leaving them out of its query by id: a list that grows with every event a bug meets made that
query longer each time, and a bug that every event meets made it unbounded. The next start
takes them back.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as table:
        table.add_column(sa.Column("set_aside_at", sa.BigInteger, nullable=True))
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.create_index("ix_inbox_pending", "inbox", ["processed_at", "set_aside_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.create_index("ix_inbox_pending", "inbox", ["processed_at", "id"])
    with op.batch_alter_table("inbox") as table:
        table.drop_column("set_aside_at")
