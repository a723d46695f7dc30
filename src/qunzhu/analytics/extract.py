"""What a group report needs from the store, aggregated by the database.

The database filters, flags, orders and groups; what leaves here is per (member, day) or per
(member pair, day), so the Python after it works on thousands of rows whatever the number of
messages. One streamed walk in time order (`_activity`) yields the per-member-day counts,
conversations, time adjacency, ads, hours and question response times together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from sqlalchemy import Connection, text

from qunzhu.analytics.window import Window

CONVERSATION_GAP_MS = 30 * 60_000  # a silence this long starts a new conversation
ADJACENT_MS = 5 * 60_000  # answering the previous speaker, where a platform has no replies
# Words that mark an ad in a Chinese group (PLAYBOOK §3: 代购, 微商); a first signal until the
# moderation engine judges messages one by one.
AD_WORDS = ("代购", "微商", "加微信", "加V", "加v", "兼职", "刷单", "日赚", "招代理", "私信领取")
WELCOME_WORDS = ("欢迎", "welcome", "Welcome")
QUESTION_LIKE = ("?", "？", "请问", "求助", "有没有人", "怎么")
NOT_TALK = ("system", "recall")  # kinds that are not a member speaking
ASKED, AD, REPLIED, LINKED, GREETS = 1, 2, 4, 8, 16  # a message's flags ...
FLAG_SPAN = 32  # ... packed below its local hour: hour * FLAG_SPAN + flags


SAME_EVENT_MS = 60_000  # one member's same change again this soon: the same change, told twice


@dataclass
class MemberInfo:
    external_id: str
    name: str
    role: str
    joined_at: int | None
    left_at: int | None
    join_method: str | None
    first_message_at: int | None
    last_message_at: int | None


@dataclass
class Activity:
    """Messages of one member on one local day, split by who spoke just before (within
    ADJACENT_MS, someone else) so that the same rows give the adjacency graph."""

    day: int
    sender: int
    previous: int | None
    messages: int
    conversations_started: int
    replies: int
    links: int
    questions: int


@dataclass
class GroupData:
    id: int
    name: str
    platform: str
    kind: str
    created_at: int | None
    window: Window
    members: dict[int, MemberInfo] = field(default_factory=dict)
    activity: list[Activity] = field(default_factory=list)
    hours: list[tuple[int, int]] = field(default_factory=list)  # (local hour number, messages)
    events: list[tuple[int, str, int, str | None, int | None]] = field(default_factory=list)
    replies: list[tuple[int, int, int, int]] = field(default_factory=list)  # day, src, dst, n
    mentions: list[tuple[int, int, str, int]] = field(default_factory=list)  # day, src, text, n
    # (seconds to the first answer, questions); None: never answered
    responses: list[tuple[int | None, int]] = field(default_factory=list)
    welcomes: list[tuple[int, int, str | None, bool]] = field(default_factory=list)
    ads: int = 0  # messages with ad words
    ad_senders: int = 0


def _talk(alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    kinds = ", ".join(f"'{k}'" for k in NOT_TALK)
    return (
        f"{prefix}group_id = :g AND {prefix}sent_at >= :start AND {prefix}sent_at < :end "
        f"AND {prefix}kind NOT IN ({kinds})"
    )


def _contains_any(
    conn: Connection, column: str, words: tuple[str, ...], name: str
) -> tuple[str, dict[str, str]]:
    """SQL true when `column` contains one of `words` (case-sensitive). On SQLite, GLOB: five
    times faster than LIKE, which folds case, over 200,000 messages (16 words: 0.04 s / 0.21 s)."""
    if conn.dialect.name == "sqlite":
        params = {f"{name}{i}": f"*{_glob_literal(w)}*" for i, w in enumerate(words)}
        return " OR ".join(f"{column} GLOB :{key}" for key in params), params
    params = {f"{name}{i}": f"%{_like_literal(w)}%" for i, w in enumerate(words)}
    return " OR ".join(f"{column} LIKE :{key}" for key in params), params


def _glob_literal(word: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in word)


def _like_literal(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def load(conn: Connection, group_id: int, window: Window) -> GroupData:
    g = conn.execute(
        text("SELECT id, name, platform, kind, created_at FROM groups WHERE id = :g"),
        {"g": group_id},
    ).one()
    data = GroupData(g.id, g.name, g.platform, g.kind, g.created_at, window)
    bounds = {"g": group_id, "start": window.start, "end": window.end}
    _members(conn, data, bounds)
    _events(conn, data, bounds)  # first: the walk keeps greetings only if someone joined
    _activity(conn, data, bounds)
    return data


def _members(conn: Connection, data: GroupData, bounds: dict[str, int]) -> None:
    rows = conn.execute(
        text(
            "SELECT ms.member_id, m.external_id, COALESCE(m.display_name, m.external_id), "
            "ms.role, ms.joined_at, ms.left_at, ms.join_method, ms.first_message_at, "
            "ms.last_message_at "
            "FROM memberships ms JOIN members m ON m.id = ms.member_id WHERE ms.group_id = :g"
        ),
        {"g": bounds["g"]},
    )
    for mid, *info in rows.all():
        data.members[mid] = MemberInfo(*info)


def _activity(conn: Connection, data: GroupData, bounds: dict[str, int]) -> None:
    """One walk through the group's messages in time order.

    The database filters, flags (question, ad, reply, link, greeting), finds whom each reply
    answers, orders the rows (the (group_id, sent_at) index gives the order without a sort)
    and computes each row's local hour; this loop carries what only order knows: who spoke
    just before, where a conversation starts, and when someone else first speaks after a
    question. SQL window functions did that in 1.1 s for 200,000 messages against 0.3 s here
    (SQLite, bench/RESULTS.md), so the sequence is walked here, streamed, keeping only sums.
    """
    hour = f"({data.window.local_ms('m.sent_at')} / 3600000)"
    question, q_params = _contains_any(conn, "m.text", QUESTION_LIKE, "q")
    ad, ad_params = _contains_any(conn, "m.text", AD_WORDS, "a")
    greeting, w_params = _contains_any(conn, "m.text", WELCOME_WORDS, "w")
    sql = f"""
        SELECT m.sent_at, m.sender_id,
               {hour} * {FLAG_SPAN}
               + CASE WHEN {question} THEN {ASKED} ELSE 0 END
               + CASE WHEN {ad} THEN {AD} ELSE 0 END
               + CASE WHEN m.reply_to IS NULL THEN 0 ELSE {REPLIED} END
               + CASE WHEN m.kind IN ('link', 'file') THEN {LINKED} ELSE 0 END
               + CASE WHEN {greeting} THEN {GREETS} ELSE 0 END,
               NULLIF(m.mentions, ''), r.sender_id
        FROM messages m
        LEFT JOIN messages r ON r.group_id = m.group_id AND r.platform_id = m.reply_to
        WHERE {_talk("m")} ORDER BY m.sent_at, m.id
    """
    rows = _stream(conn, sql, {**bounds, **q_params, **ad_params, **w_params})
    # One counter update a message; everything else is read off the (far fewer) keys after.
    seen: Counter[tuple[int, int, int | None, bool]] = Counter()
    waits: Counter[int | None] = Counter()
    replies: Counter[tuple[int, int, int]] = Counter()
    mentions: Counter[tuple[int, int, str]] = Counter()
    pending: list[int] = []  # times of the current speaker's unanswered questions
    newcomers = any(action == "join" for _m, action, *_rest in data.events)
    prev_sender: int | None = None
    prev_at = -CONVERSATION_GAP_MS - 1
    for sent_at, sender, packed, mentioned, answered in rows:
        if sender != prev_sender:
            for asked_at in pending:
                waits[(sent_at - asked_at) // 1000] += 1
            pending.clear()
            adjacent = prev_sender if sent_at - prev_at <= ADJACENT_MS else None
        else:
            adjacent = None
        seen[packed, sender, adjacent, sent_at - prev_at > CONVERSATION_GAP_MS] += 1
        if packed & ASKED:
            pending.append(sent_at)
        if mentioned:
            mentions[packed // FLAG_SPAN // 24, sender, mentioned] += 1
        if newcomers and (mentioned or packed & GREETS):
            data.welcomes.append((sender, sent_at, mentioned, bool(packed & GREETS)))
        if answered is not None and answered != sender:
            replies[packed // FLAG_SPAN // 24, sender, answered] += 1
        prev_sender, prev_at = sender, sent_at
    waits[None] += len(pending)  # never answered
    merged: dict[tuple[int, int, int | None], Activity] = {}
    hours: Counter[int] = Counter()
    ad_senders: set[int] = set()
    for (packed, sender, adjacent, starts), n in seen.items():
        local_hour, flags = divmod(packed, FLAG_SPAN)
        hours[local_hour] += n
        key = (local_hour // 24, sender, adjacent)
        row = merged.get(key)
        if row is None:
            row = merged[key] = Activity(*key, 0, 0, 0, 0, 0)
        row.messages += n
        row.conversations_started += n if starts else 0
        row.replies += n if flags & REPLIED else 0
        row.links += n if flags & LINKED else 0
        row.questions += n if flags & ASKED else 0
        if flags & AD:
            data.ads += n
            ad_senders.add(sender)
    data.activity = list(merged.values())
    data.hours = sorted(hours.items())
    data.responses = [(wait, n) for wait, n in waits.items() if n]
    data.ad_senders = len(ad_senders)
    data.replies = [(day, src, dst, n) for (day, src, dst), n in replies.items()]
    data.mentions = [(day, src, text_, n) for (day, src, text_), n in mentions.items()]


def _stream(conn: Connection, sql: str, params: dict[str, Any]) -> Iterator[Any]:
    """Rows in blocks, without holding them all. On SQLite the driver's own cursor: its rows
    are plain tuples, a sixth of the walk's time cheaper than result rows (0.43 s / 0.58 s for
    200,000); elsewhere a server-side cursor through SQLAlchemy."""
    if conn.dialect.name == "sqlite":
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, params)  # sqlite3 takes :name parameters as they are
            while block := cursor.fetchmany(20_000):
                yield from block
        finally:
            cursor.close()
        return
    result = conn.execution_options(stream_results=True).execute(text(sql), params)
    yield from chain.from_iterable(result.partitions(20_000))


def _events(conn: Connection, data: GroupData, bounds: dict[str, int]) -> None:
    rows = conn.execute(
        text(
            "SELECT member_id, action, at, method, actor_id FROM membership_events "
            "WHERE group_id = :g AND at >= :start AND at < :end ORDER BY at, id"
        ),
        bounds,
    )
    data.events = []
    last: dict[tuple[int, str], int] = {}
    for row in rows.all():
        member, action, at = row[0], row[1], row[2]
        before = last.get((member, action))
        last[(member, action)] = at
        if before is not None and at - before < SAME_EVENT_MS:
            continue  # one join told twice (Telegram: the service message and the member update)
        data.events.append(tuple(row))  # type: ignore[arg-type]
