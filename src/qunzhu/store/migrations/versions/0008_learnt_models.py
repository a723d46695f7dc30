"""What each community's model last learnt from, for the console.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learnt_models",
        sa.Column("community", sa.String(200), primary_key=True),
        sa.Column("trained_at", sa.BigInteger, nullable=False),
        sa.Column("spam", sa.Integer, nullable=False),
        sa.Column("normal", sa.Integer, nullable=False),
        sa.Column("ordinary", sa.Integer, nullable=False),
        sa.Column("spam_from", sa.Float, nullable=True),
        sa.Column("seconds", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("learnt_models")
