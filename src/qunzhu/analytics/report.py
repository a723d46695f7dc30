"""One computation per group, shared by every output: `build_report(...).as_dict()` is what the
terminal, JSON and HTML reports show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from qunzhu import i18n
from qunzhu.analytics import diagnosis, extract, metrics, people
from qunzhu.analytics.window import DAY_MS, Window, day_date, local_day
from qunzhu.i18n import tr
from qunzhu.store.queries import matching_groups

TOP = 10

i18n.register(
    {
        "--since {since} is after --until {until}": "--since {since} 晚于 --until {until}",
        "no group matches {what}": "没有匹配 {what} 的群",
    }
)


class ReportError(Exception):
    """A request that names no group we know, or an impossible date range."""


@dataclass
class Report:
    tz: str
    since: date | None
    until: date | None
    groups: list[dict[str, Any]] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    speakers: set[int] = field(default_factory=set)  # distinct members who spoke, all groups

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "tz": self.tz,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "community": community_summary(self.groups, len(self.speakers)),
            "groups": self.groups,
        }


def community_summary(groups: list[dict[str, Any]], speakers: int) -> dict[str, Any] | None:
    """The groups of the report taken together: sums, distinct speakers (one person in three
    groups counts once), health weighted by members, and how many groups each stage and each
    piece of advice concerns."""
    if not groups:
        return None
    members = sum(g["members"] for g in groups)
    stages: dict[str, int] = {}
    advice: dict[str, int] = {}
    for g in groups:
        stages[g["stage"]] = stages.get(g["stage"], 0) + 1
        for item in g["advice"]:
            advice[item["code"]] = advice.get(item["code"], 0) + 1
    weights = [(g["health"], max(g["members"], 1)) for g in groups]
    return {
        "groups": len(groups),
        "members": members,
        "messages": sum(g["messages"] for g in groups),
        "active_members": speakers,
        "joins": sum(g["joins"] for g in groups),
        "leaves": sum(g["leaves"] for g in groups),
        "kicks": sum(g["kicks"] for g in groups),
        "net_growth": sum(g["net_growth"] for g in groups),
        "messages_per_day": sum(g["messages_per_day"] for g in groups),
        "health": round(sum(h * w for h, w in weights) / sum(w for _h, w in weights)),
        "stages": stages,
        "advice": advice,
    }


def build_report(
    engine: Engine,
    group: str | None = None,
    community: str | None = None,
    since: date | None = None,
    until: date | None = None,
    tz: str | None = None,
) -> Report:
    if since and until and since > until:
        raise ReportError(tr("--since {since} is after --until {until}", since=since, until=until))
    with engine.connect() as conn:
        chosen = _groups(conn, group, community)
        report = Report(tz or "", since, until)
        for gid, group_tz in chosen:
            zone = ZoneInfo(tz or group_tz)
            window = _window(conn, gid, zone, since, until)
            if window is None:
                continue
            data = extract.load(conn, gid, window)
            report.speakers.update(a.sender for a in data.activity)
            report.groups.append(group_report(data))
    report.tz = tz or (chosen[0][1] if chosen else "Asia/Shanghai")
    report.generated_at = datetime.now(ZoneInfo(report.tz)).replace(microsecond=0)
    return report


def _groups(conn: Any, group: str | None, community: str | None) -> list[tuple[int, str]]:
    rows = matching_groups(conn, group, community)
    if not rows and (group or community):
        raise ReportError(
            tr("no group matches {what}", what=" / ".join(x for x in (group, community) if x))
        )
    return rows


def _window(
    conn: Any, gid: int, zone: ZoneInfo, since: date | None, until: date | None
) -> Window | None:
    """The requested dates, or the group's whole history where a bound is not given."""
    first, last = conn.execute(
        text(
            "SELECT MIN(at), MAX(at) FROM (SELECT sent_at AS at FROM messages WHERE group_id = :g "
            "UNION ALL SELECT at FROM membership_events WHERE group_id = :g) t"
        ),
        {"g": gid},
    ).one()
    if first is None and (since is None or until is None):
        return None
    start = since or day_date(local_day(first, zone))
    end = until or day_date(local_day(last, zone))
    return Window.of(start, max(start, end), zone)


