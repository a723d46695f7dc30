"""Layers with memory: floods, repeats, the same ad across groups, drive-by newcomers, trust."""

from __future__ import annotations

from typing import Any

from qunzhu.moderation.behaviour import Behaviour, Context, SpamBank, TrustBook
from qunzhu.moderation.engine import Detector, Policy
from qunzhu.moderation.normalize import normalize
from qunzhu.moderation.verdicts import HAM, REVIEW, SPAM

T0 = 1_790_000_000.0


def live() -> Detector:
    return Detector(behaviour=Behaviour(), trust=TrustBook(clean_messages=3, hours=1))


def names(decision) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.name for c in decision.checks}


def test_flood_is_reviewed_then_removed() -> None:
    d = live()
    verdicts = [
        d.check(f"第{i}条消息，内容不同", Context("g1", "m1", T0 + i)).verdict for i in range(22)
    ]
    assert verdicts[:10] == [HAM] * 10  # ten a minute is still talk
    assert verdicts[10] == REVIEW and verdicts[-1] == SPAM


def test_flood_window_slides() -> None:
    d = live()
    for i in range(10):
        d.check(f"这是第{i}条消息", Context("g1", "m1", T0 + i))
    assert d.check("又一条新消息", Context("g1", "m1", T0 + 120)).verdict == HAM  # a minute later


def test_the_same_text_repeated() -> None:
    d = live()
    results = [
        d.check("快来看看", Context("g1", "m1", T0 + 30 * i, message=f"x{i}")) for i in range(6)
    ]
    assert [r.verdict for r in results] == [HAM, HAM, REVIEW, REVIEW, REVIEW, SPAM]
    assert "repeat" in names(results[2])
    # the copies that stayed up are named for the engine to take down with the sixth
    repeat = next(c for c in results[5].checks if c.name == "repeat")
    assert repeat.details["earlier"] == [["g1", f"x{i}"] for i in range(5)]
    assert "earlier" not in next(c for c in results[2].checks if c.name == "repeat").details


def test_a_message_judged_again_is_not_counted_again() -> None:
    """The engine processes a batch again after it failed: each message's second judging
    gives the first one's decision and adds nothing to what the member is counted for."""
    d = live()
    ctx = [Context("g1", "m1", T0 + 30 * i, message=f"x{i}") for i in range(3)]
    first = [d.check("快来看看", c) for c in ctx[:2]]
    again = [d.check("快来看看", c) for c in ctx[:2]]  # the batch that held them failed
    assert again == first and [r.verdict for r in first] == [HAM, HAM]
    third = d.check("快来看看", ctx[2])
    assert (
        third.verdict == REVIEW
        and next(c.details["times"] for c in third.checks if c.name == "repeat") == 3
    )  # three messages, not five
    edited = Context("g1", "m1", T0 + 100, message="x2", edited=True)
    assert d.check("快来看看 改了", edited).raw == "快来看看 改了"  # an edit is judged anew


def test_same_ad_across_groups_is_caught_even_when_reworded_slightly() -> None:
    """One member's text in three groups within a day is spam, in two a question; the same
    text from three members in three groups a question, asked once (a notice travels between
    groups by different hands)."""
    d = live()
    ad = "新到一批进口奶粉，价格美丽，需要的朋友联系群主看图"  # no contact, no ad word
    copies = [ad, ad + "！", ad.replace("价格美丽", "价格很美丽")]
    found = [
        d.check(text, Context(f"g{i}", "a", T0 + 60 * i, message=f"m{i}"))
        for i, text in enumerate(copies)
    ]
    assert [f.verdict for f in found] == [HAM, REVIEW, SPAM]
    cross = next(c for c in found[2].checks if c.name == "cross_group")
    assert cross.details == {
        "groups": 3,
        "same_member": True,
        "earlier": [["g0", "m0"], ["g1", "m1"]],
    }
    d = live()
    hands = [d.check(ad, Context(f"g{i}", f"m{i}", T0 + i)).verdict for i in range(5)]
    assert hands == [HAM, HAM, REVIEW, HAM, HAM]  # the third group asks, once


