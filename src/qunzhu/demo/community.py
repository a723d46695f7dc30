"""A made-up but realistic community, as a stream of model records, at any size.

What makes it realistic enough to demo and benchmark the product on:
- activity is heavy-tailed: a few members write most messages (Pareto weights), many lurk;
- a handful of KOLs get replied to and @-mentioned far more than others;
- members join by link, invitation and approval over time; some leave, ad posters get kicked;
- a few ads (代购, 微商, "加V") arrive from fresh accounts, as in any unmoderated group;
- talk follows the day: quiet at night, busy at lunch and in the evening (Asia/Shanghai).
Everything is driven by one seeded RNG, so the same arguments always give the same community.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from qunzhu.model import (
    Group,
    GroupKind,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
    Record,
)

START = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
GROUP_NAMES = [
    ("跑步俱乐部·城东分队", GroupKind.LONG_TERM),
    ("新品体验官 3 群", GroupKind.TEMPORARY),
    ("宝妈育儿交流群", GroupKind.LONG_TERM),
    ("保险知识分享 2 群", GroupKind.LONG_TERM),
    ("双十一福利群", GroupKind.TEMPORARY),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉晨思雨欣怡子涵浩然一诺梓轩"
NICK_SUFFIX = ["", "", "", "🌸", "-上海", "-杭州", "(宝妈)", "_跑者", "·北京", "-深圳"]
CHATTER = [
    "早上好呀各位",
    "今天天气真不错",
    "晚上好，大家吃了吗",
    "哈哈哈哈笑死我了",
    "同意楼上",
    "有人一起吗？",
    "收到，谢谢群主",
    "周末有什么安排",
    "这个我也想知道",
    "打卡 ✅",
    "辛苦了",
    "太棒了👍",
    "我刚到家",
    "明天见～",
]
QUESTIONS = [
    "请问{thing}怎么选比较好？",
    "有没有人用过{thing}，效果怎么样？",
    "{thing}哪里买比较靠谱？",
    "新手想问下{thing}要注意什么",
    "{thing}最近有活动吗？",
]
ANSWERS = [
    "{thing}的话我建议先看看自己的需求，别一上来就买贵的",
    "我用了半年{thing}，整体还行，就是售后有点慢",
    "之前群里讨论过{thing}，可以翻翻聊天记录",
    "{thing}我有经验，私聊也可以，群里说也行：先小量试试",
    "官方渠道买{thing}最稳，别信来路不明的低价",
]
FEEDBACK = [
    "建议{thing}出个小包装，一次用不完",
    "{thing}的物流太慢了，等了一周",
    "希望{thing}能多几个颜色",
    "{thing}客服回复很及时，点赞",
]
THINGS = [
    "跑鞋",
    "奶粉",
    "重疾险",
    "护肤品",
    "儿童座椅",
    "运动手表",
    "保温杯",
    "新品面膜",
    "蛋白粉",
]
ADS = [
    "代购各种大牌化妆品，正品保证，加V：{wx}",
    "微商招代理，在家就能做，日入三百不是梦，私聊我",
    "兼职刷单，一单一结，有意者加微信 {wx}",
    "低价出售会员卡，需要的联系 {wx}",
    "点击领取红包 http://hb{n}.example.cn/get 先到先得",
]
LINKS = ["https://example.com/post/{n}", "https://example.org/guide/{n}"]
_KIND_WEIGHTS = [
    (MessageKind.TEXT, 80),
    (MessageKind.IMAGE, 9),
    (MessageKind.STICKER, 5),
    (MessageKind.VOICE, 2),
    (MessageKind.VIDEO, 1),
    (MessageKind.LINK, 2),
    (MessageKind.FILE, 1),
]
# Share of messages per hour of the local day: quiet nights, busy lunch and evening.
_HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 10, 9, 8, 9, 12, 10, 7, 7, 7, 8, 10, 14, 16, 15, 10, 4]


@dataclass
class DemoMember:
    user_id: str
    name: str
    weight: float
    username: str
    kol: bool = False
    spammer: bool = False
    names: list[str] = field(default_factory=list)

    def person(self) -> Person:
        return Person(self.user_id, self.name)


@dataclass
class DemoStats:
    """What the generator produced, to check importers against."""

    groups: int = 0
    messages: int = 0
    joins: int = 0
    leaves: int = 0
    kicks: int = 0
    ads: int = 0
    members: set[str] = field(default_factory=set)


class _Roster:
    """The group's current members, with weighted picks in O(log n) between changes."""

    def __init__(self) -> None:
        self.by_id: dict[str, DemoMember] = {}
        self._list: list[DemoMember] = []
        self._cum: list[float] = []

    def add(self, member: DemoMember) -> None:
        self.by_id[member.user_id] = member
        self._cum = []

    def remove(self, member: DemoMember) -> None:
        del self.by_id[member.user_id]
        self._cum = []

    def __len__(self) -> int:
        return len(self.by_id)

    def members(self) -> list[DemoMember]:
        if not self._cum:
            self._list = list(self.by_id.values())
            self._cum = list(accumulate(m.weight for m in self._list))
        return self._list

    def pick(self, rng: random.Random) -> DemoMember:
        members = self.members()
        return rng.choices(members, cum_weights=self._cum)[0]


