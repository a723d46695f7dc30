"""Members: engagement levels, influence on the reply and mention graph, reach, newcomers.

Weights follow the Orbit model and crowd.dev (reference §B6): a message 6, a reply 6, a question
8, a shared link or file 7, a join 3, each decayed by 0.9 a month before the window's end. Direct
replies and mentions weigh 10 on the graph, speaking right after someone (time adjacency, the only
signal on platforms without replies) weighs 1.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass

from qunzhu.analytics.extract import GroupData
from qunzhu.analytics.metrics import STAFF, role
from qunzhu.analytics.window import local_day

WEIGHTS = {"message": 6.0, "reply": 6.0, "question": 8.0, "link": 7.0, "join": 3.0}
DECAY = 0.9  # per 30 days
DIRECT_EDGE, ADJACENT_EDGE = 10.0, 1.0
# Levels among members who spoke, by rank of score: the top 5% ultra, next 15% fan, next 30%
# engaged, the rest quiet; members who did not speak are silent.
LEVEL_CUTS = (("ultra", 0.05), ("fan", 0.20), ("engaged", 0.50), ("quiet", 1.0))
LEVELS = ("silent", "quiet", "engaged", "fan", "ultra")
RECENT_DAYS = 30
WELCOME_WITHIN_MS = 24 * 3_600_000
GREETING_WITHIN_MS = 60 * 60_000  # a bare "欢迎" counts for whoever joined in the last hour
INTRODUCE_WITHIN_MS = 72 * 3_600_000
NEWCOMER_METHODS_EXCLUDED = ("created", "founder")


def _decays(data: GroupData) -> dict[int, float]:
    """Per local day of the window: 0.9 for each 30 days between it and the window's end."""
    last = data.window.last_day
    return {day: DECAY ** ((last - day) / 30) for day in range(data.window.first_day, last + 1)}


def scores(data: GroupData, until_day: int | None = None) -> dict[int, float]:
    """Decayed engagement score per member, from activity up to `until_day` (default: all)."""
    out: dict[int, float] = defaultdict(float)
    decay = _decays(data)
    for a in data.activity:
        if until_day is not None and a.day > until_day:
            continue
        plain = a.messages - a.replies - a.questions - a.links
        raw = (
            WEIGHTS["message"] * max(plain, 0)
            + WEIGHTS["reply"] * a.replies
            + WEIGHTS["question"] * a.questions
            + WEIGHTS["link"] * a.links
        )
        out[a.sender] += raw * decay[a.day]
    for member, action, at, _method, _actor in data.events:
        if action == "join" and member in out:  # joining alone does not make one engaged
            out[member] += WEIGHTS["join"] * decay.get(local_day(at, data.window.tz), 1.0)
    return out


def levels(score: dict[int, float], members: set[int]) -> dict[int, str]:
    ranked = sorted((mid for mid, s in score.items() if s > 0), key=lambda m: -score[m])
    found = {mid: "silent" for mid in members}
    n = len(ranked)
    for rank, mid in enumerate(ranked):
        for name, cut in LEVEL_CUTS:
            if rank < max(1, round(cut * n)) or name == "quiet":
                found[mid] = name
                break
    return found


@dataclass
class Graph:
    influence: dict[int, float]
    reach: dict[int, float]
    replies_received: dict[int, int]
    mentions_received: dict[int, int]
    member_to_member_share: float | None
    density: float | None


def graph(data: GroupData) -> Graph:
    decay = _decays(data)
    edges: dict[tuple[int, int], float] = defaultdict(float)
    replies: dict[int, int] = defaultdict(int)
    mentioned: dict[int, int] = defaultdict(int)
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for day, src, dst, n in data.replies:
        edges[src, dst] += DIRECT_EDGE * n * decay[day]
        replies[dst] += n
        counts[src, dst] += n
    resolve = _mention_index(data)
    for day, src, text, n in data.mentions:
        for token in text.split("\n"):
            dst = resolve.get(token.strip().lstrip("@"))
            if dst is not None and dst != src:
                edges[src, dst] += DIRECT_EDGE * n * decay[day]
                mentioned[dst] += n
                counts[src, dst] += n
    for a in data.activity:
        if a.previous is not None:
            edges[a.sender, a.previous] += ADJACENT_EDGE * a.messages * decay[a.day]
            counts[a.sender, a.previous] += a.messages
    influence = pagerank(edges)
    reach: dict[int, float] = defaultdict(float)
    for (_s, d), w in edges.items():
        reach[d] += w
    total = sum(counts.values())
    peer = sum(
        n
        for (s, d), n in counts.items()
        if role(data, s) not in STAFF and role(data, d) not in STAFF
    )
    speakers = {a.sender for a in data.activity}
    pairs = {frozenset(pair) for pair in counts if pair[0] != pair[1]}
    possible = len(speakers) * (len(speakers) - 1) / 2
    return Graph(
        influence,
        dict(reach),
        dict(replies),
        dict(mentioned),
        peer / total if total else None,
        len(pairs) / possible if possible else None,
    )


