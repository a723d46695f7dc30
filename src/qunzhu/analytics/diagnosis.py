"""A group's kind, stage and health, and what to do next, each with the numbers behind it.

The rules are PLAYBOOK's; every threshold is a named constant here so that an operator (and a
reviewer) can read and change them in one place. Advice is data, not prose: a code, the
recommendation, the reason with its numbers, and the playbook rule it comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from qunzhu import i18n
from qunzhu.i18n import tr

SEED_MEMBERS = 50  # §2.1: below this the owner talks to themselves
EARLY_FROM, MID_LATE_FROM, CAPACITY = 50, 300, 500  # §2: stage bands by members
DUNBAR_ACTIVE = 150  # §3: stable relationships; more active members than this: split
VICE_OWNER_DAILY = 5000  # §2.2: messages a day that call for 2-3 vice owners
TEMPORARY_LIFE_DAYS = 7  # §1: a temporary group lives about a week
TEMPORARY_SPAN_DAYS = 14  # a history this short, without a kind set, reads as temporary
TEMPORARY_WORDS = re.compile(
    r"活动|福利|秒杀|直播|训练营|团购|拼团|抢购|临时|体验官|双十一|双11|618|event|campaign|launch",
    re.IGNORECASE,
)
DECLINE_RATIO = 0.5  # last 30 days below half the 30 before
DECLINE_MIN_MESSAGES = 100  # ... when the 30 before had at least this many
UNWELCOMED_SHARE = 0.3
UNINTRODUCED_SHARE = 0.5
LURKER_SHARE = 0.8
CARRIED_SHARE = 0.05  # half the messages from at most this share of speakers (min 2 people)
BROADCAST_SHARE = 0.5  # owner and admins write more than half ...
PEER_SHARE = 0.2  # ... and fewer than this share of interactions are member to member
MIN_SPEAKERS = 10  # below this, concentration advice says nothing useful

# Health (crowd.dev pattern): each metric scores 0-5 by how many cut-points it reaches; a
# category's share of its 5 points, averaged, times 100. `lower` metrics score by staying below.
HEALTH_CUTS: dict[str, dict[str, Any]] = {
    "monthly_active_share": {"cuts": (0.05, 0.10, 0.20, 0.30, 0.50)},
    "weekly_retention": {"cuts": (0.10, 0.20, 0.35, 0.50, 0.65)},
    "stickiness": {"cuts": (0.05, 0.10, 0.15, 0.25, 0.35)},
    "absence_factor_share": {"cuts": (0.01, 0.03, 0.06, 0.10, 0.15)},
    "response_median_min": {"cuts": (240, 60, 30, 10, 3), "lower": True},
    "monthly_growth": {"cuts": (-0.05, 0.0, 0.02, 0.05, 0.10)},
    "member_to_member_share": {"cuts": (0.10, 0.20, 0.35, 0.50, 0.65)},
}
# An event group is meant to end: its members leaving is not ill health.
TEMPORARY_UNSCORED = frozenset({"weekly_retention"})
# Large groups are never as active per head as small ones: scale the activity cut-points.
SIZE_FACTOR = ((100, 1.0), (300, 0.7), (None, 0.5))

_ZH = {
    "temporary": "临时群",
    "long_term": "长期群",
    "set by the operator": "运营者设定",
    "name suggests an event ({word})": "群名显示为活动群（{word}）",
    "history spans {days} days": "历史跨度 {days} 天",
    "founding": "建群期",
    "early": "运营初期",
    "mid_late": "运营中后期",
    "over_capacity": "超出容量",
    "declining": "衰退",
    "{members} members, below {seed}": "成员 {members} 人，少于 {seed} 人",
    "{members} members": "成员 {members} 人",
    "{members} members, above {limit}": "成员 {members} 人，超过 {limit} 人",
    "messages fell from {before} to {after} in the last 30 days": (
        "近 30 天消息从 {before} 条降至 {after} 条"
    ),
    "Recruit at least {seed} seed members from your existing channels before expecting talk; "
    "post the group rules (purpose, positioning, prohibitions, at most 100 characters).": (
        "先从已有渠道（官网、公众号、老客户、朋友）招募至少 {seed} 位种子成员，再期待群内讨论；"
        "发布不超过 100 字的群规（宗旨、定位、禁止事项）。"
    ),
    "{members} members now": "当前成员 {members} 人",
    "Appoint 2-3 vice owners and duty owners from your KOLs ({names}), split the duties and "
    "hold a management meeting.": (
        "从 KOL 中任命 2-3 位副群主和值班群主（{names}），分工并召开管理会议。"
    ),
    "up to {peak} messages a day (busiest day {day})": "单日最多 {peak} 条消息（{day}）",
    "Welcome every newcomer by name within the hour and ask them to introduce themselves.": (
        "每位新成员入群一小时内点名欢迎，并请其做自我介绍。"
    ),
    "{unwelcomed} of {joined} newcomers were not welcomed within 24 hours": (
        "{joined} 位新成员中有 {unwelcomed} 位在 24 小时内未被欢迎"
    ),
    "Ask newcomers for a self-introduction in the welcome, with a template to copy.": (
        "在欢迎语中请新成员自我介绍，并附上可直接套用的模板。"
    ),
    "{silent} of {joined} newcomers did not speak within 72 hours of joining": (
        "{joined} 位新成员中有 {silent} 位入群 72 小时内未发言"
    ),
    "Remove ads at once and remove their senders: one ad drives good members away.": (
        "立即删除广告并移出发广告者：一条广告就会赶走优质成员。"
    ),
    "{ads} messages with ad words from {senders} members": (
        "{senders} 位成员发送了 {ads} 条含广告词的消息"
    ),
    "Wake the silent majority: a daily easy topic, @mention members on what concerns them, "
    "and a small red packet or activity at a fixed time.": (
        "唤醒沉默的大多数：每天一个轻松话题，@相关成员，在固定时间发小红包或做活动。"
    ),
    "{share:.0%} of members did not speak ({active} of {members} did)": (
        "{share:.0%} 的成员未发言（{members} 人中 {active} 人发言）"
    ),
    "A few members carry the group: invite others into topics, give the quiet ones questions "
    "they can answer, and make helpers of the next most active.": (
        "少数成员撑起了整个群：把其他人拉进话题，给安静的成员能回答的问题，让次活跃成员担任帮手。"
    ),
    "{factor} of {speakers} speakers wrote half of all messages": (
        "{speakers} 位发言者中 {factor} 位写了一半的消息"
    ),
    "Split the group by interest or region, led by its most active local members.": (
        "按兴趣或地区拆分群，由当地最活跃的成员带领。"
    ),
    "{active} members active in the last 30 days, above about {limit} stable relationships": (
        "近 30 天活跃成员 {active} 人，超过约 {limit} 个稳定关系"
    ),
    "This temporary group has outlived its event: close it, or move its keenest members into a "
    "long-term group.": ("这个临时群已超过活动周期：解散它，或把最积极的成员转入长期群。"),
    "{days} days since it started; a temporary group lives about {life}": (
        "开始至今 {days} 天；临时群的生命周期约 {life} 天"
    ),
    "Reach out to slipping KOLs and core members in private: ask what changed, give them a role.": (
        "私下联系流失中的 KOL 和核心成员：了解变化，给他们一个角色。"
    ),
    "{n} once very active members silent for 30 days: {names}": (
        "{n} 位曾经非常活跃的成员已沉默 30 天：{names}"
    ),
    "Members talk to the owner, not to each other: ask open questions, pair members with "
    "shared interests, and let members answer members.": (
        "成员只和群主说话，彼此之间不交流：提开放式问题，让兴趣相投的成员结对，让成员回答成员。"
    ),
    "owner and admins wrote {broadcast:.0%} of messages; member-to-member interactions "
    "{peer:.0%}": ("群主和管理员发了 {broadcast:.0%} 的消息；成员之间的互动占 {peer:.0%}"),
}
i18n.register(_ZH)


@dataclass
class Figures:
    """The numbers the diagnosis reads, gathered by `report` from `metrics` and `people`."""

    name: str
    kind_setting: str
    span_days: int
    members: int
    roster_known: bool
    active: int
    active_recent: int
    messages_recent: int
    messages_before: int | None  # the 30 days before the recent 30; None: window too short
    peak_daily: int
    peak_day: str
    newcomers: dict[str, int]
    ads: int
    ad_senders: int
    lurker_ratio: float | None
    absence_factor: int
    speakers: int
    slipping_names: list[str]
    kol_names: list[str]
    broadcast: float | None
    peer: float | None
    health_inputs: dict[str, float | None]


def kind(f: Figures) -> tuple[str, str]:
    if f.kind_setting in ("temporary", "long_term"):
        return f.kind_setting, tr("set by the operator")
    found = TEMPORARY_WORDS.search(f.name)
    if found:
        return "temporary", tr("name suggests an event ({word})", word=found.group(0))
    if f.span_days <= TEMPORARY_SPAN_DAYS:
        return "temporary", tr("history spans {days} days", days=f.span_days)
    return "long_term", tr("history spans {days} days", days=f.span_days)


def stage(f: Figures) -> tuple[str, str]:
    before, after = f.messages_before, f.messages_recent
    if before is not None and before >= DECLINE_MIN_MESSAGES and after < before * DECLINE_RATIO:
        return "declining", tr(
            "messages fell from {before} to {after} in the last 30 days", before=before, after=after
        )
    if f.members < SEED_MEMBERS:
        return "founding", tr(
            "{members} members, below {seed}", members=f.members, seed=SEED_MEMBERS
        )
    if f.members > CAPACITY:
        return "over_capacity", tr(
            "{members} members, above {limit}", members=f.members, limit=CAPACITY
        )
    if f.members < MID_LATE_FROM:
        return "early", tr("{members} members", members=f.members)
    return "mid_late", tr("{members} members", members=f.members)


def health(f: Figures, group_kind: str = "long_term") -> tuple[int, list[dict[str, object]]]:
    factor = next(k for limit, k in SIZE_FACTOR if limit is None or f.members < limit)
    detail: list[dict[str, object]] = []
    for metric, spec in HEALTH_CUTS.items():
        value = f.health_inputs.get(metric)
        if value is None or (metric in TEMPORARY_UNSCORED and group_kind == "temporary"):
            continue
        cuts = spec["cuts"]
        if metric in ("monthly_active_share", "stickiness"):
            cuts = tuple(c * factor for c in cuts)
        if spec.get("lower"):
            score = sum(1 for c in cuts if value <= c)
        else:
            score = sum(1 for c in cuts if value >= c)
        detail.append({"metric": metric, "value": value, "score": score})
    if not detail:
        return 0, detail
    return round(100 * sum(int(d["score"]) for d in detail) / (5 * len(detail))), detail  # type: ignore[call-overload]


def advice(f: Figures, group_kind: str) -> list[dict[str, str]]:
    items: list[dict[str, str]] = []

    def add(code: str, rule: str, text: str, reason: str) -> None:
        items.append({"code": code, "text": text, "reason": reason, "rule": rule})

    if f.members < SEED_MEMBERS:
        add(
            "SEED_FIRST",
            "PLAYBOOK §2.1",
            tr(
                "Recruit at least {seed} seed members from your existing channels before "
                "expecting talk; post the group rules (purpose, positioning, prohibitions, at "
                "most 100 characters).",
                seed=SEED_MEMBERS,
            ),
            tr("{members} members now", members=f.members),
        )
    if f.peak_daily > VICE_OWNER_DAILY:
        add(
            "APPOINT_VICE_OWNERS",
            "PLAYBOOK §2.2",
            tr(
                "Appoint 2-3 vice owners and duty owners from your KOLs ({names}), split the "
                "duties and hold a management meeting.",
                names=", ".join(f.kol_names[:3]) or "-",
            ),
            tr(
                "up to {peak} messages a day (busiest day {day})", peak=f.peak_daily, day=f.peak_day
            ),
        )
    joined = f.newcomers["joined"]
    if joined >= 3 and f.newcomers["not_welcomed"] > UNWELCOMED_SHARE * joined:
        add(
            "WELCOME_NEWCOMERS",
            "PLAYBOOK §2.2",
            tr(
                "Welcome every newcomer by name within the hour and ask them to introduce "
                "themselves."
            ),
            tr(
                "{unwelcomed} of {joined} newcomers were not welcomed within 24 hours",
                unwelcomed=f.newcomers["not_welcomed"],
                joined=joined,
            ),
        )
    if joined >= 3 and f.newcomers["no_introduction"] > UNINTRODUCED_SHARE * joined:
        add(
            "ASK_INTRODUCTIONS",
            "PLAYBOOK §2.2",
            tr("Ask newcomers for a self-introduction in the welcome, with a template to copy."),
            tr(
                "{silent} of {joined} newcomers did not speak within 72 hours of joining",
                silent=f.newcomers["no_introduction"],
                joined=joined,
            ),
        )
    if f.ads:
        add(
            "REMOVE_ADS",
            "PLAYBOOK §3",
            tr("Remove ads at once and remove their senders: one ad drives good members away."),
            tr(
                "{ads} messages with ad words from {senders} members",
                ads=f.ads,
                senders=f.ad_senders,
            ),
        )
    if f.roster_known and f.lurker_ratio is not None and f.lurker_ratio > LURKER_SHARE:
        add(
            "WAKE_LURKERS",
            "PLAYBOOK §2.2",
            tr(
                "Wake the silent majority: a daily easy topic, @mention members on what concerns "
                "them, and a small red packet or activity at a fixed time."
            ),
            tr(
                "{share:.0%} of members did not speak ({active} of {members} did)",
                share=f.lurker_ratio,
                active=f.active,
                members=f.members,
            ),
        )
    if f.speakers >= MIN_SPEAKERS and f.absence_factor <= max(2, CARRIED_SHARE * f.speakers):
        add(
            "FEW_CARRY_GROUP",
            "PLAYBOOK §3",
            tr(
                "A few members carry the group: invite others into topics, give the quiet ones "
                "questions they can answer, and make helpers of the next most active."
            ),
            tr(
                "{factor} of {speakers} speakers wrote half of all messages",
                factor=f.absence_factor,
                speakers=f.speakers,
            ),
        )
    if f.active_recent > DUNBAR_ACTIVE:
        add(
            "SPLIT_GROUP",
            "PLAYBOOK §3",
            tr("Split the group by interest or region, led by its most active local members."),
            tr(
                "{active} members active in the last 30 days, above about {limit} stable "
                "relationships",
                active=f.active_recent,
                limit=DUNBAR_ACTIVE,
            ),
        )
    if group_kind == "temporary" and f.span_days > TEMPORARY_LIFE_DAYS:
        add(
            "TEMPORARY_PAST_LIFE",
            "PLAYBOOK §1",
            tr(
                "This temporary group has outlived its event: close it, or move its keenest "
                "members into a long-term group."
            ),
            tr(
                "{days} days since it started; a temporary group lives about {life}",
                days=f.span_days,
                life=TEMPORARY_LIFE_DAYS,
            ),
        )
    if f.slipping_names:
        add(
            "SLIPPING_KOLS",
            "PLAYBOOK §2.2",
            tr(
                "Reach out to slipping KOLs and core members in private: ask what changed, give "
                "them a role."
            ),
            tr(
                "{n} once very active members silent for 30 days: {names}",
                n=len(f.slipping_names),
                names=", ".join(f.slipping_names[:5]),
            ),
        )
    if (
        f.broadcast is not None
        and f.peer is not None
        and f.broadcast > BROADCAST_SHARE
        and f.peer < PEER_SHARE
    ):
        add(
            "NOT_A_COMMUNITY",
            "PLAYBOOK §3",
            tr(
                "Members talk to the owner, not to each other: ask open questions, pair members "
                "with shared interests, and let members answer members."
            ),
            tr(
                "owner and admins wrote {broadcast:.0%} of messages; member-to-member "
                "interactions {peer:.0%}",
                broadcast=f.broadcast,
                peer=f.peer,
            ),
        )
    return items