class DemoCommunity:
    """Iterate it for the records; read `stats` and `members` afterwards."""

    def __init__(
        self,
        messages: int = 3000,
        groups: int = 3,
        days: int = 30,
        seed: int = 7,
        platform: Platform = Platform.TELEGRAM,
        until: datetime | None = None,
    ) -> None:
        """`until`: the last group's history ends in the day before it (a console shown today
        wants its groups lively up to yesterday): the fixed calendar from `START`, moved by
        whole days, so the community is the same and its days keep their rhythm."""
        self.total_messages = messages
        self.group_count = max(1, groups)
        self.days = days
        self.start = START
        if until is not None:
            self.start += timedelta(days=(until - START - self._span()) // timedelta(days=1))
        self.seed = seed
        self.platform = platform
        self.stats = DemoStats()
        self.members: dict[str, DemoMember] = {}

    def _span(self) -> timedelta:
        """From `start` to the end of the group that ends last."""
        return max(self._offset(i) + timedelta(days=self._days(i)) for i in range(self.group_count))

    def _offset(self, index: int) -> timedelta:
        return timedelta(days=index * 2, minutes=index * 17)

    def _days(self, index: int) -> int:
        kind = GROUP_NAMES[index % len(GROUP_NAMES)][1]
        return 7 if kind is GroupKind.TEMPORARY else self.days

    def __iter__(self) -> Iterator[Record]:
        rng = random.Random(self.seed)
        self.stats = DemoStats()
        self.members = {}
        per_group = _split(self.total_messages, self.group_count, rng)
        for index in range(self.group_count):
            yield from self._group(index, per_group[index], rng)

    # -- people ---------------------------------------------------------------------------

    def _new_member(self, rng: random.Random, spammer: bool = False) -> DemoMember:
        n = len(self.members) + 1
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        name += rng.choice(NICK_SUFFIX)
        if spammer:
            name = rng.choice(["优惠小助手", "好物分享", "美妆代购", "兼职招聘"]) + str(n)
        member = DemoMember(
            user_id=f"user{10_000 + n}",
            name=name,
            weight=0.05 if spammer else rng.paretovariate(1.2),
            username=f"u{10_000 + n}",
            spammer=spammer,
            names=[name],
        )
        self.members[member.user_id] = member
        return member

    # -- one group ------------------------------------------------------------------------

    def _group(self, index: int, budget: int, rng: random.Random) -> Iterator[Record]:
        title, kind = GROUP_NAMES[index % len(GROUP_NAMES)]
        if index >= len(GROUP_NAMES):
            title = f"{title} ({index // len(GROUP_NAMES) + 1})"
        start = self.start + self._offset(index)
        end = start + timedelta(days=self._days(index))
        seq = 0

        def next_id() -> str:
            nonlocal seq
            seq += 1
            return str(seq)

        self.stats.groups += 1
        yield Group(self.platform, str(1_700_000_000 + index), title, kind, start)

        size = max(12, min(480, budget // 25 + 20))
        owner = self._new_member(rng)
        owner.weight = max(owner.weight, 3.0)
        active = _Roster()

        def join(member: DemoMember, at: datetime, method: JoinMethod, actor: DemoMember | None):
            active.add(member)
            self.stats.joins += 1
            self.stats.members.add(member.user_id)
            return MembershipEvent(
                f"{next_id()}:0",
                member.person(),
                MembershipAction.JOIN,
                at,
                method=method,
                actor=actor.person() if actor else None,
            )

        yield join(owner, start, JoinMethod.CREATED, None)
        founders = [self._new_member(rng) for _ in range(max(3, size // 6))]
        for member in founders:
            yield join(member, start, JoinMethod.FOUNDER, owner)
        kols = sorted(founders, key=lambda m: -m.weight)[: max(1, size // 60)]
        for kol in kols:
            kol.kol = True
            kol.weight *= 4

        # Joins spread over the group's life, each a plan of (time, member, method, inviter).
        arrivals = sorted(
            (start + (end - start) * rng.random() ** 1.6, i) for i in range(size - len(founders))
        )
        spam_at = {i for i in range(len(arrivals)) if rng.random() < 0.04}
        times = sorted(_message_times(start, end, budget, rng))
        arrival_i = 0
        recent: list[tuple[str, DemoMember]] = []
        for at in times:
            while arrival_i < len(arrivals) and arrivals[arrival_i][0] <= at:
                when = arrivals[arrival_i][0]
                spammer = arrival_i in spam_at
                member = self._new_member(rng, spammer=spammer)
                method = rng.choices(
                    [JoinMethod.LINK, JoinMethod.INVITE, JoinMethod.APPROVE], [5, 4, 1]
                )[0]
                inviter = None
                if method is JoinMethod.INVITE:
                    inviter = rng.choice(active.members())
                elif method is JoinMethod.LINK:
                    inviter = owner
                yield join(member, when, method, inviter)
                arrival_i += 1
                if spammer:
                    yield self._ad(next_id(), member, when + timedelta(minutes=1), rng)
                    active.remove(member)
                    self.stats.kicks += 1
                    yield MembershipEvent(
                        f"{next_id()}:0",
                        member.person(),
                        MembershipAction.KICK,
                        when + timedelta(minutes=3),
                        actor=owner.person(),
                    )
            if len(active) > 8 and rng.random() < 0.004:
                leaver = rng.choice([m for m in active.members() if m is not owner])
                active.remove(leaver)
                self.stats.leaves += 1
                yield MembershipEvent(f"{next_id()}:0", leaver.person(), MembershipAction.LEAVE, at)
            if rng.random() < 0.002:  # someone changes their group nickname
                member = rng.choice(active.members())
                member.name = member.names[0].split("-")[0] + rng.choice(["-上海", "-北京", "🌟"])
                member.names.append(member.name)
            sender = active.pick(rng)
            msg = self._message(next_id(), sender, at, recent, active, rng)
            recent.append((msg.platform_id, sender))
            if len(recent) > 30:
                recent.pop(0)
            yield msg

    def _ad(self, msg_id: str, member: DemoMember, at: datetime, rng: random.Random) -> Message:
        self.stats.messages += 1
        self.stats.ads += 1
        text = rng.choice(ADS).format(wx=f"wx{rng.randint(10000, 99999)}", n=rng.randint(1, 99))
        urls = tuple(w for w in text.split() if w.startswith("http"))
        return Message(
            msg_id,
            member.person(),
            at,
            MessageKind.LINK if urls else MessageKind.TEXT,
            text,
            urls=urls,
        )

    def _message(
        self,
        msg_id: str,
        sender: DemoMember,
        at: datetime,
        recent: list[tuple[str, DemoMember]],
        active: _Roster,
        rng: random.Random,
    ) -> Message:
        self.stats.messages += 1
        kind = rng.choices([k for k, _ in _KIND_WEIGHTS], [w for _, w in _KIND_WEIGHTS])[0]
        thing = rng.choice(THINGS)
        reply_to = None
        mentions: tuple[str, ...] = ()
        urls: tuple[str, ...] = ()
        if sender.kol and recent and rng.random() < 0.5:
            reply_to = rng.choice(recent)[0]
            text = rng.choice(ANSWERS).format(thing=thing)
        elif recent and rng.random() < 0.22:
            # Replies go to KOLs far more often than to anyone else.
            weights = [12 if m.kol else 1 for _, m in recent]
            reply_to = rng.choices([mid for mid, _ in recent], weights)[0]
            text = rng.choice(CHATTER + ANSWERS).format(thing=thing)
        else:
            text = rng.choice(CHATTER * 2 + QUESTIONS + FEEDBACK).format(thing=thing)
        if rng.random() < 0.08:
            pool = active.members()
            target = max(rng.sample(pool, min(3, len(pool))), key=lambda m: m.weight)
            if target is not sender:
                mentions = (target.user_id,)
        if kind is MessageKind.LINK:
            urls = (rng.choice(LINKS).format(n=rng.randint(1, 9999)),)
            text = f"{text} {urls[0]}"
        elif kind is not MessageKind.TEXT and rng.random() < 0.6:
            text = ""
        return Message(
            msg_id,
            sender.person(),
            at,
            kind,
            text,
            reply_to=reply_to,
            mentions=mentions,
            urls=urls,
        )


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    shares = [int(total * w / sum(weights)) for w in weights]
    shares[0] += total - sum(shares)
    return shares


def _message_times(
    start: datetime, end: datetime, count: int, rng: random.Random
) -> list[datetime]:
    """`count` moments between start and end, following the daily rhythm (hours in UTC+8)."""
    span = (end - start).total_seconds()
    out: list[datetime] = []
    while len(out) < count:
        offset = rng.random() * span
        moment = start + timedelta(seconds=int(offset))
        hour = (moment.hour + 8) % 24
        if rng.random() * 16 < _HOUR_WEIGHTS[hour]:
            out.append(moment)
    return out
