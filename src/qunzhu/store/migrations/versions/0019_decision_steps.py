"""Each decision keeps the ladder's step in a column of its own, indexed.

What waits for a person (the questions, the messages a language model spared, what members
appealed) was found by reading every decision's JSON (`reasons LIKE '%"step":"ask_admin"%'`):
a third of a second for the console's counts at 300,000 decisions, on every moderation page
and the overview (bench/appeals_bench.py). The step is copied out of the JSON of the
decisions already stored.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("decisions") as table:
        table.add_column(sa.Column("step", sa.String(40), nullable=True))
    conn = op.get_bind()
    decisions = sa.table(
        "decisions", sa.column("id", sa.Integer), sa.column("reasons"), sa.column("step")
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(decisions.c.id, decisions.c.reasons)
            .where(decisions.c.id > last)
            .order_by(decisions.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        steps = [{"row": r.id, "step": _step(r.reasons)} for r in rows]
        found = [s for s in steps if s["step"]]
        if found:
            conn.execute(
                decisions.update()
                .where(decisions.c.id == sa.bindparam("row"))
                .values(step=sa.bindparam("step")),
                found,
            )
    op.create_index("ix_decisions_step", "decisions", ["step", "group_id"])


def downgrade() -> None:
    op.drop_index("ix_decisions_step", table_name="decisions")
    with op.batch_alter_table("decisions") as table:
        table.drop_column("step")


def _step(reasons: str | None) -> str | None:
    try:
        found = json.loads(reasons or "{}")
    except ValueError:
        return None
    step = found.get("step") if isinstance(found, dict) else None
    return step[:40] if isinstance(step, str) else None
