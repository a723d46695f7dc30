"""The word lists moderation reads: words of ads, and words of abuse, each word with a weight
(and, where a group wants one, its own action); a group's settings replace either list.

Matching is substring (Aho-Corasick) over the normalised text, so "加 微 信" and "傻 B" are
found once separators and case are gone; `\b` never matches inside Chinese text (a word of
Latin letters alone is the exception: see `WordList`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import ahocorasick

from qunzhu.i18n import tr
from qunzhu.moderation.normalize import Normalized, normalize

ACTIONS = ("review", "delete_warn", "mute", "kick", "ban")  # mildest first

# Words of Chinese group ads (PLAYBOOK §3: 代购, 微商) with a weight each; a group's policy can
# add, reweight or remove entries. Matching is substring (Aho-Corasick): `\b` never matches
# inside Chinese text.
DEFAULT_KEYWORDS: dict[str, float] = {
    # group ads (PLAYBOOK §3)
    "代购": 0.5,
    "微商": 0.5,
    "兼职": 0.5,
    "日结": 0.5,
    "招代理": 0.7,
    "加盟": 0.4,
    "招商": 0.4,
    "私聊": 0.3,
    "私信": 0.3,
    "加我": 0.3,
    "加微信": 0.6,
    "免费领取": 0.5,
    "返利": 0.5,
    "刷粉": 0.7,
    "涨粉": 0.5,
    "代充": 0.5,
    "手机操作": 0.4,  # 宝妈 在家 手机操作 日入三百: the work-from-home task scam
    "宝妈": 0.3,  # mothers' groups say it all day: only next to a contact
    "出售": 0.3,
    "看片": 0.4,
    # task scams and money
    "刷单": 0.8,
    "日赚": 0.8,
    "日入": 0.7,
    "躺赚": 0.8,
    "稳赚": 0.7,
    "贷款": 0.5,
    "网贷": 0.6,
    "无抵押": 0.7,
    "秒批": 0.7,
    "套现": 0.8,
    "提额": 0.6,
    # marketing text messages
    "退订": 0.8,
    "回t": 0.6,
    "拒收请回": 0.8,
    # fraud
    "中奖": 0.6,
    "恭喜您获得": 0.8,
    "领取奖品": 0.8,
    "积分兑换": 0.6,
    "积分即将清零": 0.9,
    "安全账户": 0.9,
    "账户异常": 0.6,
    # illegal services
    "代开发票": 0.9,
    "发票代开": 0.9,
    "办证": 0.8,
    "刻章": 0.8,
    "裸聊": 0.9,
    "约炮": 0.9,
    "上门服务": 0.7,
    "色情": 0.8,
    "博彩": 0.9,
    "赌场": 0.8,
    "娱乐城": 0.8,
    "百家乐": 0.9,
    "六合彩": 0.9,
    "彩金": 0.8,
    "网赌": 0.9,
    "彩票": 0.4,
    "娱乐场": 0.9,
    "返水": 0.9,
    "投注": 0.6,
    # fake documents, escorts, political spam
    "代开": 0.7,
    "文凭": 0.5,
    "证件": 0.4,
    "莞式": 0.9,
    "援交": 0.9,
    "美女学生": 0.7,
    "会所": 0.5,
    "法轮": 0.9,
    "退党": 0.9,
    "三退": 0.9,
    # Words below weigh little alone (ordinary talk says them); next to a phone number, an id
    # or a link they make the message an ad. Collected from the kinds of spam text messages
    # in the FBS corpus (bench/RESULTS.md): loans, phishing, carriers, property, stocks.
    "信贷": 0.4,
    "放款": 0.6,
    "抵押": 0.4,
    "征信": 0.4,
    "网银": 0.5,
    "手机银行": 0.4,
    "密码器": 0.8,
    "冻结": 0.4,
    "逾期": 0.4,
    "激活": 0.3,
    "积分": 0.3,
    "兑换": 0.3,
    "抽选": 0.6,
    "改签": 0.4,
    "话费": 0.4,
    "流量": 0.3,
    "彩铃": 0.5,
    "套餐": 0.3,
    "订购": 0.3,
    "售楼": 0.5,
    "楼盘": 0.4,
    "认筹": 0.6,
    "首付": 0.4,
    "购房": 0.4,
    "现房": 0.4,
    "样板房": 0.4,
    "开盘": 0.4,
    "均价": 0.3,
    "户型": 0.3,
    "配资": 0.8,
    "荐股": 0.8,
    "牛股": 0.6,
    "涨停": 0.5,
    "股票": 0.3,
    "期货": 0.4,
    "开户": 0.4,
    "促销": 0.4,
    "特价": 0.3,
    "优惠": 0.3,
    "限时": 0.3,
    "详询": 0.5,
    "热线": 0.3,
    "官网": 0.3,
    "领取": 0.3,
    "免费": 0.3,
    # the FBS kinds the list caught least (2026-12-02): work-from-home and reputation-faking
    # jobs, untaxed cigarettes, tutoring, debt collection, betting sites' sign-up bonuses, the
    # cancelled-flight scam
    "在家操作": 0.5,
    "刷信誉": 0.8,
    "诚聘": 0.4,
    "工资日结": 0.6,
    "货到付款": 0.4,
    "免税香烟": 0.8,
    "提分": 0.3,
    "查漏补缺": 0.3,
    "追收": 0.5,
    "注册送": 0.7,
    "首存": 0.8,
    "存送": 0.7,
    "反水": 0.3,  # gamers say it of a traitor: only next to a contact
    "倍流水": 0.8,
    "棋牌": 0.5,
    "提现": 0.3,
    "专员": 0.3,
    "机械故障": 0.4,
    "延误补偿": 0.7,
    "退改签": 0.4,
    "相册": 0.2,
}

# Abuse (PLAYBOOK §3: "keep a healthy tone; an unmanaged group fills with ads and vulgarity"):
# insults aimed at a person and the obscenities that carry them. Chosen from how Chinese chat
# swears, not from a corpus. Aimed curses and slurs are removed (0.9); milder insults, which
# friends also trade in jest, are a question (0.5-0.6). Words that only intensify (卧槽, 我靠,
# 他妈的, 牛逼) and words with an everyday sense (垃圾 of rubbish sorting, 滚 of rolling, 有病
# of illness) are left out: they are how people talk, not abuse.
DEFAULT_ABUSE: dict[str, float] = {
    # aimed curses: a person's mother, family or death
    "操你妈": 0.9,
    "草你妈": 0.9,
    "艹你妈": 0.9,
    "日你妈": 0.9,
    "干你娘": 0.9,
    "操你大爷": 0.9,
    "你妈逼": 0.9,
    "你妈死了": 0.9,
    "死妈": 0.9,
    "死全家": 0.9,
    "全家死光": 0.9,
    "nmsl": 0.9,  # 你妈死了, in initials
    "nmb": 0.9,  # 你妈逼
    "cnmlgb": 0.9,  # 操你妈了个逼
    "nmlgb": 0.9,
    "mlgb": 0.9,  # 妈了个逼
    "妈了个逼": 0.9,
    "你m死了": 0.9,
    "狗娘养": 0.9,
    "cao你妈": 0.9,
    "cao你ma": 0.9,
    "操你ma": 0.9,
    "草你ma": 0.9,
    # slurs
    "傻逼": 0.9,
    "傻屌": 0.9,
    "傻叉": 0.9,
    "婊子": 0.9,
    "杂种": 0.9,
    "畜生": 0.9,
    "畜牲": 0.9,
    "狗日的": 0.9,
    "王八蛋": 0.9,
    "贱人": 0.9,
    "人渣": 0.9,
    "狗东西": 0.9,
    "龟孙": 0.9,
    "鸡巴": 0.9,
    # milder, or also said in jest: a person looks
    "煞笔": 0.6,
    "傻b": 0.6,
    "傻比": 0.6,
    "沙比": 0.6,
    "草泥马": 0.6,
    "cnm": 0.6,
    "cnmd": 0.6,
    "sb": 0.6,  # 傻逼, in initials; a whole Latin word only, so not "usb"
    "shabi": 0.6,
    "mdzz": 0.6,  # 妈的智障
    "rnm": 0.6,  # 日你妈
    "日你仙人板板": 0.6,
    "滚你丫": 0.5,
    "你妈的": 0.6,
    "脑残": 0.6,
    "智障": 0.6,
    "弱智": 0.5,
    "白痴": 0.5,
    "废物": 0.5,
    "滚蛋": 0.5,
    "去死": 0.6,
    "骚货": 0.6,
    "贱货": 0.6,
    "狗屎": 0.5,
    "蠢货": 0.5,
    "蠢猪": 0.5,
}

Entry = tuple[float, str | None]  # a word's weight and its own action (None: the ladder's)


class WordList:
    """Words with their weights and actions, found in a normalised text.

    A word of Latin letters only ("sb", "cnm") is found as a whole Latin word, as `\\b` would
    find it: "sb" is not in "usb", "cnm" not in "cnmarket". Chinese has no such boundaries, and
    a word with a Chinese character in it ("回t") matches anywhere."""

    def __init__(self, entries: Mapping[str, float | Mapping[str, Any]]) -> None:
        self.entries: dict[str, Entry] = {w: _keyword(w, e) for w, e in entries.items()}
        self._automaton: Any = None
        # A word without separators that occurs in `text` occurs in `compact` too: only a
        # word like "free money" needs `text` read as well, and a Latin one, which `compact`
        # glues to its neighbours ("free money" is "freemoney" there).
        self._read_text = False
        if self.entries:
            automaton = ahocorasick.Automaton()
            for word, (weight, action) in self.entries.items():
                spelt = normalize(word)
                # a Latin word's length, to look at its neighbours; 0 for any other word
                latin = len(spelt.text) if _LATIN.fullmatch(spelt.text) else 0
                automaton.add_word(spelt.text, (word, weight, action, latin))
                self._read_text |= spelt.text != spelt.compact or bool(latin)
            automaton.make_automaton()
            self._automaton = automaton

    def find(self, n: Normalized) -> dict[str, Entry]:
        """The listed words in the text, each with its weight and action."""
        if self._automaton is None:
            return {}
        found: dict[str, Entry] = {}
        # "加 微 信" only matches once separators are gone
        texts = (n.text, n.compact) if self._read_text else (n.compact,)
        for text in texts:
            for end, (word, weight, action, latin) in self._automaton.iter(text):
                if latin and not _whole(text, end - latin + 1, end):
                    continue
                found[word] = (weight, action)
        return found


_LATIN = re.compile("[a-z]+")


def _whole(text: str, first: int, last: int) -> bool:
    """Whether text[first:last + 1] is no part of a longer Latin word or id ("sb53333")."""
    before = text[first - 1] if first > 0 else " "
    after = text[last + 1] if last + 1 < len(text) else " "
    return before not in _WORD_CHARS and after not in _WORD_CHARS


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _keyword(word: str, entry: float | Mapping[str, Any]) -> Entry:
    """A keyword entry as (weight, action); a config mistake names the word."""
    if isinstance(entry, int | float) and not isinstance(entry, bool):
        weight, action = float(entry), None
    elif isinstance(entry, Mapping):
        weight, action = float(entry.get("weight", 1.0)), entry.get("action")
    else:
        raise ValueError(tr("keyword {word!r}: expected a weight or {{weight, action}}", word=word))
    if not 0.0 <= weight <= 1.0:
        raise ValueError(
            tr("keyword {word!r}: weight {weight} is outside 0..1", word=word, weight=weight)
        )
    if action is not None and action not in ACTIONS:
        raise ValueError(
            tr("keyword {word!r}: unknown action {action!r}", word=word, action=action)
        )
    return weight, action
