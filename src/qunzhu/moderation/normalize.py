"""One canonical spelling of a message, so later layers can ignore how spammers disguise it.

Group spam hides its contact details behind full-width letters, look-alike Cyrillic and Greek
letters, zero-width characters, traditional characters, Chinese numerals and separators between
every character. `normalize` undoes all of that once; `text` keeps word boundaries for readers
that need them (URLs, WeChat ids with "_"), `compact` drops separators so "微 . 信" and
"1 3 8-0013-8000" match like the plain forms.

Everything here is linear in the input: one NFKC pass, one `str.translate`, OpenCC only when the
text has a character it would change, and regexes whose repeated parts cannot overlap (no
catastrophic backtracking).
Nothing raises on any `str`.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["Normalized", "normalize"]


@dataclass(frozen=True, slots=True)
class Normalized:
    """The message as sent, and the two canonical forms the detector layers read."""

    raw: str
    text: str
    compact: str


_SURROGATES = re.compile("[\ud800-\udfff]")
_CJK_RANGES = ((0x3400, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F))
_WHITESPACE = re.compile(r"\s+")

# 中文数字: only a run of five or more becomes digits, so 一起 / 三个人 keep their meaning while
# 幺三八零零幺三八零零零 turns into a phone number. A single space or "-" may sit inside the run.
_CN_DIGITS = {
    "〇": "0",
    "零": "0",
    "幺": "1",
    "一": "1",
    "壹": "1",
    "二": "2",
    "贰": "2",
    "两": "2",
    "三": "3",
    "叁": "3",
    "四": "4",
    "肆": "4",
    "五": "5",
    "伍": "5",
    "六": "6",
    "陆": "6",
    "七": "7",
    "柒": "7",
    "八": "8",
    "捌": "8",
    "九": "9",
    "玖": "9",
}
_CN_TABLE = str.maketrans(_CN_DIGITS)
_NUMERAL = "[0-9" + "".join(_CN_DIGITS) + "]"
_MIN_RUN = 5  # numerals (Chinese or ASCII) in the run
_NUMERAL_RUN = re.compile(f"{_NUMERAL}(?:[ -]?{_NUMERAL}){{{_MIN_RUN - 1},}}")
_MIN_CHINESE = 2  # "2023一季度" has one Chinese numeral and stays as written
# ... but one between two digits is a digit in disguise ("5四2 7049", "15〇6 4775"); not 一,
# which also stands for a dash between numbers ("17一19日", "30一40级")
_BETWEEN_DIGITS = re.compile(r"[0-9][ -]?[〇零二三四五六七八九幺两壹贰叁肆伍陆柒捌玖][ -]?[0-9]")
# Three or more beside a Latin letter (glued, or after one space) are the digits of an id
# ("ktm六五七", "cad 五七一", "八八八八usdt"): chat spells no count that way
_GLUED_MIN = 3
_CN_NUMERALS = "".join(c for c in _CN_DIGITS if c != "两")  # 两 counts things, it spells nothing
_GLUED_RUN = re.compile(f"[{_CN_NUMERALS}]{{{_GLUED_MIN},}}")  # neighbours checked after:
# a lookbehind tried at every character costs four times the plain scan

# Separators between two word characters (letters, digits, CJK) vanish in `compact`. "+" and "@"
# stay: they carry meaning in "+86", "+v" and "@handle".
_SEPARATORS = re.compile(r"(?<=[^\W_])(?:[^\w+@#%&=<>$¥]|_)+(?=[^\W_])")

# Look-alike letters NFKC leaves alone, as we have met them in spam. Mathematical
# alphanumerics, full-width and circled letters are already folded by NFKC before this table is
# applied; Unicode's confusables (`_confusables`) add the rarer scripts under it.
_LOOKALIKES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "і": "i", "ї": "i", "ј": "j", "к": "k", "м": "m",
    "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ь": "b",
    "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l",
    "А": "a", "В": "b", "Е": "e", "Ё": "e", "І": "i", "Ї": "i", "Ј": "j", "К": "k", "М": "m",
    "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t", "У": "y", "Х": "x", "Ѕ": "s", "Һ": "h",
    "Ԛ": "q", "Ԝ": "w", "Ӏ": "l",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j",
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x", "Ϲ": "c",
    # Armenian
    "օ": "o", "ս": "u", "ո": "n", "հ": "h",
    # Latin letters without a decomposition, and small capitals
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d",
    "ł": "l", "Ł": "l", "ħ": "h", "Ħ": "h", "ŧ": "t", "Ŧ": "t",
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i",
    "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s",
    "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    # plus signs in "➕v"
    "➕": "+", "✚": "+", "✙": "+", "✛": "+", "✜": "+", "🞡": "+", "🞢": "+", "🞣": "+",
}  # fmt: skip

# Invisible or joining characters that are not in category Cf: variation selectors, combining
# marks (stripped after NFKC has composed what it can), Hangul fillers, the grapheme joiner.
_INVISIBLE_RANGES = (
    (0x0300, 0x036F),
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x20D0, 0x20FF),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFE20, 0xFE2F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xE0000, 0xE0FFF),
)
# Category Cf lives in these planes (BMP, SMP and the tag plane, covered above).
_SCAN_RANGES = ((0x0000, 0x1FFFF),)


def _confusables() -> dict[int, str]:
    """Every character Unicode's confusables list (UTS #39, through confusable_homoglyphs)
    gives as looking like an ASCII letter or digit: Cherokee Ꮩ, Lisu ꓦ and Canadian ᐯ read v,
    Cyrillic З reads 3. Left alone: ASCII itself (1, l and I stay apart), wide characters,
    which are East Asian script and not disguise (〇 is a numeral, not an O), and right-to-left
    letters, which would turn the line around and so hide nothing, while Arabic and Hebrew chat
    would become nonsense to the model (ا is not an l)."""
    from confusable_homoglyphs import confusables

    found: dict[int, str] = {}
    for target in string.digits + string.ascii_letters:  # on a clash the letter, written last
        entries = confusables.is_confusable(target, greedy=True, preferred_aliases=[]) or []
        for glyph in (g["c"] for e in entries for g in e["homoglyphs"]):
            if len(glyph) != 1 or glyph.isascii():  # "rn" for m; right-to-left ones in marks
                continue
            if unicodedata.east_asian_width(glyph) not in ("W", "F"):
                found[ord(glyph)] = target.lower()
    return found


@cache
def _table() -> dict[int, Any]:
    """The one translation table: built on first use (about 0.2 s) so import stays cheap.
    Later rules win over earlier ones: Unicode's look-alikes first, our own table last."""
    table: dict[int, Any] = dict(_confusables())
    for lo, hi in _SCAN_RANGES:
        for cp in range(lo, hi + 1):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            ch = chr(cp)
            cat = unicodedata.category(ch)
            if cat == "Cf" or (cat == "Cc" and not ch.isspace()):
                table[cp] = None
            elif cat == "Nd" and cp > 0x7F:
                table[cp] = str(unicodedata.decimal(ch))
            elif cat == "No" and unicodedata.normalize("NFKC", ch) == ch:
                # ❶ ➀ ⓵ ⓫ …: dingbat and double-circled digits have no NFKC folding
                value = unicodedata.numeric(ch, -1.0)
                if value.is_integer() and 0 <= value <= 20:
                    table[cp] = str(int(value))
    for cp in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]:
        base = unicodedata.normalize("NFD", chr(cp))[0]
        if base.isascii() and base.isalpha():
            table[cp] = base.lower()
    for lo, hi in _INVISIBLE_RANGES:
        for cp in range(lo, hi + 1):
            table[cp] = None
    table[0x2800] = " "  # braille blank, used as an invisible space
    for i in range(26):
        letter = chr(ord("a") + i)
        table[ord("A") + i] = letter
        table[0x1F150 + i] = letter  # 🅐 negative circled
        table[0x1F170 + i] = letter  # 🅰 negative squared
        table[0x1F1E6 + i] = letter  # 🇦 regional indicator
    for ch, ascii_ in _LOOKALIKES.items():
        table[ord(ch)] = ascii_
    return table


