"""Messages of a group in time order: an index on (group_id, sent_at).

Reports read a group's messages in time order (conversations, answers, who spoke after whom);
with this index the database walks them in order instead of sorting the whole history for each
report. Imports append mostly in time order, so the index costs them little (bench/RESULTS.md).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_group_time", "messages", ["group_id", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_group_time", table_name="messages")