def test_short_common_phrases_are_not_cross_group_spam() -> None:
    d = live()
    verdicts = {d.check("早上好", Context(f"g{i}", f"m{i}", T0 + i)).verdict for i in range(5)}
    assert verdicts == {HAM}


def test_cross_group_memory_expires_after_a_day() -> None:
    d = live()
    ad = "新到一批进口奶粉，价格美丽，需要的朋友联系群主看图"
    d.check(ad, Context("g1", "a", T0))
    d.check(ad, Context("g2", "b", T0 + 1))
    later = d.check(ad, Context("g3", "c", T0 + 2 * 86400))
    assert later.verdict == HAM


def test_newcomer_posting_a_contact_at_once() -> None:
    d = live()
    ctx = Context("g1", "new", T0 + 30, joined_at=T0)
    decision = d.check("大家好 vx: abc12345", ctx)
    assert decision.verdict == SPAM and "newcomer_with_contact" in names(decision)
    old = Context("g1", "old", T0 + 30, joined_at=T0 - 86400)
    assert d.check("大家好 vx: abc12345", old).verdict == REVIEW  # a contact alone


def test_staff_skip_the_checks() -> None:
    d = live()
    decision = d.check("加微信 abc12345 代购", Context("g1", "boss", T0, role="admin"))
    assert decision.verdict == HAM
    assert [(c.name, c.details) for c in decision.checks] == [("trust", {"trusted": "staff"})]


def test_trust_is_earned_over_clean_messages_and_time_and_lost_on_spam() -> None:
    d = live()  # 3 clean messages over at least an hour
    for i in range(3):
        assert d.check(f"大家好，我是{i}号", Context("g1", "m", T0 + 60 * i)).verdict == HAM
    too_soon = d.check("加微信 abc12345 代购", Context("g1", "m", T0 + 600))
    assert too_soon.verdict == SPAM  # an hour has not passed: still checked, and reset
    for i in range(3):
        d.check(f"早上好，今天第{i}次", Context("g1", "m", T0 + 700 + i))
    earned = d.check("加微信 abc12345 代购", Context("g1", "m", T0 + 700 + 3700))
    assert earned.verdict == HAM and earned.checks[0].details == {"trusted": "earned"}


def test_short_messages_earn_no_trust_and_many_of_them_are_probing() -> None:
    d = live()  # trust after 3 clean messages over an hour
    shorts = [d.check(f"好{i}", Context("g1", "p", T0 + 600 * i)) for i in range(8)]
    assert [s.verdict for s in shorts] == [HAM] * 7 + [REVIEW]
    assert "short_probing" in names(shorts[-1])
    ad = d.check("加微信 abc12345 代购", Context("g1", "p", T0 + 3 * 3600))
    assert ad.verdict == SPAM  # eight "好" over hours earned nothing


def test_a_member_who_said_something_real_is_not_probing() -> None:
    d = live()
    d.check("大家好，我是做外贸的小王", Context("g1", "w", T0))
    verdicts = {d.check("收到", Context("g1", "w", T0 + 700 * i)).verdict for i in range(1, 12)}
    assert verdicts == {HAM}


def test_spam_bank_catches_rewordings_of_confirmed_spam() -> None:
    bank = SpamBank()
    confirmed = "新到一批进口奶粉，价格美丽，需要的朋友联系群主看图"
    bank.add(normalize(confirmed))
    d = Detector(policy=Policy(keywords={}), bank=bank)
    reworded = d.check("新到一批进口奶粉！！价格很美丽，需要的朋友联系群主看图")
    assert reworded.verdict == SPAM
    assert (
        next(c for c in reworded.checks if c.name == "spam_bank").details["like"].startswith("新到")
    )
    assert d.check("今天公园里的花开得真好看，大家周末一起去拍照吧").verdict == HAM
    assert d.check("好的").verdict == HAM  # too short to compare


