"""Forgetting a blocked member no longer lets them back: a keyed digest of their id stays.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forgotten_blocks",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column(
            "community_id",
            sa.Integer,
            sa.ForeignKey("communities.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("platform", sa.String(20), primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("forgotten_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "store_keys",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_keys")
    op.drop_table("forgotten_blocks")