@cache
def _t2s() -> Any:
    """OpenCC's converter loads its dictionaries once per process."""
    from opencc import OpenCC

    return OpenCC("t2s")


@cache
def _traditional() -> re.Pattern[str]:
    """The characters OpenCC changes on their own (about 4,200 in the BMP): most chat has none
    of them and skips the converter. Asked of OpenCC itself, in one call (about 30 ms, once).
    Astral CJK is rare and joins the class as one range: a class listing its ~900 changed
    characters one by one is searched linearly by `re` (65 µs a message instead of 0.4)."""
    chars = [chr(cp) for lo, hi in _CJK_RANGES[:2] for cp in range(lo, hi + 1)]
    converted = _t2s().convert("\n".join(chars)).split("\n")
    changed = "".join(c for c, to in zip(chars, converted, strict=True) if c != to)
    lo, hi = _CJK_RANGES[2]
    return re.compile(f"[{re.escape(changed)}{chr(lo)}-{chr(hi)}]")


def _glued(match: re.Match[str]) -> str:
    s, start, end = match.string, match.start(), match.end()
    before = s[max(start - 2, 0) : start].rjust(2)
    after = s[end : end + 1]
    beside = "a" <= before[1] <= "z" or (before[1] == " " and "a" <= before[0] <= "z")
    if beside or "a" <= after <= "z":
        return match.group().translate(_CN_TABLE)
    return match.group()