def test_a_contact_from_a_confirmed_ad_is_spam_in_any_wording() -> None:
    """A farm rewrites its ads and keeps the WeChat id it sells through: a message, however
    short or new, giving a contact people confirmed in an ad is spam (a display name giving
    one a question). Not the ad's link's domain (a public account's articles are everyone's),
    and not once people said a message giving the contact was fine."""
    bank = SpamBank()
    new = bank.add(normalize("兼职日结300，加V：abc12345 https://mp.weixin.qq.com/s/x1y2z3"))
    assert new == 2  # the WeChat id and the link, not the domain
    d = Detector(policy=Policy(keywords={}), bank=bank)
    short = d.check("加v abc12345")
    assert short.verdict == SPAM
    known = next(c for c in short.checks if c.name == "known_contact")
    assert known.details["contacts"] == [{"kind": "wechat", "value": "abc12345"}]
    assert known.details["like"].startswith("兼职日结")
    assert d.check("看看这篇 https://mp.weixin.qq.com/s/another").verdict != SPAM
    assert bank.add(normalize("流量包5折 登录 wap.10010.com 或 https://shop.example/ 办理")) == 0
    assert d.check("您的流量已用完，登录 wap.10010.com 查询").verdict != SPAM  # a whole site
    # phishing quoting the bank's real hotline: its own link is known, the hotline is not
    phishing = "您的信用卡已冻结，请登录 https://icbc-kx.top/v 解冻，或致电 400-820-8820"
    assert bank.add(normalize(phishing)) == 1
    assert d.check("账单问题请致电客服 400-820-8820").verdict != SPAM
    assert d.check("解冻 https://icbc-kx.top/v").verdict == SPAM
    assert d.check("我的微信 xyz67890").verdict != SPAM
    for bare in ("找 abc12345 就对了", "ABC 123 45", "有事+abc12345"):  # no marker, spelt apart
        assert d.check(bare).verdict == SPAM, bare
    bank.add(normalize("低价代购 QQ：123456 私聊"))  # a short QQ number: only with its marker
    assert d.check("扣扣 123456").verdict == SPAM and d.check("房间号 123456").verdict != SPAM
    warned = d.check("大家别加 abc12345，是骗子")  # a member warning the group: a question
    assert warned.verdict == REVIEW
    assert d.check("我加了 abc12345 被骗了五百").verdict == REVIEW
    assert next(c for c in warned.checks if c.name == "known_contact").details["warning"] == "骗子"
    for other in ("xabc12345", "abc123456", "abc12345_v2"):  # a longer id is another id
        assert d.check(other).verdict != SPAM, other
    # a name giving it, too short for the bank's likeness: a question (it may be a member's
    # own number), where a name alike to a confirmed one is spam
    name = d.name_check("加V abc12345")
    assert name is not None and name.verdict == REVIEW and name.details["like"].startswith("兼职")
    assert d.name_check("小美") is None
    assert bank.add(normalize("再说一遍 加V：abc12345")) == 0  # known already
    assert bank.remove_like(normalize("找 abc12345")) == 1  # "not spam" on a message giving it
    assert d.check("加v abc12345").verdict != SPAM and d.check("abc12345").verdict != SPAM


def test_a_share_code_from_a_confirmed_ad_is_spam_again() -> None:
    """A shop's share code (淘口令) leads to the same page however the ad around it is worded."""
    bank = SpamBank()
    assert bank.add(normalize("今日特价 复制 ￥AbCd1234￥ 打开淘宝")) == 1
    d = Detector(policy=Policy(keywords={}), bank=bank)
    assert d.check("€AbCd1234€").verdict == SPAM
    assert d.check("复制 ￥XyZw9876￥ 打开淘宝").verdict == REVIEW  # another shop's: a question


