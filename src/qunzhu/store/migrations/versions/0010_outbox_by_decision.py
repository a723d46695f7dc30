"""A decision's actions: an index on outbox (decision_id).

The console asks what became of a decision's actions (the group page's removals at the door,
the scorecard's time to removal, forgetting a member) by decision; without the index each such
question reads the whole outbox, which grows with every action the engine ever queued.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_decision", "outbox", ["decision_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_decision", table_name="outbox")