def group_report(data: extract.GroupData) -> dict[str, Any]:
    w = data.window
    by_day = metrics.active_by_day(data)
    counts = metrics.messages_by_member(data)
    daily = metrics.daily(data)
    events = [e[1] for e in data.events]
    joins, leaves, kicks = events.count("join"), events.count("leave"), events.count("kick")
    members_now = metrics.members_at(data, w.end)
    roster = metrics.roster_known(data)
    active = len(counts)
    dau = metrics.rolling_active(by_day, w.first_day, w.last_day, 1)
    wau = metrics.rolling_active(by_day, w.first_day, w.last_day, 7)
    mau = metrics.rolling_active(by_day, w.first_day, w.last_day, 30)
    speaking_now = sum(1 for m in counts if m in data.members and _present(data, m))
    lurkers = 1 - speaking_now / members_now if roster and members_now else None
    retention = metrics.weekly_retention(by_day)
    kept = [r["retained"] for r in retention if r["retained"] is not None]
    concentration = metrics.concentration(counts.values())
    responses = metrics.response_times(data)
    graph = people.graph(data)
    scores = people.scores(data)
    level_of = people.levels(scores, set(data.members))
    level_counts = {name: 0 for name in people.LEVELS}
    for mid, level in level_of.items():
        if mid in data.members and _present(data, mid):
            level_counts[level] += 1
    slipping = people.slipping(data)
    newcomers = people.newcomers(data)
    broadcast = metrics.broadcast_share(data, counts)

    def member(mid: int) -> dict[str, Any]:
        info = data.members.get(mid)
        return {
            "member_id": mid,
            "name": info.name if info else str(mid),
            "role": info.role if info else "member",
            "messages": counts.get(mid, 0),
            "level": level_of.get(mid, "silent"),
            "score": round(scores.get(mid, 0.0), 1),
            "influence": round(graph.influence.get(mid, 0.0), 4),
            "reach": round(graph.reach.get(mid, 0.0), 1),
            "replies_received": graph.replies_received.get(mid, 0),
            "mentions_received": graph.mentions_received.get(mid, 0),
        }

    top = sorted(counts, key=lambda m: (-counts[m], m))[:TOP]
    kols = [
        m
        # PageRank ties on small graphs (two members answering each other): reach decides
        for m in sorted(
            graph.influence,
            key=lambda m: (-round(graph.influence[m], 6), -graph.reach.get(m, 0.0), m),
        )
        if metrics.role(data, m) != "owner"
    ][:TOP]
    recent_cut = w.last_day - people.RECENT_DAYS
    recent = [r for r in daily if _day(r) > recent_cut]
    before = [r for r in daily if recent_cut - 30 < _day(r) <= recent_cut]
    peak = max(daily, key=lambda r: r["messages"]) if daily else {"messages": 0, "date": ""}
    span_start = data.created_at if data.created_at is not None else w.start
    figures = diagnosis.Figures(
        name=data.name,
        kind_setting=data.kind,
        span_days=max(1, (w.end - span_start) // DAY_MS),
        members=members_now,
        roster_known=roster,
        active=speaking_now,
        active_recent=len({a.sender for a in data.activity if a.day > recent_cut}),
        messages_recent=sum(int(r["messages"]) for r in recent),
        messages_before=sum(int(r["messages"]) for r in before) if len(before) >= 30 else None,
        peak_daily=int(peak["messages"]),
        peak_day=str(peak["date"]),
        newcomers=newcomers,
        ads=data.ads,
        ad_senders=data.ad_senders,
        lurker_ratio=lurkers,
        absence_factor=int(concentration["absence_factor"]),
        speakers=active,
        slipping_names=[member(m)["name"] for m in slipping],
        kol_names=[member(m)["name"] for m in kols if metrics.role(data, m) not in metrics.STAFF],
        broadcast=broadcast,
        peer=graph.member_to_member_share,
        health_inputs={
            "monthly_active_share": mau / members_now if roster and members_now else None,
            "weekly_retention": sum(kept) / len(kept) if kept else None,
            "stickiness": dau / mau if mau else None,
            "absence_factor_share": (concentration["absence_factor"] / active) if active else None,
            "response_median_min": responses["median_min"],
            "monthly_growth": (joins - leaves - kicks) / members_now * 30 / w.days
            if members_now
            else None,
            "member_to_member_share": graph.member_to_member_share,
        },
    )
    kind, kind_reason = diagnosis.kind(figures)
    stage, stage_reason = diagnosis.stage(figures)
    score, detail = diagnosis.health(figures, kind)
    return {
        "id": data.id,
        "name": data.name,
        "platform": data.platform,
        "kind": kind,
        "kind_reason": kind_reason,
        "stage": stage,
        "stage_reason": stage_reason,
        "since": day_date(w.first_day).isoformat(),
        "until": day_date(w.last_day).isoformat(),
        "members": members_now,
        "roster": "events" if roster else "speakers",
        "messages": sum(counts.values()),
        "active_members": active,
        "joins": joins,
        "leaves": leaves,
        "kicks": kicks,
        "net_growth": joins - leaves - kicks,
        "messages_per_day": sum(counts.values()) / w.days,
        "dau": dau,
        "wau": wau,
        "mau": mau,
        "stickiness": dau / mau if mau else None,
        "lurker_ratio": lurkers,
        "daily": daily,
        "hours": metrics.hours(data),
        "retention": {"weekly": retention, "cohorts": metrics.cohorts(data, by_day)},
        "churned": _churned(data),
        "slipping": [{"member_id": m, "name": member(m)["name"]} for m in slipping],
        "newcomers": newcomers,
        "levels": level_counts,
        "top_members": [member(m) for m in top],
        "kol_candidates": [member(m) for m in kols],
        "conversations": metrics.conversations(data),
        "response_time": responses,
        "concentration": concentration,
        "broadcast_share": broadcast,
        "member_to_member_share": graph.member_to_member_share,
        "graph_density": graph.density,
        "ads": data.ads,
        "health": score,
        "health_detail": detail,
        "advice": diagnosis.advice(figures, kind),
    }


def _day(row: dict[str, Any]) -> int:
    return (date.fromisoformat(row["date"]) - date(1970, 1, 1)).days


def _present(data: extract.GroupData, mid: int) -> bool:
    """A member at the window's end (levels describe the group as it is)."""
    m = data.members[mid]
    since = m.joined_at if m.joined_at is not None else m.first_message_at
    return (
        since is not None
        and since < data.window.end
        and (m.left_at is None or m.left_at >= data.window.end)
    )


def _churned(data: extract.GroupData, quiet_days: int = 30, prior: int = 3) -> int:
    """Members with at least `prior` messages in the window and none in its last `quiet_days`."""
    cut = data.window.last_day - quiet_days
    last_day: dict[int, int] = {}
    totals: dict[int, int] = {}
    for a in data.activity:
        last_day[a.sender] = max(last_day.get(a.sender, a.day), a.day)
        totals[a.sender] = totals.get(a.sender, 0) + a.messages
    return sum(1 for m, d in last_day.items() if d <= cut and totals[m] >= prior)
