"""Contact details in a message: the strongest single sign of Chinese group spam.

An ad is only worth sending if it tells the reader where to go: a phone number, a QQ or WeChat
id, a Telegram handle or a link. Numbers are only taken as contacts after a marker (扣扣, 微信,
vx, 群号 …) so prices, dates, times and order numbers in ordinary chat stay out; the
exceptions are phone numbers by their shape: an 11-digit mainland mobile number, a landline
written with its area code and a separator (021-62345678, (0755) 1234567) and a 400/800
service hotline, contacts wherever they appear.

Every pattern reads `Normalized.text` (where "_" and "." still separate words) or
`Normalized.compact` (where "微 . 信" and "1 3 8 0 0 …" are already joined). Every repeat in the
patterns is bounded or runs over a class its neighbour cannot match, so time is linear.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from qunzhu.moderation.normalize import Normalized

__all__ = ["KINDS", "Contact", "extract"]

# "code": a shopping app's share code (淘口令 "¥AbC123dEf45¥"), which opens a shop's page when
# copied into the app: a link in all but name, and how shop ads in group chat point to the shop.
KINDS = ("phone", "qq", "wechat", "url", "domain", "telegram", "code")

_Add = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class Contact:
    """One way to reach the sender; `value` is normalised (lower case, separators removed)."""

    kind: str
    value: str


# Up to three separators (spaces, dots, emoji, "_") may sit between the characters of a marker:
# "微 . 信", "v_x", "薇😊信".
_GAP = r"[\W_]{0,3}"


def _marker(*parts: str) -> str:
    return _GAP.join(parts)


# ---- phones ----------------------------------------------------------------------------------
# In `text`: the digits of one number, optionally one space or "-" between any two of them.
_PHONE_TEXT = re.compile(r"(?<!\d)(?:(?:\+|00)?86[ -]?)?(1[ -]?[3-9](?:[ -]?\d){9})(?!\d)")
# In `compact`: "1 3 8 . 0 0 1 3 …" is already "13800138000".
_PHONE_COMPACT = re.compile(r"(?<!\d)(?:\+86|0086|86)?(1[3-9]\d{9})(?!\d)")

# A mobile number with letters for some digits ("l38 l234 5678", "13o0013800o"): l and i
# for 1, o for 0, eight real digits at least, and no Latin word around it.
_PHONE_LOOKALIKE = re.compile(r"(?<![a-z0-9])([1li][3-9][0-9lio]{9})(?![a-z0-9])")
_AS_DIGITS = str.maketrans("lio", "110")

# Landlines need the area code set apart ("02162345678" alone reads like any long number);
# 400/800 hotlines are ten digits, grouped by "-" or not at all ("400 500 6000" is three prices).
# (Each starts with its first character, the lookbehind after it: a pattern that starts
# with a lookbehind is tried at every place, one that starts with a character fails at once
# where it is not there.)
_LANDLINE = re.compile(
    r"(\((?<![\d-]\()0[1-9]\d{1,2}\) ?\d{7,8}|0(?<![\d-]0)[1-9]\d{1,2}[ -]\d{7,8})(?![\d-])"
)
_HOTLINE = re.compile(r"([48](?<![\d-][48])00-?\d{3}-?\d{4})(?![\d-])")

# Phones and QQ numbers have five digits or more in a row once separators are gone (`compact`
# joins "1 3 8-0013"): a message without such a run skips their patterns.
_FIVE_DIGITS = re.compile(r"\d{5}")

# ---- QQ --------------------------------------------------------------------------------------
_QQ_NAMES = r"(?:qq|扣扣|抠抠|蔻蔻|寇寇|叩叩|企鹅|球球)"
_QQ_SUFFIX = r"(?:群号|裙号|号码|号|群|裙)"
_QQ = re.compile(
    rf"(?:{_QQ_NAMES}{_QQ_SUFFIX}?|q{_QQ_SUFFIX}|扣[群裙]号?|群号|裙号|[加进][群裙]|加我?[q扣])"
    r"(?:是|为)?([1-9]\d{4,10})(?!\d)"
)
# One letter q, or 扣, is a marker only as a word of its own with a colon or 是 after it, or q
# standing alone before a space ("Q：123456", "找我 q 1 2 3 4 5 6"; not "Q1 2345", "iq 120"):
# read on `text`, where the space that sets it apart is still there.
_QQ_LONE = re.compile(
    r"(?:q(?<![a-z0-9]q)(?:[:是] ?| )|扣(?<!扣扣):)([1-9](?:[ -]?\d){4,10})(?![ -]?\d)"
)
_QQ_MAIL = re.compile(r"(?<!\d)([1-9]\d{4,10})@qq\.com")

# ---- WeChat ----------------------------------------------------------------------------------
_HEARTS = "❤♥♡💓💕💖💗💘💙💚💛💜🧡🖤🤍💝"
# Markers that start with a Latin letter must not continue a Latin word ("devx" is not "vx").
_WECHAT_LATIN = (
    _marker("v", "[信x心芯]"),
    _marker("w", "x"),
    _marker("wei", "(?:xin|[信心芯])"),
    _marker("we", "chat"),
    f"v[{_HEARTS}]",
)
_WECHAT_OTHER = (
    _marker("[微威薇徽嶶喂维葳崴]", "(?:[信心芯]|xin)"),
    _marker("卫", "[星信]"),
    f"加(?:{_GAP}我)?{_GAP}v",
    _marker(r"\+", "v"),
    # "加微 abc123": 加 (or +) and 微 or a look-alike, the id right after ("加微信" above)
    f"(?:加(?:{_GAP}我)?|\\+){_GAP}[微威薇徽嶶葳](?![信心芯])",
    _marker("绿", "泡", "泡"),
    f"[微威薇徽][{_HEARTS}]",
    # one character is a marker only with a digit in the id, and a colon or 是 after it
    # ("喂:abc123", "V：abc123", "我的微是abc123"; not 稍微是), or standing alone before a
    # space ("微 abc123": a v or 微 that ends no word)
    # (each lookbehind after its character, so that other places fail on the character)
    r"(?P<weak>v(?<![a-z0-9]v)(?=[\W_]{0,2}[:是]| )"
    r"|[微威薇徽嶶喂维葳](?<![稍略轻细].)(?=[\W_]{0,2}[:是])"
    r"|[微薇威](?<![\u3400-\u9fff].)(?= ))",
)
# "加个微信吧 abc123": a particle may end the sentence the id follows
_FILLER = "吧|哈|呀|啊|哦|噢|呢"
_WECHAT_MARKER = (
    "(?:"
    # each starts with a letter: the lookbehind after it, so that other places fail at once
    + "|".join([*(f"{m[0]}(?<![a-z0-9]{m[0]}){m[1:]}" for m in _WECHAT_LATIN), *_WECHAT_OTHER])
    + ")"
)
_WECHAT_TEXT = re.compile(
    _WECHAT_MARKER
    + rf"(?P<delim>{_GAP}(?:号码|帐号|账号|号|id)?{_GAP}(?:{_FILLER})?{_GAP}(?:是|为)?{_GAP})"
    + r"(?<![a-z0-9_-])(?P<id>[a-z][a-z0-9_-]{5,19})(?![a-z0-9_-])"
)
# `compact` has lost "_" and "-" and every space, so this is only the fallback for ids spelt
# out with separators ("v 信 : a b c 1 2 3").
_WECHAT_COMPACT_MARKER = (
    "(?:"
    + "|".join(
        [
            r"(?<![a-z])(?:v[信x心芯]|wx|weixin|wechat)",
            r"[微威薇徽嶶喂维葳崴](?:[信心芯]|xin)",
            r"卫[星信]",
            r"加我?v(?!ip)",
            r"\+v(?!ip)",
            r"(?:加我?|\+)[微威薇徽嶶葳]",
            r"绿泡泡",
        ]
    )
    + ")"
)
_WECHAT_COMPACT = re.compile(
    _WECHAT_COMPACT_MARKER
    + rf"(?:号码|帐号|账号|号|id)?(?:{_FILLER})?(?:是|为)?([a-z][a-z0-9]{{5,19}})(?![a-z0-9])"
)
_WECHAT_PHONE = re.compile(
    _WECHAT_COMPACT_MARKER + r"(?:号码|帐号|账号|号)?(?:是|为)?(?:\+86|86)?(1[3-9]\d{9})(?!\d)"
)
# Every WeChat marker above (and wxid_) holds one of these characters: a message without any
# skips the WeChat patterns, the costliest of this module (one quick scan instead of four).
_WECHAT_HINT = re.compile("[vw微威薇徽嶶喂维葳崴卫绿]")
# wxid_ ids are WeChat's own internal ids: a contact with no marker needed.
_WXID = re.compile(r"(?<![a-z0-9_-])(wxid_[a-z0-9_-]{4,30})(?![a-z0-9_-])")

# ---- URLs and domains ------------------------------------------------------------------------
TLDS = (
    "com", "cn", "net", "org", "top", "xyz", "vip", "cc", "io", "me", "info", "app", "link",
    "site", "shop", "club", "tk", "co", "biz", "live", "online", "fun", "icu", "tv", "hk", "tw",
)  # fmt: skip
_TLD_ALT = "|".join(sorted(TLDS, key=len, reverse=True))
# 点 / 。 / [.] between host labels, and "dot" spelt out before a TLD, are dots.
_SPELT_DOT = re.compile(
    r"(?<=[a-z]) ?(?:点|。) ?(?=[a-z0-9])"
    r"|(?<=[a-z0-9]) ?(?:\[\.\]|\(\.\)|\[dot\]|\(dot\)) ?(?=[a-z0-9])"
    rf"|(?<=[a-z0-9]) dot (?=(?:{_TLD_ALT})(?![a-z0-9]))"
)
_DOT_HINT = re.compile(r"点|。|dot|\[\.\]|\(\.\)")  # what _SPELT_DOT needs: one scan
# A dot set apart by spaces before a top-level domain that is no English word ("shady . com";
# "see you . me too" stays chat), and "t . me / name" with the slash after it.
_SPACED_DOT = re.compile(
    r"(?<=[a-z0-9])(?: \. ?|\. )(?=(?:com|cn|net|org|xyz|vip|cc|tk|icu|hk|tw)(?![a-z0-9]))"
    r"|(?<=(?<![a-z0-9])t) ?\. ?(?=me ?/)"
)
_TELEGRAM_SLASH = re.compile(r"(?<![a-z0-9])t\.me ?/ ?(?=[a-z0-9+_])")
# A zero for the o of com: "shady点c0m"
_ZERO_COM = re.compile(r"(?<=[a-z0-9][.点。])c0m(?![a-z0-9])")
# A host needs a dot, and may not start inside a word, an e-mail address or a handle.
# (Written to start with its first character, the lookbehind after it: "https://" is that
# character followed by "ttps://", so that every other place fails at once.)
_URL = re.compile(
    r"[a-z0-9](?<![a-z0-9@_-][a-z0-9])(?:(?<=h)ttps?://[a-z0-9])?[a-z0-9-]*(?:\.[a-z0-9-]+)+"
    r"(?::\d{1,5})?(?:/[a-z0-9_\-.~:/?#\[\]@!$&'()*+,;=%]*)?"
)
_URL_TRAILING = ".,;:!?)]}'\"-"
_TLD_SET = frozenset(TLDS)
# Link shorteners whose top-level domain is not among TLDS: a bare "bit.ly/3abcd" is a link
# (what an ad hides its landing page behind), as "t.cn/…" and "dwz.cn/…" already are.
# Invitation hosts likewise: Discord's and LINE's ("discord.gg/abc123", "lin.ee/xyz").
SHORTENERS = frozenset(
    {"bit.ly", "goo.gl", "t.ly", "ow.ly", "cutt.ly", "is.gd", "v.gd", "rb.gy", "s.id", "t.co"}
    | {"discord.gg", "lin.ee"}
)
_SECOND_LEVEL = frozenset({"com", "net", "org", "gov", "edu", "co", "ac"})
_TELEGRAM_HOSTS = frozenset({"t.me", "telegram.me", "telegram.dog"})
_TELEGRAM_PREFIXES = frozenset({"joinchat", "s", "c", "addlist", "addstickers"})

# ---- share codes -----------------------------------------------------------------------------
# Between two of the same currency sign, as Taobao, Tmall and Alipay write them; a price has no
# letter. NFKC has made ￥ into ¥ already.
_CURRENCY = "[¥$€£¢₳₴₤₰₲₵₭₸₽]"
_CODE = re.compile(rf"({_CURRENCY})([a-z0-9]{{8,14}})\1")
_CODE_HINT = re.compile(_CURRENCY)

# ---- Telegram handles ------------------------------------------------------------------------
# A bare @handle is a member mentioning another; after "tg", 飞机, 电报, or a word asking to
# get in touch (联系, 私聊, 私信, 咨询, 详询, 找我: "有需要的联系详情：@ahai9986") it is the
# ad's contact. Not 来 or 加: "快来 @小李" and "加 @小李 进群" are how members talk.
_TELEGRAM_HANDLE = re.compile(
    rf"(?:(?<![a-z0-9])(?:tg|telegram)|{_marker('飞', '机')}|{_marker('电', '报')}"
    r"|联系|私聊|私信|咨询|详询|找我)"
    r"[^@\n]{0,6}@ ?([a-z][a-z0-9_]{4,31})(?![a-z0-9_])"
)
# A handle right after Telegram's name without its @ ("tg：abc_usdt", "飞机号 abc_usdt",
# "纸飞机搜索 abc_usdt"): only with a digit or "_" in it, or after 号 or id ("tg: hello" is
# chat). (The lookbehind after the t, so that other places fail on their first character.)
_TELEGRAM_NAMED = re.compile(
    rf"(?:t(?<![a-z0-9]t)(?:g|elegram)|{_marker('飞', '机')}|{_marker('电', '报')})"
    r"(?P<id>号|id|账号)?(?:搜索?|:| )[: ]*([a-z][a-z0-9_]{4,31})(?![a-z0-9_@.])"
)


def extract(n: Normalized) -> list[Contact]:
    """Every contact in the message, each once, in a fixed order.

    Phones, then QQ, WeChat, links (each followed by its domain and, for t.me, its Telegram
    name), share codes, then Telegram handles; within each, order of appearance. The same
    message always gives the same list, because the decision log and replays compare them.
    """
    found: dict[Contact, None] = {}

    def add(kind: str, value: str) -> None:
        found.setdefault(Contact(kind, value), None)

    numbered = _FIVE_DIGITS.search(n.compact) is not None
    if numbered:
        for pattern, source in ((_PHONE_TEXT, n.text), (_PHONE_COMPACT, n.compact)):
            for m in pattern.finditer(source):
                add("phone", _digits(m.group(1)))
        if not found:  # an ad disguises the one number it gives, or none
            for m in _PHONE_LOOKALIKE.finditer(n.compact):
                number = m.group(1)
                if not number.isdigit() and sum(ch.isdigit() for ch in number) >= 8:
                    add("phone", number.translate(_AS_DIGITS))
        for pattern in (_LANDLINE, _HOTLINE):
            for m in pattern.finditer(n.text):
                add("phone", _digits(m.group(1)))
        for m in _QQ.finditer(n.compact):
            add("qq", m.group(1))
        for m in _QQ_LONE.finditer(n.text):
            add("qq", _digits(m.group(1)))
        if "@" in n.text:
            for m in _QQ_MAIL.finditer(n.text):
                add("qq", m.group(1))

    if _WECHAT_HINT.search(n.text):
        _wechat(n, add, numbered)
    _links(n.text, add)
    if _CODE_HINT.search(n.text):
        for m in _CODE.finditer(n.text):
            if _looks_random(m.group(2), n.raw):
                add("code", m.group(2))

    if "@" in n.text:
        for m in _TELEGRAM_HANDLE.finditer(n.text):
            add("telegram", m.group(1))
    for m in _TELEGRAM_NAMED.finditer(n.text):
        handle = m.group(2)
        if m.group("id") or "_" in handle or any(ch.isdigit() for ch in handle):
            add("telegram", handle)
    return list(found)


def _looks_random(code: str, raw: str) -> bool:
    """A share code mixes letters with digits or, as sent, upper with lower case; "$abcdefgh$"
    in lower case alone is someone's markup."""
    if not any(ch.isalpha() for ch in code):
        return False
    if any(ch.isdigit() for ch in code):
        return True
    sent = re.search(re.escape(code), raw, re.IGNORECASE)
    return sent is not None and not sent.group().islower() and not sent.group().isupper()


