"""Members forgotten lately, by a keyed digest of their id: `qunzhu forget` (or the console)
deletes a member's data from the store, and a running engine reads this to drop what it keeps
of them in memory (a bio, a CAS listing, who posted what today). And the decisions indexed by
their inbox row: the engine lets go of inbox rows a week old that no decision points to.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forgotten_lately",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_forgotten_lately_at", "forgotten_lately", ["at"])
    op.create_index("ix_decisions_inbox_id", "decisions", ["inbox_id"])


def downgrade() -> None:
    op.drop_index("ix_decisions_inbox_id", table_name="decisions")
    op.drop_index("ix_forgotten_lately_at", table_name="forgotten_lately")
    op.drop_table("forgotten_lately")