def test_the_channel_a_confirmed_ad_was_forwarded_from_is_a_known_contact() -> None:
    """A farm forwards its channel's posts into the groups, reworded each time: once people
    confirm one, any forward from that channel is spam, and so is a message naming it. A
    forward from another channel is not, nor a message from that channel before anyone said
    anything; a "not spam" on a forward from it takes it back."""
    bank = SpamBank()
    d = Detector(policy=Policy(keywords={}), bank=bank)
    first = Context("g1", "m1", T0, kinds=frozenset({"forward"}), origin="fuli_vip")
    assert d.check("今晚八点直播，福利多多", first).verdict != SPAM  # nothing known yet
    assert bank.add(normalize("今晚八点直播，福利多多"), 7, origin="FuLi_VIP") == 1
    later = Context("g2", "m2", T0 + 60, kinds=frozenset({"forward"}), origin="fuli_vip")
    reworded = d.check("周末见", later)
    assert reworded.verdict == SPAM
    known = next(c for c in reworded.checks if c.name == "known_contact")
    assert known.details["origin"] == "fuli_vip" and known.details["like"].startswith("今晚")
    assert known.details["contacts"] == [{"kind": "telegram", "value": "fuli_vip"}]
    elsewhere = Context("g2", "m3", T0 + 61, kinds=frozenset({"forward"}), origin="news")
    assert d.check("周末见", elsewhere).verdict != SPAM
    assert d.check("关注 https://t.me/fuli_vip 每天有").verdict == SPAM  # a link to it, no forward
    named = d.check("加飞机 tg @fuli_vip", None)
    assert "origin" not in next(c for c in named.checks if c.name == "known_contact").details
    bank.learn(normalize("周末见"), spam=False, origin="fuli_vip")
    assert d.check("周末见", later).verdict != SPAM


def test_spam_bank_forgets_what_is_said_not_to_be_spam() -> None:
    bank = SpamBank()
    bank.add(normalize("新到一批进口奶粉，价格美丽，需要的朋友联系群主看图"))
    bank.add(normalize("周末团购大闸蟹，一只十块，要的私聊我报名"))
    bank.add(normalize("好的"))  # too short to keep
    assert len(bank) == 2
    assert bank.remove_like(normalize("新到一批进口奶粉！价格美丽，需要的朋友联系群主")) == 1
    assert len(bank) == 1
    assert bank.match(normalize("周末团购大闸蟹，一只十块，要的私聊我报名哦")).verdict == SPAM
    bank.clear()
    assert len(bank) == 0
    assert bank.match(normalize("周末团购大闸蟹，一只十块，要的私聊我报名哦")).verdict == HAM


def poster(seed: int, size: tuple[int, int] = (800, 1000), fmt: str = "JPEG", q: int = 85) -> bytes:
    """An ad-like picture (blocks of colour and lines of 'text'), different for each seed."""
    import io
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (800, 1000), (rng.randrange(256), 200, 120))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(700), rng.randrange(900)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(40, 300), y + rng.randrange(20, 200)), colour)
    image = image.resize(size)
    buf = io.BytesIO()
    image.save(buf, fmt, **({"quality": q} if fmt == "JPEG" else {}))
    return buf.getvalue()


def test_one_picture_dropped_into_many_groups_is_caught_however_it_was_recompressed() -> None:
    from qunzhu.moderation.images import fingerprint, fingerprints

    same = [poster(1), poster(1, (400, 500), q=60), poster(1, fmt="PNG")]
    prints = [fingerprint(p) for p in same]
    assert all(p is not None for p in prints)
    assert fingerprint(poster(2)) not in prints and fingerprint(b"not a picture") is None
    assert fingerprint(poster(1, (240, 240))) is None  # sticker-sized: not counted

    def post(group: str, member: str, at: float, data: bytes) -> str:
        kinds = frozenset({"image"})
        ctx = Context(group, member, at, kinds=kinds, images=(data,), pictures=fingerprints([data]))
        return d.check("", ctx).verdict

    d = live()
    # one account drops the same poster (no text) into three groups: spam by the third
    assert [post(f"g{i}", "ad", T0 + 60 * i, same[i]) for i in range(3)] == [HAM, REVIEW, SPAM]
    # three accounts of a farm, one group each: a question for the admins by the third
    d = live()
    assert [post(f"g{i}", f"farm{i}", T0 + 60 * i, same[i]) for i in range(3)] == [
        HAM,
        HAM,
        REVIEW,
    ]
    # asked once: the fourth account's copy does not make a second question
    assert post("g3", "farm3", T0 + 240, same[0]) == HAM
    # a day on, the round starts again, and so does the question
    later = [post(f"g{i}", f"farm{i + 4}", T0 + 86400 + 300 + i, same[i]) for i in range(3)]
    assert later == [HAM, HAM, REVIEW]
    # a different picture is nothing; a day later the memory is gone
    assert post("g4", "d", T0 + 300, poster(2)) == HAM
    assert post("g5", "ad", T0 + 2 * 86400, same[0]) == HAM
    # sticker-sized pictures travel freely
    d = live()
    small = poster(3, (240, 240))
    assert {post(f"g{i}", "fan", T0 + i, small) for i in range(5)} == {HAM}