def _numerals(match: re.Match[str]) -> str:
    run = match.group()
    if run.isascii():  # digits, spaces and "-" only: nothing to translate
        return run
    chinese = sum(1 for ch in run if ch in _CN_DIGITS)
    digits = sum(1 for ch in run if "0" <= ch <= "9")
    if chinese + digits >= _MIN_RUN and (
        chinese >= _MIN_CHINESE or _BETWEEN_DIGITS.search(run) is not None
    ):
        return run.translate(_CN_TABLE)
    return run


# A right-to-left override (U+202E) shows what follows it reversed, up to its end (U+202C),
# the line's end or the message's: ids written backwards after one read forwards to people.
_OVERRIDDEN = re.compile("\u202e([^\u202a-\u202e\u2066-\u2069\n]*)(?:\u202c)?")


# A message spelt out a character at a time ("加 我 微 信 领 福 利"): chat sets phrases apart
# with spaces, not every character, so such a message is read joined up (in `text`; `compact`
# drops spaces anyway), as the model learnt the words. Six words or more, four in five of one
# character: "a b c" or "i am a boy" stay as they are. The spaces that go are those beside a
# character beyond ASCII, and between two digits (one number); letters keep the spaces between
# them ("q 1 2 3 4 5 6" names a QQ number by the space after its q; a word after a word).
_SPELT_WORDS = 6
_SPELT_SHARE = 0.8
_SPELT_GAP = re.compile(r"(?<=[^\x00-\x7f]) | (?=[^\x00-\x7f])|(?<=[0-9]) (?=[0-9])")
# A link has no spaces: four pieces or more of ASCII that hold a web address once joined up
# ("h t t p : / / a b . c n", "w w w . 1 1 1 . c o m") are read as that address
_SPELT_RUN = re.compile(r"(?<!\S)[a-z0-9]+(?: (?:[0-9]+|[!-~])){3,}(?!\S)")
_LINK = re.compile(r"https?://|www\.|[a-z0-9-]\.[a-z]{2,}(?:[/?#:]|$)")


def _spelt_link(match: re.Match[str]) -> str:
    joined = match.group().replace(" ", "")
    return joined if _LINK.search(joined) else match.group()


def _spelt_out(s: str) -> bool:
    if s.count(" ") < _SPELT_WORDS - 1:
        return False
    words = s.split(" ")
    return sum(len(w) == 1 for w in words) >= _SPELT_SHARE * len(words)


def normalize(raw: str) -> Normalized:
    """Fold every disguise we know into one spelling; never raises, linear in `len(raw)`."""
    s = _SURROGATES.sub("", raw)  # lone surrogates cannot be encoded, and mean nothing
    if "\u202e" in s:  # shown right to left: "\u202e54321cba" reads "abc12345" on screen
        s = _OVERRIDDEN.sub(lambda m: m.group(1)[::-1], s)
    if not unicodedata.is_normalized("NFKC", s):  # the check is a tenth of the work
        s = unicodedata.normalize("NFKC", s)
    s = s.translate(_table())
    if _traditional().search(s):  # also spares simplified text OpenCC's phrase slips (打坏 → 打坯)
        s = _t2s().convert(s)
    s = _WHITESPACE.sub(" ", s).strip()
    if _spelt_out(s):
        s = _SPELT_GAP.sub("", _SPELT_RUN.sub(_spelt_link, s))
    text = _NUMERAL_RUN.sub(_numerals, s)
    text = _GLUED_RUN.sub(_glued, text)
    compact = _SEPARATORS.sub("", text.replace(" ", ""))
    return Normalized(raw=raw, text=text, compact=compact)
