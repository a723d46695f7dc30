"""Members' appeals: what a member wrote to the bot in private about a decision on them.

The warning told them to tell an admin if moderation got it wrong, and the console's appeals
listed what moderation did, but what the member said reached nobody unless they knew whom to
write to. One row per decision: a second message replaces the first's words. Decisions get
an index on the member they are about: an appeal looks up one member's newest (32 ms at
300,000 decisions without it on SQLite, bench/appeals_bench.py), and `forget` deletes them all.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "decision_id", sa.Integer, sa.ForeignKey("decisions.id"), nullable=False, unique=True
        ),
        sa.Column("connector", sa.String(100), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_decisions_member", "decisions", ["member"])


def downgrade() -> None:
    op.drop_index("ix_decisions_member", table_name="decisions")
    op.drop_table("appeals")
