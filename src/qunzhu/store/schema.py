"""The tables: an idempotent event log (messages, membership events) and tables derived from it.

Times are integers, milliseconds since the epoch in UTC: portable across SQLite and PostgreSQL,
cheap to write in bulk, and every group carries its own time zone for display and reports.
Natural keys (group, platform id) make every import idempotent.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

communities = Table(
    "communities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("community_id", Integer, ForeignKey("communities.id"), nullable=True),
    Column("platform", String(20), nullable=False),
    Column("platform_id", String(200), nullable=False),
    Column("name", String(500), nullable=False),
    Column("kind", String(20), nullable=False, default="unknown"),
    Column("created_at", BigInteger, nullable=True),
    Column("tz", String(64), nullable=False, default="Asia/Shanghai"),
    UniqueConstraint("platform", "platform_id"),
)

members = Table(
    "members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(20), nullable=False),
    # The platform's user id; for name-only sources "name:<group id>:<name>" (see `provisional`).
    Column("external_id", String(600), nullable=False),
    Column("display_name", String(500), nullable=True),
    # Known by name only; merged into the member with a real id once one is seen with that name.
    Column("provisional", Boolean, nullable=False, default=False),
    UniqueConstraint("platform", "external_id"),
)

member_names = Table(
    "member_names",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(500), primary_key=True),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
)

member_tags = Table(  # set by operators; admission rules and the console read them
    "member_tags",
    metadata,
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(100), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)
Index("ix_member_tags_tag", member_tags.c.tag)

memberships = Table(
    "memberships",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("joined_at", BigInteger, nullable=True),
    Column("left_at", BigInteger, nullable=True),
    Column("join_method", String(20), nullable=True),
    Column("inviter_id", Integer, ForeignKey("members.id", ondelete="SET NULL"), nullable=True),
    Column("role", String(20), nullable=False, default="member"),
    Column("message_count", Integer, nullable=False, default=0),
    Column("first_message_at", BigInteger, nullable=True),
    Column("last_message_at", BigInteger, nullable=True),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", Text, nullable=False),
    Column("format", String(40), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("messages_added", Integer, nullable=False, default=0),
    Column("messages_skipped", Integer, nullable=False, default=0),
    Column("membership_events_added", Integer, nullable=False, default=0),
)

# The event log (messages, membership_events) carries no foreign keys: on PostgreSQL their
# per-row checks tripled the cost of a bulk insert (measured, bench/RESULTS.md). Ingest, its only
# writer, resolves every id before writing; deleting a member (store/privacy.py) deletes or
# blanks their rows explicitly.
messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("group_id", Integer, nullable=False),
    Column("platform_id", String(200), nullable=False),
    Column("sender_id", Integer, nullable=False),
    Column("sent_at", BigInteger, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("text", Text, nullable=False, default=""),
    Column("reply_to", String(200), nullable=True),
    Column("mentions", Text, nullable=True),  # newline-separated user ids or @names
    Column("urls", Text, nullable=True),  # newline-separated
    Column("import_id", Integer, nullable=True),
    Column("source_row", Integer, nullable=True),
    # the Telegram channel or user a forward came from (Message.origin): what a confirmed
    # report of it teaches, and what a replay judges it by
    Column("origin", String(100), nullable=True),
    # what came with it that its kind and links do not tell (Message.carried), space-separated
    Column("carried", String(100), nullable=True),
    UniqueConstraint("group_id", "platform_id"),
)

# Fingerprints of a message's pictures (moderation/images.py, 16 hex digits), kept with the
# message so that a restart still knows which pictures went round the groups today and a report
# of an older message can still teach its picture. Part of the event log: no foreign key.
message_pictures = Table(
    "message_pictures",
    metadata,
    Column("message_id", Integer, primary_key=True),
    Column("fingerprint", String(16), primary_key=True),
)

membership_events = Table(
    "membership_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("group_id", Integer, nullable=False),
    Column("platform_id", String(200), nullable=False),
    Column("member_id", Integer, nullable=False),
    Column("action", String(20), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("method", String(20), nullable=True),
    Column("actor_id", Integer, nullable=True),
    Column("new_name", String(500), nullable=True),
    Column("import_id", Integer, nullable=True),
    Column("source_row", Integer, nullable=True),
    UniqueConstraint("group_id", "platform_id"),
)

Index("ix_membership_events_member", membership_events.c.member_id)
# Reports walk a group's messages in time order; imports append in about that order, so this
# index is cheap to keep (unlike one on sender_id, below).
Index("ix_messages_group_time", messages.c.group_id, messages.c.sent_at)
# No index on messages.sender_id: it costs a third of every bulk insert (measured), and the
# queries that need it (merging a name-only member, deleting a member) are rare and batch-sized.


# -- the live runtime ----------------------------------------------------------------------
# Every live event is written to the inbox before the connector acknowledges it (Telegram's
# update offset), then processed in one transaction that stores it, records the policies'
# decisions and queues their actions in the outbox. A crash before that commit leaves the event
# unprocessed in the inbox; a crash after it leaves the actions queued. (connector, key) is
# unique, so an update delivered twice is processed once.

inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("connector", String(100), nullable=False),
    Column("key", String(300), nullable=False),  # group id + record kind + platform id
    Column("payload", Text, nullable=False),  # the LiveEvent as JSON (its pictures: below)
    Column("received_at", BigInteger, nullable=False),
    Column("processed_at", BigInteger, nullable=True),
    # when the engine set it aside (a bug met it: `engine/faults.py`); its next start
    # takes it back
    Column("set_aside_at", BigInteger, nullable=True),
    UniqueConstraint("connector", "key"),
)
Index("ix_inbox_pending", inbox.c.processed_at, inbox.c.set_aside_at, inbox.c.id)

# a waiting event's pictures, kept with it until it is processed (a crash between the two
# would otherwise lose them: their QR codes, fingerprints and text), then deleted
inbox_pictures = Table(
    "inbox_pictures",
    metadata,
    Column("inbox_id", Integer, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("inbox_id", Integer, ForeignKey("inbox.id"), nullable=False),
    Column("group_id", Integer, ForeignKey("groups.id"), nullable=False),
    Column("policy", String(40), nullable=False),
    Column("verdict", String(40), nullable=False),
    Column("reasons", Text, nullable=False),  # JSON: the checks, the rule, the ladder's step
    Column("at", BigInteger, nullable=False),
    # the platform's id of the member the event came from (`forget` deletes their decisions)
    Column("member", String(600), nullable=True),
    Column("record_id", String(200), nullable=True),  # the platform's id of the message/event
    # the ladder's step in `reasons` (ask_admin, delete_warn, spared…), kept beside it so that
    # what waits for a person is found through an index, not by reading every decision's JSON
    Column("step", String(40), nullable=True),
)
Index("ix_decisions_step", decisions.c.step, decisions.c.group_id)

# a member's decisions: their appeal finds the newest, `forget` deletes them all
Index("ix_decisions_member", decisions.c.member)
# the decisions an inbox row leads to: the inbox lets go of rows none points to
Index("ix_decisions_inbox_id", decisions.c.inbox_id)

appeals = Table(  # a member's word that a decision about them was wrong (store/appeals.py)
    "appeals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("decision_id", Integer, ForeignKey("decisions.id"), nullable=False, unique=True),
    Column("connector", String(100), nullable=False),  # where they wrote, and are answered
    Column("text", Text, nullable=False),  # what they wrote last (earlier words are replaced)
    Column("at", BigInteger, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("decision_id", Integer, ForeignKey("decisions.id"), nullable=True),
    Column("connector", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("payload", Text, nullable=False),  # the Action's fields as JSON
    # pending → in_flight → done | failed; task: for a human (the platform cannot do it);
    # uncertain: a message send cut by a crash, maybe sent, never sent twice
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", BigInteger, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("done_at", BigInteger, nullable=True),
)
Index("ix_outbox_due", outbox.c.status, outbox.c.due_at)
Index("ix_outbox_decision", outbox.c.decision_id)

policy_marks = Table(  # what a policy must remember across restarts: "reminded once"
    "policy_marks",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id"), primary_key=True),
    Column("policy", String(40), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("at", BigInteger, nullable=False),
)


# -- the console's people ------------------------------------------------------------------
# Operators who log in to the console. A viewer reads and an operator works in the communities
# granted to them; an admin does everything. Changing a password bumps `session_version`, which
# every signed session cookie carries, so older sessions end at once.

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),  # argon2id
    Column("role", String(20), nullable=False),  # admin | operator | viewer
    Column("session_version", Integer, nullable=False, default=1),
    Column("created_at", BigInteger, nullable=False),
)

user_communities = Table(
    "user_communities",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "community_id", Integer, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    ),
)

api_tokens = Table(  # personal tokens for the API; only their SHA-256 is kept
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(100), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
)

audit_log = Table(  # every change made through the console or the API: who, what, when
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("user_name", String(100), nullable=False),  # kept when the user is gone
    Column("at", BigInteger, nullable=False),
    Column("action", String(60), nullable=False),
    Column("target", String(200), nullable=False, default=""),
    Column("details", Text, nullable=False, default="{}"),  # JSON
)
Index("ix_audit_log_at", audit_log.c.at)

group_snapshots = Table(  # the latest full report's verdict per group, for the overview
    "group_snapshots",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("computed_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),  # JSON: kind, stage, health, advice codes
)

moderation_labels = Table(  # a person's word on a decision: training data and the audit trail
    "moderation_labels",
    metadata,
    Column(
        "decision_id", Integer, ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("label", String(20), nullable=False),  # spam | ham | ban_only | appeal_upheld ...
    Column("text", Text, nullable=False, default=""),  # the message as judged, for training
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("user_name", String(100), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("note", Text, nullable=False, default=""),
)

group_settings = Table(  # policies changed in the console, over those of qunzhu.toml
    "group_settings",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("policies", Text, nullable=False),  # JSON, the shape of [groups.policies]
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(100), nullable=False),
)

learnt_models = Table(  # what each community's model last learnt from (shown in the console)
    "learnt_models",
    metadata,
    Column("community", String(200), primary_key=True),  # "" for the groups in none
    Column("trained_at", BigInteger, nullable=False),
    Column("spam", Integer, nullable=False),  # answers that said spam
    Column("normal", Integer, nullable=False),  # answers that said not spam
    Column("ordinary", Integer, nullable=False),  # undisputed messages taken as normal
    Column("spam_from", Float, nullable=True),  # the line the training chose
    Column("seconds", Float, nullable=False),
)

blocklist = Table(  # members kept out of every group of a community (WeCom's 群黑名单)
    "blocklist",
    metadata,
    Column(
        "community_id",
        Integer,
        ForeignKey("communities.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("member_id", Integer, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("reason", String(1000), nullable=False),
    # where and why it began: the group, the decision that banned them (none: a person's own)
    Column("group_id", Integer, ForeignKey("groups.id", ondelete="SET NULL"), nullable=True),
    Column("decision_id", Integer, ForeignKey("decisions.id", ondelete="SET NULL"), nullable=True),
    Column("added_by", String(100), nullable=True),  # a console user's name; null: the engine
    Column("at", BigInteger, nullable=False),
)
Index("ix_blocklist_member", blocklist.c.member_id)

# A blocked member whose data was deleted stays kept out: only a keyed digest of their platform
# id is kept (store/blocklist.py), with when the block began; no name, reason or group.
forgotten_blocks = Table(
    "forgotten_blocks",
    metadata,
    # HMAC-SHA256 of "platform:id", hex; first in the key, as every look-up is by it
    Column("digest", String(64), primary_key=True),
    Column(
        "community_id",
        Integer,
        ForeignKey("communities.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("platform", String(20), primary_key=True),
    Column("at", BigInteger, nullable=False),  # blocked since
    Column("forgotten_at", BigInteger, nullable=False),
)

# Members forgotten lately, for a running engine to drop what it keeps of them in memory (a
# bio read an hour ago, a day of who posted what): a keyed digest of "platform:id"
# (store/blocklist.py), kept two days (store/privacy.py), no name.
forgotten_lately = Table(
    "forgotten_lately",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("at", BigInteger, nullable=False, index=True),
)

store_keys = Table(  # secrets the store makes for itself, once (the forgotten blocks' key)
    "store_keys",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
)

connector_status = Table(  # what the running engine last saw of each connector
    "connector_status",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("state", String(20), nullable=False),  # running | stopped | failing
    Column("last_event_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
    # pictures of this connector's messages let go unread since the engine started
    Column("pictures_unread", Integer, nullable=False, server_default="0"),
    # the language model's row: the calls the engine made today (UTC), against its `daily` cap
    Column("calls_today", Integer, nullable=True),
)