def pagerank(
    edges: dict[tuple[int, int], float], damping: float = 0.85, tol: float = 1e-6
) -> dict[int, float]:
    """Weighted PageRank by power iteration; members who link to nobody spread their rank
    evenly (as networkx does). Written here rather than taken from networkx, whose pagerank
    pulls in scipy: importing it cost more than the rest of a 200,000-message report."""
    out: dict[int, list[tuple[int, float]]] = defaultdict(list)
    nodes: set[int] = set()
    for (src, dst), weight in edges.items():
        if weight > 0:
            out[src].append((dst, weight))
            nodes.update((src, dst))
    if not nodes:
        return {}
    n = len(nodes)
    totals = {src: sum(w for _d, w in targets) for src, targets in out.items()}
    rank = dict.fromkeys(nodes, 1.0 / n)
    for _ in range(200):
        dangling = sum(rank[v] for v in nodes if v not in out)
        base = (1.0 - damping) / n + damping * dangling / n
        nxt = dict.fromkeys(nodes, base)
        for src, targets in out.items():
            share = damping * rank[src] / totals[src]
            for dst, weight in targets:
                nxt[dst] += share * weight
        if sum(abs(nxt[v] - rank[v]) for v in nodes) < n * tol:
            return nxt
        rank = nxt
    return rank


def _mention_index(data: GroupData) -> dict[str, int]:
    """Mention tokens (platform ids, `user<id>` forms, display names) to member ids."""
    index: dict[str, int] = {}
    for mid, m in data.members.items():
        if m.name:
            index.setdefault(m.name, mid)
    for mid, m in data.members.items():
        index[m.external_id] = mid
        if m.external_id.startswith("user"):
            index.setdefault(m.external_id[4:], mid)
    return index


def slipping(data: GroupData) -> list[int]:
    """Once fans or ultras, silent for the last RECENT_DAYS: the crowd.dev "slipping away"."""
    cut = data.window.last_day - RECENT_DAYS
    if cut <= data.window.first_day:
        return []
    before = scores(data, until_day=cut)
    earlier = levels(before, set())
    recent = {a.sender for a in data.activity if a.day > cut}
    return sorted(
        (mid for mid, level in earlier.items() if level in ("fan", "ultra") and mid not in recent),
        key=lambda m: -before[m],
    )


def newcomers(data: GroupData) -> dict[str, int]:
    """Joins in the window: who never spoke, who was not welcomed, who did not introduce
    themselves (PLAYBOOK §2.2: welcome each newcomer by name, ask for an introduction)."""
    joined = [
        (member, at)
        for member, action, at, method, _actor in data.events
        if action == "join" and method not in NEWCOMER_METHODS_EXCLUDED
    ]
    mentioned, greetings = _welcome_signals(data)
    never = unwelcomed = silent_intro = 0
    for member, at in joined:
        info = data.members.get(member)
        last = info.last_message_at if info else None
        first = info.first_message_at if info else None
        if last is None or last < at:
            never += 1
        if first is None or not at <= first <= at + INTRODUCE_WITHIN_MS:
            silent_intro += 1
        if not _welcomed(member, at, mentioned.get(member, []), greetings):
            unwelcomed += 1
    return {
        "joined": len(joined),
        "never_spoke": never,
        "not_welcomed": unwelcomed,
        "no_introduction": silent_intro,
    }


def _welcome_signals(
    data: GroupData,
) -> tuple[dict[int, list[int]], list[tuple[int, int]]]:
    """When each member was @mentioned by someone else, and every greeting (time, sender),
    both in time order, so each newcomer is checked with two binary searches."""
    index = _mention_index(data)
    mentioned: dict[int, list[int]] = defaultdict(list)
    greetings: list[tuple[int, int]] = []
    for sender, sent, mentions, greets in data.welcomes:
        if greets:
            greetings.append((sent, sender))
        for token in (mentions or "").split("\n"):
            target = index.get(token.strip().lstrip("@"))
            if target is not None and target != sender:
                mentioned[target].append(sent)
    greetings.sort()
    return mentioned, greetings


def _welcomed(
    member: int, at: int, mentioned_at: list[int], greetings: list[tuple[int, int]]
) -> bool:
    """Greeted by someone else within the hour after joining, or @mentioned within a day."""
    i = bisect_left(mentioned_at, at)
    if i < len(mentioned_at) and mentioned_at[i] <= at + WELCOME_WITHIN_MS:
        return True
    j = bisect_left(greetings, (at, -1))
    while j < len(greetings) and greetings[j][0] <= at + GREETING_WITHIN_MS:
        if greetings[j][1] != member:
            return True
        j += 1
    return False
