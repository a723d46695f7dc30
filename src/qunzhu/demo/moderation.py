"""A scripted day of moderation in the demo community, so the console's moderation pages have
something to show on a first look: the queue, the scorecard, the blocklist, the group pages.

The imported history is only chat; this runs a few hand-written events of the last day through
the same live policies `qunzhu run` uses, one group per mode: the first enforces (with the
entry question), the second is in training (its decisions wait in the queue for an answer),
the third in shadow (it only records); a member posts a poster whose contact is written in
the picture (read as `qunzhu run` reads pictures), and late in the day a wave of bots raids
the first; in the second a newcomer with an ad in their bio arrives, a member insults another,
and another edits a greeting into an ad; the operator upholds one removal (the ad's contact
is then a known one). The groups' settings are stored as the console stores them. Nothing is
sent anywhere: the demo has no platform, so what the policies asked of one is marked done as if it
had been, and what asks a person becomes a task. Events carry fixed ids, so running the demo
again adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Engine, select, update

from qunzhu.config import PolicySettings
from qunzhu.engine import outbox
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
)
from qunzhu.model.live import ActionKind, Edit, LiveEvent
from qunzhu.service import policies_of
from qunzhu.store import appeals, blocklist
from qunzhu.store import schema as t

CONNECTOR = "demo"
DEMO_DAY = timedelta(hours=20)  # the scripted day ends now
QUESTION, ANSWER = "我们俱乐部每周六早上一起做什么？", "跑步"
SETTINGS = (  # the first three groups, in the order they were imported
    {
        "moderation": {"mode": "enforce"},
        "captcha": {"question": QUESTION, "answers": [ANSWER], "tries": 2},
        "raid": {"joins": 5, "window_s": 60, "lock_min": 30, "mute_all": True},
        "welcome": {},
    },
    {"moderation": {"mode": "training"}, "welcome": {}},
    {"moderation": {"mode": "shadow"}},
)
AD = "代购名牌包包，原单正品，加微信 abc12345 详聊"
LOAN = "低息贷款，无抵押当天放款，电话 138 1234 5678"
JOBS = "兼职刷单日结300，宝妈学生都可以，加V：vx_job888"
LINK = "大家看看这个 https://example.com/promo"
GROUP_LINK = "跑团新群，加我微信 pao-cd-2026 拉你进群，别加错了"
APPEAL = "这是我们跑团自己的新群，我在群里跑了两年了，不是广告，麻烦恢复一下"
SLY = "有需要的朋友私聊我，好东西不便宜"
POSTER = "名额有限，详情看图"  # the caption of a poster whose contact is in the picture
INSULT = "你就是个傻逼，懂什么跑步"
HELLO, EDITED = "周末一起跑步的朋友举手", "周末一起跑步的朋友举手，顺便招兼职日结，加V：vx_job888"
AD_BIO = "兼职日结，日赚300，加V abc12345"  # a newcomer's profile bio (Telegram)


@dataclass(frozen=True)
class _Place:
    group: Group
    store_id: int
    regulars: tuple[Person, ...]  # the group's busiest members in the imported history


def moderation_day(engine: Engine, community: str, now: datetime | None = None) -> int:
    """Run the scripted day in the community's first groups; the decisions it made (0 when
    the events were there already, or the community has no group)."""
    now = now or datetime.now(UTC)
    places = _places(engine, community)
    if not places:
        return 0
    _store_settings(engine, places)
    setups = Setups(
        {
            (CONNECTOR, p.group.platform_id): GroupSetup(
                policies_of(PolicySettings.model_validate(raw))
            )
            for p, raw in zip(places, SETTINGS, strict=False)
        }
    )
    start = now - DEMO_DAY
    clock = _Clock(start)
    rt = Runtime(engine, setups, {}, clock)
    with engine.connect() as conn:
        before = conn.execute(select(t.decisions.c.id).order_by(t.decisions.c.id.desc())).scalar()
    for offset, event in _script(places, start):
        clock.at = start + offset
        rt.accept(event)
        rt.process()
    rt.reader.wait()  # the poster's text, read beside the event path
    rt.process()
    rt.reader.close()
    _as_if_done(engine, before or 0)
    _block_the_bot(engine, places[0], community, now)
    _uphold_the_ad(engine, places[0], now)
    _appeal_the_group_link(engine, places[0], now)
    with engine.connect() as conn:
        after = conn.execute(select(t.decisions.c.id).order_by(t.decisions.c.id.desc())).scalar()
    return (after or 0) - (before or 0)


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


def _places(engine: Engine, community: str) -> list[_Place]:
    g, c, ms, m = t.groups, t.communities, t.memberships, t.members
    with engine.connect() as conn:
        rows = conn.execute(
            select(g.c.id, g.c.platform, g.c.platform_id, g.c.name)
            .join(c, c.c.id == g.c.community_id)
            .where(c.c.name == community)
            .order_by(g.c.id)
            .limit(len(SETTINGS))
        ).all()
        places = []
        for row in rows:
            busiest = conn.execute(
                select(m.c.external_id, m.c.display_name)
                .join(ms, ms.c.member_id == m.c.id)
                .where(ms.c.group_id == row.id, ms.c.left_at.is_(None))
                .order_by(ms.c.message_count.desc(), m.c.id)
                .limit(3)
            ).all()
            group = Group(Platform(row.platform), row.platform_id, row.name)
            regulars = tuple(Person(r.external_id, r.display_name) for r in busiest)
            places.append(_Place(group, row.id, regulars))
    return [p for p in places if len(p.regulars) == 3]


def _store_settings(engine: Engine, places: Sequence[_Place]) -> None:
    """Each group's mode, as the console stores it; a group whose settings someone changed
    since (a demo run again) keeps them."""
    gs = t.group_settings
    at = int(datetime.now(UTC).timestamp() * 1000)
    with engine.begin() as conn:
        kept = set(conn.execute(select(gs.c.group_id)).scalars())
        for place, raw in zip(places, SETTINGS, strict=False):
            if place.store_id in kept:
                continue
            policies = PolicySettings.model_validate(raw).model_dump(mode="json")
            conn.execute(
                gs.insert().values(
                    group_id=place.store_id,
                    policies=orjson.dumps(policies).decode(),
                    updated_at=at,
                    updated_by="demo",
                )
            )


def _script(places: Sequence[_Place], start: datetime) -> list[tuple[timedelta, LiveEvent]]:
    """The day, in order: (time after `start`, event)."""
    out: list[tuple[timedelta, LiveEvent]] = []

    def at(minutes: float) -> timedelta:
        return timedelta(minutes=minutes)

    def say(place: _Place, minutes: float, n: str, who: Person, text: str) -> None:
        record = Message(f"demo-{n}", who, start + at(minutes), MessageKind.TEXT, text)
        out.append((at(minutes), LiveEvent(CONNECTOR, place.group, record)))

    def edit(place: _Place, minutes: float, n: str, who: Person, sent: float, text: str) -> None:
        message = Message(f"demo-{n}", who, start + at(sent), MessageKind.TEXT, text)
        record = Edit(message.platform_id, who, start + at(minutes), message)
        out.append((at(minutes), LiveEvent(CONNECTOR, place.group, record)))

    def arrive(place: _Place, minutes: float, n: str, who: Person, bio: str = "") -> None:
        when = start + at(minutes)
        record = MembershipEvent(f"demo-{n}", who, MembershipAction.JOIN, when, JoinMethod.LINK)
        out.append((at(minutes), LiveEvent(CONNECTOR, place.group, record, bio=bio)))

    first = places[0]
    runner = Person("demo-newcomer", "城东-设计-小林")
    bot = Person("demo-bot", "兼职招聘888")
    arrive(first, 10, "j1", runner)
    say(first, 11, "1", runner, ANSWER)  # answered: stays, and is welcomed
    arrive(first, 60, "j2", bot)
    say(first, 61, "2", bot, JOBS)  # taken down: no answer yet
    say(first, 62, "3", bot, "加V看简介")  # the second wrong try: removed
    sly, boss = first.regulars[2], first.regulars[0]
    say(first, 100, "15", sly, GROUP_LINK)  # the group's own new group, taken for an ad:
    # deleted and warned; the member appeals in private (`_appeal_the_group_link`)
    say(first, 120, "4", first.regulars[1], AD)  # a regular's ad: deleted and warned
    poster = Message("demo-12", first.regulars[1], start + at(200), MessageKind.IMAGE, POSTER)
    pictured = LiveEvent(CONNECTOR, first.group, poster, kinds=frozenset({"image"}))
    pictured.images = (_poster(),)
    out.append((at(200), pictured))  # nothing in its caption: the poster's text asks the admins
    say(first, 300, "5", sly, SLY)  # passes the detector...
    report = LiveEvent(
        CONNECTOR,
        first.group,
        Message("demo-6", boss, start + at(305), MessageKind.TEXT, "举报", "demo-5"),
        role="admin",
    )
    out.append((at(305), report))  # ...until an admin reports it
    for i in range(6):  # a wave of bots: the fifth starts a lockdown, the first four go too
        arrive(first, 900 + i / 6, f"j-raid{i}", Person(f"demo-raider{i}", f"福利群{i}号"))
    if len(places) > 1:
        second = places[1]
        say(second, 400, "7", second.regulars[1], LOAN)
        say(second, 420, "8", second.regulars[2], LINK)
        arrive(second, 450, "j3", Person("demo-bio", "小雨"), AD_BIO)  # asked: an ad in the bio
        say(second, 500, "13", second.regulars[0], INSULT)  # asked: training holds it
        say(second, 520, "14", second.regulars[2], HELLO)  # passes...
        edit(second, 530, "14", second.regulars[2], 520, EDITED)  # ...until edited into an ad
        say(second, 600, "9", second.regulars[1], AD)
    if len(places) > 2:
        third = places[2]
        say(third, 700, "10", third.regulars[1], JOBS)
        say(third, 720, "11", third.regulars[2], LINK)
    return out


def _poster() -> bytes:
    """An ad poster as a phone sends it: a contact written on a picture (Latin letters, which
    every machine has a font for)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (800, 1000), (250, 236, 210))
    draw = ImageDraw.Draw(image)
    face = ImageFont.load_default(56)
    draw.rectangle((40, 380, 760, 620), (255, 255, 255))
    draw.text((70, 420), "VX: qz2026demo", fill=(180, 20, 20), font=face)
    draw.text((70, 520), "Tel 13800138000", fill=(20, 20, 20), font=face)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _as_if_done(engine: Engine, after_decision: int) -> None:
    """No platform carries the demo's actions out: mark them done as if one had, seconds after
    they were queued; what asks a person becomes a task."""
    o = t.outbox
    with engine.begin() as conn:
        rows = conn.execute(
            select(o.c.id, o.c.kind, o.c.due_at).where(
                o.c.decision_id > after_decision, o.c.status == outbox.PENDING
            )
        ).all()
        for row in rows:
            if row.kind == ActionKind.NOTIFY_OWNER.value:
                conn.execute(update(o).where(o.c.id == row.id).values(status=outbox.TASK))
            else:
                done = {"status": outbox.DONE, "attempts": 1, "done_at": row.due_at + 4_000}
                conn.execute(update(o).where(o.c.id == row.id).values(**done))


