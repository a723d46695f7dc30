"""The language model's row says how many calls the engine made today.

Hosted models are paid by the call and a group's second opinion is capped at `daily` calls; the
operator saw when the model last answered and why it failed, not what it had cost. The count
is the running engine's, written beside the rest of its row (null for the connectors).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connector_status") as table:
        table.add_column(sa.Column("calls_today", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connector_status") as table:
        table.drop_column("calls_today")
