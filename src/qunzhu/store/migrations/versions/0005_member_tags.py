"""Tags operators give members (VIP, 讲师, 广告): admission rules and the console read them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_tags",
        sa.Column(
            "member_id",
            sa.Integer,
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(100), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_member_tags_tag", "member_tags", ["tag"])


def downgrade() -> None:
    op.drop_index("ix_member_tags_tag", "member_tags")
    op.drop_table("member_tags")
