"""The normaliser folds each disguise into one spelling, and nothing it is given can break it."""

from __future__ import annotations

import dataclasses
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qunzhu.moderation.normalize import Normalized, normalize


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("ＡＢＣ１２３：ｘ", "abc123:x"),  # full-width → half-width, lower case
        ("微\u200b信", "微信"),  # zero-width space
        ("微\u200d\u2060\ufeff\u202e\u180e信", "微信"),  # joiners, BOM, bidi, Mongolian separator
        ("v\ufe0fx\U000e0101", "vx"),  # variation selectors
        ("微信號", "微信号"),  # traditional → simplified
        ("這個東西很好", "这个东西很好"),
        ("我也打坏了", "我也打坏了"),  # simplified stays: OpenCC alone would write 打坯
        ("аbс", "abc"),  # Cyrillic а and с
        ("ВОРТЕХ", "boptex"),  # Cyrillic capitals
        ("ναρο", "vapo"),  # Greek
        ("𝐰𝐱 𝔵𝔥", "wx xh"),  # mathematical alphanumerics
        ("ⓦⓧ ⓋⓍ", "wx vx"),  # circled letters
        ("🅥🅧 🆅🆇", "vx vx"),  # negative circled and squared letters
        ("wéçhàt", "wechat"),  # diacritics dropped
        ("x\u0301\u0308y", "xy"),  # stray combining marks
        ("①❹➄⓺➐🄋", "145670"),  # circled, dingbat and double-circled digits
        ("1\ufe0f\u20e33\ufe0f\u20e3", "13"),  # keycaps
        ("٣٨", "38"),  # Arabic-Indic digits
        ("➕ｖ", "+v"),
        ("加V \u202e54321cba\u202c 兼职", "加v abc12345 兼职"),  # as shown: right to left
        ("a\u202ecba\nxyz", "aabc xyz"),  # the override ends with the line
        ("Ꮩᕁ ꓦꓫ ᐯⲬ", "vx vx vx"),  # Cherokee, Canadian, Lisu and Coptic, from Unicode's list
        ("1З8 Ƨ4", "138 24"),  # Cyrillic Ze and Latin reversed s standing for digits
        ("〇〇七", "〇〇七"),  # East Asian characters are script, not disguise
        ("أنا يونس", "أنا يونس"),  # and so are right-to-left letters
        ("  a \t\n b  ", "a b"),  # whitespace runs collapse, ends trimmed
    ],
)
def test_text_folds_disguises(raw: str, text: str) -> None:
    assert normalize(raw).text == text


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("幺三八零零幺三八零零零", "13800138000"),
        ("一三八零零一三八零零零", "13800138000"),
        ("壹叁捌 零零壹叁 捌零零零", "138 0013 8000"),
        ("两两五五六", "22556"),
        ("1三8零0", "13800"),  # digits and numerals mixed in one run
        ("─5四2 7049寇", "─542 7049寇"),  # one numeral between two digits is one of them
        ("cc3412〇2825", "cc341202825"),
        ("CUI六九八 微芸", "cui698 微芸"),  # three beside a Latin letter spell an id
        ("枝-薇/ CAD 五七一", "枝-薇/ cad 571"),
        ("赠送八八八八USDT", "赠送8888usdt"),
        ("找我q一九八~五九一", "找我q198~五九一"),  # only the part beside the q
    ],
)
def test_numeral_runs_become_digits(raw: str, text: str) -> None:
    assert normalize(raw).text == text


@pytest.mark.parametrize(
    "raw",
    [
        "我们三个人一起去",
        "一二三四",
        "2023一季度",
        "两个人",
        "幺蛾子",
        "十一点见",
        "5月17一19日",  # 一 between numbers is a dash
        "200一300杯",
        "ok三五个",  # two beside a letter count things
        "vip两百三十个",  # 两 never spells a digit beside a letter
        "ok 一二",
    ],
)
def test_short_numeral_runs_stay_words(raw: str) -> None:
    assert normalize(raw).text == raw


