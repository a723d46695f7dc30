"""What a group report needs from the store, aggregated by the database.

Every query here returns rows per (member, day) or per (member pair, day), never per message, so
the Python that follows works on thousands of rows whatever the number of messages. One pass in
message order (window functions over the (group_id, sent_at) index, so nothing is sorted) yields
the per-member-day counts, conversations, time adjacency, ads and question response times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from qunzhu.analytics.window import Window

CONVERSATION_GAP_MS = 30 * 60_000  # a silence this long starts a new conversation
ADJACENT_MS = 5 * 60_000  # answering the previous speaker, where a platform has no replies
ANSWER_LOOKAHEAD = 3  # a question's answer is sought among the next three messages
# Words that mark an ad in a Chinese group (PLAYBOOK §3: 代购, 微商); a first signal until the
# moderation engine judges messages one by one.
AD_WORDS = ("代购", "微商", "加微信", "加V", "加v", "兼职", "刷单", "日赚", "招代理", "私信领取")
WELCOME_WORDS = ("欢迎", "welcome", "Welcome")
QUESTION_LIKE = ("?", "？", "请问", "求助", "有没有人", "怎么")
NOT_TALK = ("system", "recall")  # kinds that are not a member speaking


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


def _any_like(column: str, words: tuple[str, ...], name: str) -> tuple[str, dict[str, str]]:
    params = {f"{name}{i}": f"%{w}%" for i, w in enumerate(words)}
    return " OR ".join(f"{column} LIKE :{key}" for key in params), params


def load(conn: Connection, group_id: int, window: Window) -> GroupData:
    g = conn.execute(
        text("SELECT id, name, platform, kind, created_at FROM groups WHERE id = :g"),
        {"g": group_id},
    ).one()
    data = GroupData(g.id, g.name, g.platform, g.kind, g.created_at, window)
    bounds = {"g": group_id, "start": window.start, "end": window.end}
    _members(conn, data, bounds)
    _activity(conn, data, bounds)
    _hours(conn, data, bounds)
    _events(conn, data, bounds)
    _edges(conn, data, bounds)
    _welcomes(conn, data, bounds)
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
    for mid, *info in rows:
        data.members[mid] = MemberInfo(*info)


def _activity(conn: Connection, data: GroupData, bounds: dict[str, int]) -> None:
    """The one ordered pass (the (group_id, sent_at) index gives the order, no sort): per
    member-day counts, who spoke just before, conversation starts, ads, and for each question
    the wait for the first message by someone else among the next ANSWER_LOOKAHEAD."""
    day = data.window.day("sent_at")
    question, q_params = _any_like("text", QUESTION_LIKE, "q")
    ad, ad_params = _any_like("text", AD_WORDS, "a")
    answers = ", ".join(
        f"CASE WHEN LEAD(sender_id, {k}) OVER w <> sender_id THEN LEAD(sent_at, {k}) OVER w END"
        for k in range(1, ANSWER_LOOKAHEAD + 1)
    )
    sql = f"""
        SELECT day, sender_id, adjacent, waited, COUNT(*), SUM(new_talk), SUM(replied),
               SUM(linked), SUM(asked), SUM(ad)
        FROM (
            SELECT {day} AS day, sender_id, asked, ad, replied, linked,
                   CASE WHEN LAG(sender_id) OVER w <> sender_id
                             AND sent_at - LAG(sent_at) OVER w <= {ADJACENT_MS}
                        THEN LAG(sender_id) OVER w END AS adjacent,
                   CASE WHEN sent_at - LAG(sent_at) OVER w <= {CONVERSATION_GAP_MS}
                        THEN 0 ELSE 1 END AS new_talk,
                   CASE WHEN asked = 1
                        THEN COALESCE((COALESCE({answers}) - sent_at) / 1000, -1) END AS waited
            FROM (
                SELECT id, sent_at, sender_id,
                       CASE WHEN {question} THEN 1 ELSE 0 END AS asked,
                       CASE WHEN {ad} THEN 1 ELSE 0 END AS ad,
                       CASE WHEN reply_to IS NULL THEN 0 ELSE 1 END AS replied,
                       CASE WHEN kind IN ('link', 'file') THEN 1 ELSE 0 END AS linked
                FROM messages WHERE {_talk()}
            ) flagged
            WINDOW w AS (ORDER BY sent_at, id)
        ) ordered
        GROUP BY day, sender_id, adjacent, waited
    """
    rows = conn.execute(text(sql), {**bounds, **q_params, **ad_params})
    merged: dict[tuple[int, int, int | None], Activity] = {}
    ad_senders: set[int] = set()
    for day_, sender, adjacent, waited, n, new_talk, replied, linked, asked, ads in rows:
        if waited is not None:
            data.responses.append((None if waited < 0 else int(waited), int(asked)))
        if ads:
            data.ads += int(ads)
            ad_senders.add(sender)
        key = (int(day_), int(sender), adjacent)
        found = merged.get(key)
        if found is None:
            merged[key] = Activity(
                *key, int(n), int(new_talk), int(replied), int(linked), int(asked)
            )
        else:
            found.messages += int(n)
            found.conversations_started += int(new_talk)
            found.replies += int(replied)
            found.links += int(linked)
            found.questions += int(asked)
    data.activity = list(merged.values())
    data.ad_senders = len(ad_senders)


def _hours(conn: Connection, data: GroupData, bounds: dict[str, int]) -> None:
    hour = f"({data.window.local_ms('sent_at')} / 3600000)"
    sql = f"SELECT {hour} AS h, COUNT(*) FROM messages WHERE {_talk()} GROUP BY h"
    data.hours = [(int(h), int(n)) for h, n in conn.execute(text(sql), bounds)]


def _events(conn: Connection, data: GroupData, bounds: dict[str, int]) -> None:
    rows = conn.execute(
        text(
            "SELECT member_id, action, at, method, actor_id FROM membership_events "
            "WHERE group_id = :g AND at >= :start AND at < :end ORDER BY at, id"
        ),
        bounds,
    )
    data.events = [tuple(r) for r in rows]  # type: ignore[misc]


def _edges(conn: Connection, data: GroupData, bounds: dict[str, int]) -> None:
    day = data.window.day("m.sent_at")
    replies = f"""
        SELECT {day} AS day, m.sender_id, r.sender_id, COUNT(*)
        FROM messages m JOIN messages r ON r.group_id = m.group_id AND r.platform_id = m.reply_to
        WHERE {_talk("m")} AND m.reply_to IS NOT NULL AND r.sender_id <> m.sender_id
        GROUP BY day, m.sender_id, r.sender_id
    """
    data.replies = [tuple(map(int, r)) for r in conn.execute(text(replies), bounds)]  # type: ignore[misc]
    mentions = f"""
        SELECT {day} AS day, m.sender_id, m.mentions, COUNT(*) FROM messages m
        WHERE {_talk("m")} AND m.mentions IS NOT NULL AND m.mentions <> ''
        GROUP BY day, m.sender_id, m.mentions
    """
    data.mentions = [
        (int(d), int(s), str(t), int(n)) for d, s, t, n in conn.execute(text(mentions), bounds)
    ]


def _welcomes(conn: Connection, data: GroupData, bounds: dict[str, int]) -> None:
    """Messages that can welcome a newcomer: they greet, or they @mention someone."""
    if not any(e[1] == "join" for e in data.events):
        return
    welcome, params = _any_like("text", WELCOME_WORDS, "w")
    sql = f"""
        SELECT sender_id, sent_at, mentions, CASE WHEN {welcome} THEN 1 ELSE 0 END
        FROM messages WHERE {_talk()} AND ({welcome} OR (mentions IS NOT NULL AND mentions <> ''))
        ORDER BY sent_at
    """
    data.welcomes = [
        (int(s), int(at), m, bool(w))
        for s, at, m, w in conn.execute(text(sql), {**bounds, **params})
    ]
