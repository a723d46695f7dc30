"""Group-level metrics (reference §B6), computed from the per-member-day rows of `extract`.

Each function takes the aggregated rows and returns plain numbers, so the same figures feed the
terminal, JSON and HTML reports.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import accumulate
from statistics import fmean

from qunzhu.analytics.extract import GroupData
from qunzhu.analytics.window import day_date, local_day

STAFF = frozenset({"owner", "vice_owner", "duty_owner", "admin"})
ANSWER_WITHIN_MS = 24 * 3_600_000  # a first answer later than this is no answer


def daily(data: GroupData) -> list[dict[str, object]]:
    """One row per local day of the window, days without activity included."""
    w = data.window
    messages: dict[int, int] = defaultdict(int)
    senders: dict[int, set[int]] = defaultdict(set)
    for a in data.activity:
        messages[a.day] += a.messages
        senders[a.day].add(a.sender)
    joins: dict[int, int] = defaultdict(int)
    leaves: dict[int, int] = defaultdict(int)
    for _member, action, at, _method, _actor in data.events:
        day = local_day(at, w.tz)
        if action == "join":
            joins[day] += 1
        elif action in ("leave", "kick"):
            leaves[day] += 1
    return [
        {
            "date": day_date(day).isoformat(),
            "messages": messages[day],
            "active_members": len(senders[day]),
            "joins": joins[day],
            "leaves": leaves[day],
        }
        for day in range(w.first_day, w.last_day + 1)
    ]


def active_by_day(data: GroupData) -> dict[int, set[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    for a in data.activity:
        found[a.day].add(a.sender)
    return found


def rolling_active(by_day: dict[int, set[int]], first: int, last: int, span: int) -> float:
    """Mean over the window's days of distinct senders in the `span` days ending that day
    (WAU: 7, MAU: 30); the first days look back only as far as the window goes."""
    if last < first:
        return 0.0
    counts = []
    for day in range(first, last + 1):
        seen: set[int] = set()
        for back in range(max(first, day - span + 1), day + 1):
            seen |= by_day.get(back, set())
        counts.append(len(seen))
    return fmean(counts)


def members_at(data: GroupData, moment: int) -> int:
    """Members at `moment`: joined (or first seen speaking) before it and not gone."""
    count = 0
    for m in data.members.values():
        since = m.joined_at if m.joined_at is not None else m.first_message_at
        if since is not None and since < moment and (m.left_at is None or m.left_at >= moment):
            count += 1
    return count


def roster_known(data: GroupData) -> bool:
    """Whether members who never spoke are visible at all (join events exist)."""
    return any(m.joined_at is not None for m in data.members.values())


def week_of(day: int) -> int:
    """The day number of that day's Monday (1970-01-01 was a Thursday)."""
    return day - (day + 3) % 7


def weekly_retention(by_day: dict[int, set[int]]) -> list[dict[str, object]]:
    weeks: dict[int, set[int]] = defaultdict(set)
    for day, senders in by_day.items():
        weeks[week_of(day)] |= senders
    if not weeks:
        return []
    out = []
    first, last = min(weeks), max(weeks)
    for week in range(first + 7, last + 1, 7):
        before = weeks.get(week - 7, set())
        retained = len(before & weeks.get(week, set())) / len(before) if before else None
        out.append({"week": day_date(week).isoformat(), "retained": retained})
    return out


def cohorts(
    data: GroupData, by_day: dict[int, set[int]], horizon: int = 8
) -> list[dict[str, object]]:
    """Members grouped by the week of their first message ever in the group; for each cohort,
    the share active in each following week of the window."""
    weeks: dict[int, set[int]] = defaultdict(set)
    for day, senders in by_day.items():
        weeks[week_of(day)] |= senders
    w = data.window
    first_week: dict[int, set[int]] = defaultdict(set)
    for mid, m in data.members.items():
        if m.first_message_at is not None and w.start <= m.first_message_at < w.end:
            first_week[week_of(local_day(m.first_message_at, w.tz))].add(mid)
    last_week = week_of(w.last_day)
    out = []
    for week in sorted(first_week):
        people = first_week[week]
        active = []
        for k in range(horizon + 1):
            later = week + 7 * k
            if later > last_week:
                break
            active.append(len(people & weeks.get(later, set())) / len(people))
        out.append({"week": day_date(week).isoformat(), "size": len(people), "active": active})
    return out


def messages_by_member(data: GroupData) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for a in data.activity:
        counts[a.sender] += a.messages
    return counts


def concentration(counts: Iterable[int]) -> dict[str, object]:
    """Contributor absence factor (fewest members writing half the messages), Gini, and the
    share of the busiest tenth."""
    values = sorted((c for c in counts if c > 0), reverse=True)
    total = sum(values)
    if not total:
        return {"absence_factor": 0, "gini": None, "top10_share": None}
    factor = next(i for i, run in enumerate(accumulate(values), start=1) if run * 2 >= total)
    top = max(1, math.ceil(len(values) / 10))
    return {
        "absence_factor": factor,
        "gini": gini(values),
        "top10_share": sum(values[:top]) / total,
    }


def gini(values: Sequence[int]) -> float:
    ordered = sorted(values)
    n, total = len(ordered), sum(ordered)
    if n == 0 or total == 0:
        return 0.0
    weighted = sum(i * v for i, v in enumerate(ordered, start=1))
    return (2 * weighted) / (n * total) - (n + 1) / n


def response_times(data: GroupData) -> dict[str, object]:
    answered = sorted(
        (seconds, n)
        for seconds, n in data.responses
        if seconds is not None and seconds * 1000 <= ANSWER_WITHIN_MS
    )
    count = sum(n for _s, n in answered)
    return {
        "questions": sum(n for _s, n in data.responses),
        "answered": count,
        "median_min": _quantile(answered, count, 0.5) / 60 if count else None,
        "p90_min": _quantile(answered, count, 0.9) / 60 if count else None,
    }


def _quantile(histogram: Sequence[tuple[int, int]], total: int, q: float) -> float:
    """The q-quantile of values given as sorted (value, count) pairs: linear between closest
    ranks, as numpy's default, without expanding the counts."""
    at = q * (total - 1)
    low, high = math.floor(at), math.ceil(at)
    values: dict[int, float] = {}
    seen = 0
    for value, n in histogram:
        for rank in (low, high):
            if rank not in values and seen <= rank < seen + n:
                values[rank] = value
        seen += n
    return values[low] + (values[high] - values[low]) * (at - low)


def hours(data: GroupData) -> list[list[int]]:
    grid = [[0] * 24 for _ in range(7)]
    for hour, n in data.hours:
        day = hour // 24
        grid[(day + 3) % 7][hour % 24] += n
    return grid


def conversations(data: GroupData) -> dict[str, object]:
    count = sum(a.conversations_started for a in data.activity)
    return {"count": count, "per_day": count / data.window.days}


def broadcast_share(data: GroupData, counts: dict[int, int]) -> float | None:
    total = sum(counts.values())
    if not total:
        return None
    staff = sum(n for mid, n in counts.items() if role(data, mid) in STAFF)
    return staff / total


def role(data: GroupData, mid: int) -> str:
    member = data.members.get(mid)
    return member.role if member else "member"