def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


def _wechat(n: Normalized, add: _Add, numbered: bool) -> None:
    ids = []
    for m in _WXID.finditer(n.text):
        ids.append(m.group(1))
    for m in _WECHAT_TEXT.finditer(n.text):
        wid, delim = m.group("id"), m.group("delim")
        # "微信 message" and "喂: everyone" are chat; an all-letter id counts only after a full
        # marker and a "：", "号", "是" …
        if any(ch.isdigit() or ch in "_-" for ch in wid) or (
            m.group("weak") is None and any(c in delim for c in ":=号是为")
        ):
            ids.append(wid)
    if not ids:
        # only now the compact form: it glues the next word onto the id ("abc123thanks")
        for m in _WECHAT_COMPACT.finditer(n.compact):
            if any(ch.isdigit() for ch in m.group(1)):
                ids.append(m.group(1))
    for wid in ids:
        add("wechat", wid)
    if numbered:
        for m in _WECHAT_PHONE.finditer(n.compact):
            add("wechat", m.group(1))


def _links(text: str, add: _Add) -> None:
    if "c0m" in text:
        text = _ZERO_COM.sub("com", text)
    spelt = _SPELT_DOT.sub(".", text) if _DOT_HINT.search(text) else text
    if " ." in spelt or ". " in spelt:
        spelt = _SPACED_DOT.sub(".", spelt)
    if "t.me " in spelt or "t.me/ " in spelt:
        spelt = _TELEGRAM_SLASH.sub("t.me/", spelt)
    if "." not in spelt:  # a host needs one
        return
    for m in _URL.finditer(spelt):
        url = m.group().rstrip(_URL_TRAILING)
        host = _host(url)
        if host is None:
            continue
        add("url", url)
        add("domain", _registrable(host))
        if host in _TELEGRAM_HOSTS:
            handle = _telegram_path(url)
            if handle:
                add("telegram", handle)


