"""Forgetting a member also takes them out of the audit log, which keeps only who acted."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, insert, select

from qunzhu.store import accounts
from qunzhu.store import schema as t
from qunzhu.store.privacy import forget_member


def test_the_audit_log_forgets_whom_it_was_about(engine: Engine) -> None:
    with engine.begin() as conn:
        group = conn.execute(
            insert(t.groups).values(platform="qq", platform_id="g1", name="跑团一群")
        ).inserted_primary_key[0]
        member, other = (
            conn.execute(
                insert(t.members).values(platform="qq", external_id=ext, display_name=name)
            ).inserted_primary_key[0]
            for ext, name in (("10001", "小美"), ("10002", "Bo"))
        )
        accounts.add_user(conn, "ops", "correct horse 1", "operator")
        ops = accounts.authenticate(conn, "ops", "correct horse 1")
        assert ops is not None
        for who in (member, other):
            accounts.audit(conn, ops, "member.tags", f"member:{who}", added=["王姐的VIP"])
        for ext in ("10001", "10002"):
            accounts.audit(
                conn, ops, "moderation_label", "decision 1",
                label="spam", group=group, member=ext, note=f"{ext} 发广告",
            )  # fmt: skip
        forget_member(conn, member)
    with engine.connect() as conn:
        log = conn.execute(select(t.audit_log).order_by(t.audit_log.c.id)).all()
    text = " ".join(row.details for row in log)
    assert "10001" not in text and text.count("王姐的VIP") == 1  # the other member's stays
    assert [row.user_name for row in log] == ["ops"] * 4  # who acted stays
    kept = orjson.loads(log[-1].details)
    assert kept["member"] == "10002" and kept["note"] == "10002 发广告"
    assert orjson.loads(log[-2].details)["label"] == "spam"  # what was decided stays