@pytest.mark.parametrize(
    ("raw", "compact"),
    [
        ("加 . V", "加v"),
        ("微 信", "微信"),
        ("1 3 8-0013-8000", "13800138000"),
        ("v_x", "vx"),
        ("w.x", "wx"),
        ("微😂信", "微信"),
        ("①⑵⒊", "123."),  # NFKC gives "1(2)3.": the last dot has no right neighbour
        ("+ v : abc", "+vabc"),  # "+" stays; the spaces around it go
        ("@ some_user", "@someuser"),
        ("你好，世界！", "你好世界!"),  # trailing punctuation has no neighbour to join
    ],
)
def test_compact_joins_across_separators(raw: str, compact: str) -> None:
    assert normalize(raw).compact == compact


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("加 我 微 信 领 取 福 利", "加我微信领取福利"),  # spelt out a character at a time
        ("你 妈 是 狗 日 的", "你妈是狗日的"),
        ("s k e 5 9 7 看 片", "s k e 597看片"),  # letters keep the spaces between them
        ("找 我 玩 q 1 2 3 4 5", "找我玩q 12345"),  # digits make one number
        ("罗 总 : 我 是 主 任 !", "罗总:我是主任!"),  # punctuation beside Chinese joins it
        ("点 击 h t t p : / / a b . c n / x 9 领 取", "点击http://ab.cn/x9领取"),  # a link
        ("详 情 w w w . 1 1 1 . c o m . c n 谢 谢", "详情www.111.com.cn谢谢"),
        ("满 6 0 ! y i g u o . c o m 【 易 果 】", "满60!yiguo.com【易果】"),
        ("好 的 o k 我 们 a . b 见", "好的o k我们a . b见"),  # a dot between letters is no link
        ("今天 天气 不错 我们 去 跑步 吧", "今天 天气 不错 我们 去 跑步 吧"),  # phrases set apart
        ("a b c", "a b c"),  # too short to say
        ("i am a boy and you are a girl", "i am a boy and you are a girl"),
    ],
)
def test_a_message_spelt_out_is_read_joined_up(raw: str, text: str) -> None:
    assert normalize(raw).text == text


def test_keeps_raw_and_is_frozen() -> None:
    n = normalize("Ｖ")
    assert n == Normalized(raw="Ｖ", text="v", compact="v")
    with pytest.raises(dataclasses.FrozenInstanceError):
        n.text = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "raw", ["➕ｖ：ａｂｃ１２３４５", "微\u200b信號 幺三八零零", "ΑΒС wéchat", "今天99元一件"]
)
def test_normalising_twice_changes_nothing(raw: str) -> None:
    once = normalize(raw)
    assert normalize(once.text).text == once.text


def test_empty() -> None:
    assert normalize("") == Normalized("", "", "")


def test_lone_surrogate_is_dropped() -> None:
    n = normalize("\ud800abc\udfff")
    assert (n.text, n.compact) == ("abc", "abc")


def test_emoji_flood() -> None:
    n = normalize("😂" * 100_000)
    assert n.text == "😂" * 100_000
    assert n.compact == "😂" * 100_000


@pytest.mark.parametrize(
    ("raw", "length"),
    [
        ("a" * 1_000_000, 1_000_000),
        ("a " * 500_000, 999_999),  # spelt out: letters keep their spaces
        ("1 " * 500_000, 500_000),  # spelt out: one number
        ("h t t p : / / w w w . " * 45_000, 11 * 45_000),  # spelt out: one long "link"
        ("ab 三四五 " * 125_000, 7 * 125_000 - 1),  # numerals beside letters are digits
        ("1 2 ! " * 166_666, 5 * 166_666 - 1),  # one long run, no link in it: digits join
    ],
)
def test_megabyte_is_linear(raw: str, length: int) -> None:
    normalize("warm up the table and the converter: 微信號")
    started = time.perf_counter()
    n = normalize(raw)
    elapsed = time.perf_counter() - started
    assert len(n.text) == length
    assert elapsed < 2.0  # loose: guards against catastrophic backtracking, not a benchmark


_ANY_CHAR = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates, which the default alphabet leaves out
    st.sampled_from("\u200b\u200d\ufeff\u202e\ufe0f微信號幺三八零 _.-:аοⓥ①❶➕＋１"),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=_ANY_CHAR, max_size=200))
def test_never_raises_and_leaves_nothing_invisible(raw: str) -> None:
    n = normalize(raw)
    for ch in n.text:
        assert not 0xD800 <= ord(ch) <= 0xDFFF
        assert ch not in "\u200b\u200c\u200d\u2060\ufeff\u202e"
    assert " " not in n.compact


def test_traditional_text_is_converted_as_opencc_does() -> None:
    """Skipping OpenCC for text without traditional characters must not skip any text with one."""
    from opencc import OpenCC

    t2s = OpenCC("t2s")
    for phrase in ["傳銷組織", "發財機會", "聯繫我們", "澳門賭場", "點擊鏈接領獎", "乾隆", "後來"]:
        assert normalize(phrase).text == t2s.convert(phrase)
