"""The community blocklist: members banned in one group are kept out of the others.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocklist",
        sa.Column(
            "community_id",
            sa.Integer,
            sa.ForeignKey("communities.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "member_id",
            sa.Integer,
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id", ondelete="SET NULL")),
        sa.Column("decision_id", sa.Integer, sa.ForeignKey("decisions.id", ondelete="SET NULL")),
        sa.Column("added_by", sa.String(100)),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_blocklist_member", "blocklist", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_blocklist_member", "blocklist")
    op.drop_table("blocklist")