def test_a_sticker_going_round_is_no_question_unless_people_said_it_is_an_ad() -> None:
    """A big picture QQ calls a 表情 travels between groups as memes do: five members in five
    groups is nothing; once people said it was an ad, it is spam wherever it comes again."""
    from qunzhu.moderation.images import fingerprints

    meme = poster(5)

    def post(group: str, member: str, at: float, kinds: set[str]) -> str:
        ctx = Context(group, member, at, kinds=frozenset(kinds), pictures=fingerprints([meme]))
        return d.check("", ctx).verdict

    d = live()
    assert [post(f"g{i}", f"fan{i}", T0 + i, {"sticker"}) for i in range(5)] == [HAM] * 5
    assert post("g1", "fan1", T0 + 10, {"sticker"}) == HAM  # one member's sticker, anywhere
    # the same picture as a photo is counted from its first copy
    assert [post(f"g{i}", f"farm{i}", T0 + 20 + i, {"image"}) for i in range(3)] == [
        HAM,
        HAM,
        REVIEW,
    ]
    d.behaviour.learn_pictures(fingerprints([meme]), spam=True)
    assert post("g7", "fan7", T0 + 60, {"sticker"}) == SPAM


def test_pictures_that_are_not_worth_decoding_get_no_fingerprint(monkeypatch: Any) -> None:
    """Bad input: a picture larger than any chat picture, one whose header promises a
    decompression bomb, a truncated file: no fingerprint, no exception."""
    import io

    from PIL import Image

    from qunzhu.moderation import images

    buf = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buf, "PNG")  # 25 megapixels, a few kB compressed
    wide = buf.getvalue()
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000_000)
    assert images.fingerprint(wide) is None
    assert images.fingerprint(poster(4)[:2000]) is None  # cut off mid-way
    monkeypatch.setattr(images, "MAX_BYTES", 1000)
    assert images.fingerprint(poster(4)) is None


def test_a_member_forgotten_leaves_nothing_in_the_memories() -> None:
    """`qunzhu forget` while the engine runs: today's texts and pictures of the member, their
    counts and their trust go, and what expires later finds nothing of theirs missing."""
    from qunzhu.moderation.images import fingerprints

    d = live()
    ad = "新到一批进口奶粉，价格美丽，需要的朋友联系群主看图"
    picture = poster(1)
    for i in range(2):  # in two groups: a question so far
        ctx = Context(f"g{i}", "gone", T0 + i, message=f"m{i}", kinds=frozenset({"image"}),
                      images=(picture,), pictures=fingerprints([picture]))  # fmt: skip
        d.check(ad, ctx)
    for i in range(3):
        d.check(f"大家好，我是{i}号", Context("g1", "gone", T0 + 10 + i))
    d.behaviour.joined("g1", "gone", T0)  # type: ignore[union-attr]
    d.check("我也在", Context("g1", "stays", T0 + 20))
    forgotten = {"gone"}.__contains__
    d.forget_members(forgotten)
    assert d.behaviour.newcomers_since(T0 - 1) == 0  # type: ignore[union-attr]
    # a third group's copy by another member no longer finds theirs
    assert d.behaviour.texts_like(normalize(ad)) == []  # type: ignore[union-attr]
    assert d.behaviour.copies_of(fingerprints([picture])) == []  # type: ignore[union-attr]
    # trust starts over: three clean messages and an hour again
    later = d.check("加微信 abc12345 代购", Context("g1", "gone", T0 + 4000))
    assert later.verdict == SPAM
    # a day on, expiring the day's memory finds nothing of theirs missing
    d.check("又是新的一天", Context("g1", "stays", T0 + 2 * 86400))
    assert d.behaviour.texts_like(normalize("又是新的一天")) == []  # type: ignore[union-attr]
