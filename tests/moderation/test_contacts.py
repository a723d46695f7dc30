"""Contacts are found through the disguises spam uses, and ordinary chat numbers are left alone."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qunzhu.moderation.contacts import KINDS, Contact, extract
from qunzhu.moderation.normalize import normalize


def contacts(raw: str) -> list[tuple[str, str]]:
    return [(c.kind, c.value) for c in extract(normalize(raw))]


PHONE = [("phone", "13800138000")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # WeChat
        ("加 V：abc_12345", [("wechat", "abc_12345")]),
        ("➕ｖ：ａｂｃ１２３４５", [("wechat", "abc12345")]),
        ("薇.信 wxid_abcde12", [("wechat", "wxid_abcde12")]),
        ("威信号 Qwerty_88", [("wechat", "qwerty_88")]),
        ("有事 vx：хоре_2024 聊", [("wechat", "xope_2024")]),  # Cyrillic х о р е
        ("微\u200b信：hello_99", [("wechat", "hello_99")]),
        ("微信號：good_id88", [("wechat", "good_id88")]),
        ("v 信 : a b c 1 2 3", [("wechat", "abc123")]),  # spelt-out id, via `compact`
        ("卫星 sat_link7", [("wechat", "sat_link7")]),
        ("喂：moon_77 详聊", [("wechat", "moon_77")]),  # one-character marker, with a colon
        ("绿泡泡是 greenbub", [("wechat", "greenbub")]),  # letters only, but after "是"
        ("我的 wxid_zz9981 找我", [("wechat", "wxid_zz9981")]),  # no marker needed
        ("加微 abc12345 详聊", [("wechat", "abc12345")]),  # 加微: 微 alone after 加
        ("+薇：good_id88", [("wechat", "good_id88")]),
        ("加我 威 a b c 1 2 3", [("wechat", "abc123")]),
        ("加V \u202e54321cba\u202c 详聊", [("wechat", "abc12345")]),  # shown right to left
        ("详情联系 V：FZLXL123", [("wechat", "fzlxl123")]),  # a lone v, with a colon
        ("V芯 abc12345", [("wechat", "abc12345")]),
        ("加V：CAD五七一二", [("wechat", "cad5712")]),  # the id's digits as Chinese numerals
        ("加个微信吧 abc12345", [("wechat", "abc12345")]),  # a particle before the id
        ("我的微是abc12345", [("wechat", "abc12345")]),  # one character, 是 for the colon
        ("微 abc12345 详聊", [("wechat", "abc12345")]),  # one character standing alone
        ("微信同号 13800138000", PHONE),
        ("vx 13800138000", [*PHONE, ("wechat", "13800138000")]),
        # phones
        ("１３８００１３８０００", PHONE),
        ("1 3 8 0 0 1 3 8 0 0 0", PHONE),
        ("138-0013-8000", PHONE),
        ("+86 138 0013 8000", PHONE),
        ("幺三八零零幺三八零零零", PHONE),
        ("1З8 ００1З 8000", PHONE),  # Cyrillic Ze for 3
        ("l3800 l38000 代开", PHONE),  # Latin l for 1
        ("I38OO138000", PHONE),  # I for 1, O for 0
        ("电话13800138000，或者 139 0000 1111", [*PHONE, ("phone", "13900001111")]),
        ("售楼热线 021-62345678", [("phone", "02162345678")]),  # landline with its area code
        # links spelt out a character at a time: a link has no spaces
        (
            "点 击 h t t p : / / a b c d . c n / x 9 领 取",
            [("url", "http://abcd.cn/x9"), ("domain", "abcd.cn")],
        ),
        (
            "详 情 请 洽 w w w . g a n s o . c o m . c n",
            [("url", "www.ganso.com.cn"), ("domain", "ganso.com.cn")],
        ),
        ("（０７５５）１２３４５６７ 看房", [("phone", "07551234567")]),
        ("致电 400-820-8820 预约", [("phone", "4008208820")]),  # service hotline
        ("客服4008208820", [("phone", "4008208820")]),
        # QQ
        ("扣扣 123456789", [("qq", "123456789")]),
        ("q群 987654321", [("qq", "987654321")]),
        ("QQ号：10001", [("qq", "10001")]),
        ("企鹅 5 5 6 6 7 7", [("qq", "556677")]),
        ("群号是 24681357", [("qq", "24681357")]),
        ("进群 24681357 领资料", [("qq", "24681357")]),
        ("发到 24680@qq.com", [("qq", "24680")]),
        ("要辅助的加Q429457172", [("qq", "429457172")]),
        ("加扣 1723 748 011 详谈", [("qq", "1723748011")]),
        ("100元=50000宝石咨询Q:540019772", [("qq", "540019772")]),
        ("找我玩 q 1 2 3 4 5 6 7 8 9", [("qq", "123456789")]),
        ("我q是123456789", [("qq", "123456789")]),
        ("扣：123456789", [("qq", "123456789")]),
        # links
        (
            "www.example点com",
            [("url", "www.example.com"), ("domain", "example.com")],
        ),
        (
            "t.me/somechannel",
            [("url", "t.me/somechannel"), ("domain", "t.me"), ("telegram", "somechannel")],
        ),
        (
            "详情 https://Shop.Example.com.cn/a?b=1。",
            [("url", "https://shop.example.com.cn/a?b=1"), ("domain", "example.com.cn")],
        ),
        ("去 lucky8 dot top 看看", [("url", "lucky8.top"), ("domain", "lucky8.top")]),
        ("fake[.]xyz/x_1", [("url", "fake.xyz/x_1"), ("domain", "fake.xyz")]),
        ("点击 bit.ly/3abcd 领红包", [("url", "bit.ly/3abcd"), ("domain", "bit.ly")]),  # shortener
        ("discord.gg/abcd123 nitro", [("url", "discord.gg/abcd123"), ("domain", "discord.gg")]),
        ("上 shady88 . com 领", [("url", "shady88.com"), ("domain", "shady88.com")]),  # spaced dot
        ("shadyloan点c0m 贷款", [("url", "shadyloan.com"), ("domain", "shadyloan.com")]),
        (
            "t . me / freemoney 免费领",
            [("url", "t.me/freemoney"), ("domain", "t.me"), ("telegram", "freemoney")],
        ),
        # share codes
        ("复制这段内容 ￥AbCd1234￥ 打开淘宝", [("code", "abcd1234")]),
        ("€XyZaBcDeFg€ 手淘", [("code", "xyzabcdefg")]),  # letters only, both cases as sent
        # Telegram
        ("纸飞机 @some_user", [("telegram", "some_user")]),
        ("TG：@Night_Owl7", [("telegram", "night_owl7")]),
        ("有需要的联系详情：@ahai9986", [("telegram", "ahai9986")]),
        ("懂的私聊 @Daobi_Pay", [("telegram", "daobi_pay")]),
        ("想做的找我@lulu8877", [("telegram", "lulu8877")]),
        ("Telegram：abc_usdt", [("telegram", "abc_usdt")]),
        ("飞机号 abcusdt", [("telegram", "abcusdt")]),
        ("纸飞机搜索 abc_usdt", [("telegram", "abc_usdt")]),
        ("直接联系飞机：tzg520", [("telegram", "tzg520")]),
        ("薇ｘｉｎ hx8866a", [("wechat", "hx8866a")]),
        ("wei信 hx8866a", [("wechat", "hx8866a")]),
    ],
)
def test_obfuscated_contacts_are_found(raw: str, expected: list[tuple[str, str]]) -> None:
    assert contacts(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "今天99元一件",
        "我们三个人一起去",
        "2026-09-01 12:30 集合",
        "订单号 20260901",
        "哈哈哈哈😂😂😂",
        "明天见",
        "微信群里说过了",
        "今天加微了几个客户，回头细聊",
        "刚加微，明天聊",
        "微信 message 收到了吗",  # an all-letter word right after a marker is chat
        "扣5000分",
        "稍微是abc12345的问题",  # 稍微 is "a little"
        "¥12345678¥",  # digits alone: an amount
        "$abcdefgh$ 是公式",  # lower case alone: markup
        "see you . me too",  # a spaced dot only before a TLD that is no English word
        "iphone13pro 1380元",
        "Q1 2345 万元营收",  # a quarter, not a QQ number
        "iq: 12345",  # q ending a word
        "tg: hello world",  # a handle after Telegram's name needs a digit, "_" or 号
        "坐飞机 beijing",
        "电报 2024年12月",
        "q2 12345 条",
        "vitamin: take 12345",
        "dev：v2 12345678",
        "喂：everyone 在吗",  # one-character marker: an all-letter word is chat
        "卫星发射成功",
        "第2023一季度报告",
        "版本 1.2.3 已发布",
        "晚上7点app更新",
        "大家加vip123456",
        "单号 02162345678",  # a long number without its area code set apart
        "400 500 6000 三档价格",  # three prices, not a hotline
        "2026-12345678",
        "比分 0-12345678",
        "坐飞机去北京",
        "ping @someone later",  # a handle without a Telegram marker
        "快来 @runner_li 家集合",  # come, add: how members talk to each other
        "加 @runner_li 进群",
        "写信到 hello@example.org",  # an e-mail address is not a link
        "",
    ],
)
def test_ordinary_chat_has_no_contacts(raw: str) -> None:
    assert contacts(raw) == []


def test_duplicates_collapse_and_order_is_stable() -> None:
    raw = "vx: abc_12345 再说一遍 vx: abc_12345 电话 13800138000 138 0013 8000"
    expected = [
        Contact("phone", "13800138000"),
        Contact("wechat", "abc_12345"),
    ]
    assert extract(normalize(raw)) == expected
    assert extract(normalize(raw)) == expected


def test_bad_input_gives_nothing() -> None:
    assert contacts("\ud800abc") == []
    assert contacts("😂" * 100_000) == []


def test_lone_surrogate_inside_a_contact() -> None:
    assert contacts("扣扣\ud800 123456") == [("qq", "123456")]


def test_megabyte_is_linear() -> None:
    contacts("warm up: 微信號")
    started = time.perf_counter()
    found = contacts("a" * 1_000_000)
    elapsed = time.perf_counter() - started
    assert found == []
    assert elapsed < 2.0  # loose: guards against catastrophic backtracking, not a benchmark


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from("微信vxq扣群号: _.-@1380幺三点comt/"), max_size=80))
def test_never_raises_and_kinds_are_known(raw: str) -> None:
    found = extract(normalize(raw))
    assert len(found) == len(set(found))
    assert {c.kind for c in found} <= set(KINDS)