def _uphold_the_ad(engine: Engine, place: _Place, now: datetime) -> None:
    """The operator looked at the regular's ad the enforcing group took down and said the
    action was right: its text and its WeChat id are known from then on (the console's known
    contacts), and the answer can be withdrawn on the answers page."""
    d, ml = t.decisions, t.moderation_labels
    with engine.begin() as conn:
        decision = conn.execute(
            select(d.c.id).where(
                d.c.group_id == place.store_id,
                d.c.record_id == "demo-4",
                d.c.policy == "moderation",
            )
        ).scalar()
        answered = select(ml.c.decision_id).where(ml.c.decision_id == decision)
        if decision is None or conn.execute(answered).first() is not None:
            return  # a demo run again answers nothing twice
        conn.execute(
            ml.insert().values(
                decision_id=decision,
                label="appeal_rejected",
                text=AD,
                user_name="demo",
                at=int(now.timestamp() * 1000),
                note="",
            )
        )


def _appeal_the_group_link(engine: Engine, place: _Place, now: datetime) -> None:
    """The regular whose post of the group's own new group was taken down wrote to the bot in
    private: the console's 成员申诉 shows it, waiting for the operator's answer."""
    member = place.regulars[2].user_id
    if member is None:
        return
    with engine.begin() as conn:
        appeals.receive(conn, CONNECTOR, member, APPEAL, int(now.timestamp() * 1000))


def _block_the_bot(engine: Engine, place: _Place, community: str, now: datetime) -> None:
    """The operator put the job-ad bot on the community's blocklist after it was removed."""
    m, c = t.members, t.communities
    with engine.begin() as conn:
        member = conn.execute(
            select(m.c.id).where(
                m.c.platform == place.group.platform.value, m.c.external_id == "demo-bot"
            )
        ).scalar()
        community_id = conn.execute(select(c.c.id).where(c.c.name == community)).scalar()
        if member is None or community_id is None:
            return
        blocklist.add(
            conn,
            community_id,
            member,
            "入群验证未通过，发兼职刷单广告",
            group_id=place.store_id,
            added_by="demo",
            at=int(now.timestamp() * 1000),
        )