def _host(url: str) -> str | None:
    """The host of a candidate link, or None when the candidate is not a link at all."""
    scheme = url.startswith(("http://", "https://"))
    rest = url.split("://", 1)[1] if scheme else url
    host = rest.split("/", 1)[0].split(":", 1)[0].strip(".-")
    labels = host.split(".")
    if len(labels) < 2 or not all(labels):
        return None
    if all(label.isdigit() for label in labels):  # 1.2.3.4 only with a scheme; "2.5" is a number
        return host if scheme and len(labels) == 4 else None
    tld = labels[-1]
    if tld in _TLD_SET or ".".join(labels[-2:]) in SHORTENERS:
        return host
    if (scheme or labels[0] == "www") and tld.isalpha() and len(tld) >= 2:
        return host
    return None


def _registrable(host: str) -> str:
    """The part of a host its owner registered (no public-suffix list: the usual Chinese ones)."""
    labels = host.split(".")
    if labels[-1].isdigit():
        return host
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _telegram_path(url: str) -> str:
    """The channel, user or invite a t.me link points at ("somechannel", "+invite", …)."""
    path = url.split("://", 1)[-1].split("/", 1)
    if len(path) < 2:
        return ""
    segments = [s for s in path[1].split("?", 1)[0].split("#", 1)[0].split("/") if s]
    if not segments:
        return ""
    if segments[0] in _TELEGRAM_PREFIXES and len(segments) > 1:
        return "/".join(segments[:2])
    return segments[0]
