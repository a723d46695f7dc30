"""WhatsApp "Export chat" TXT, Android and iOS, in any locale's date and clock layout.

Facts this reader relies on (Pustur/whatsapp-chat-parser, chat-miner, whatstk and real files):
- every message starts with a header, `25/03/2024, 09:00 - ` (Android) or
  `[25/03/2024, 09:00:00] ` (iOS), in the phone's date order and clock: `3/25/24, 9:00 AM - `,
  `25.03.24, 09:00 - `, `2024-03-25, 09:00 - `, `a. m.`/`p. m.`, `上午/下午`, with U+200E marks
  and U+202F/U+00A0 spaces sprinkled in. A line without a header continues the message above;
- the date order (day or month first) cannot be told from one line. A first cheap pass over
  the file looks at every header: any first field above 12 means day first, any second field
  above 12 means month first; otherwise the field that changes more often is the day; a tie
  falls to the locale's habit (US `AM/PM` with slashes: month first, else day first);
- times are the phone's naive local time: read in `--tz`;
- after the header comes `Name: text`, or a system line with no name (Android). iOS writes
  system lines as `Name: \u200etext`, with the group subject as the "name" of the
  end-to-end-encryption banner. System lines are never messages: `added`, `joined using this
  group's invite link`, `left`, `removed` and `created group` become membership events (English
  wording only), the rest are skipped;
- there are no ids at all: messages and events get content keys, members are names;
- the exporter's own membership lines say "You" / "you": no name to give them, so they are
  skipped, and "You added X" has no known actor.

The group's id: WhatsApp writes none, and the file name is whatever the user kept. The id is
derived, in this order, from the subject in the `created group "X"` line (present whenever
the exporting phone was there at the start, and it never changes afterwards), the iOS banner's
name (the subject at export time), then the file name with WhatsApp's `WhatsApp Chat with `
wording removed (for iOS's `_chat.txt`, the folder it was unzipped into). Two exports of one
group therefore match as long as both hold the creation line or the subject has not changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from qunzhu import i18n
from qunzhu.i18n import tr
from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
    Record,
    content_key,
)
from qunzhu.model.keys import ContentKeys
from qunzhu.sources import ReadContext, SourceError

PLATFORM = Platform.WHATSAPP
_AMPM = r"[AaPp]\.?\s?[Mm]\.?|上午|下午|午前|午後|오전|오후"
_HEADER = re.compile(
    r"[\u200e\u200f]*(\[)?(\d{1,4})[./-](\d{1,2})[./-](\d{1,4}),?\s"
    rf"(?:({_AMPM})\s?)?(\d{{1,2}})[:.](\d{{2}})(?:[:.](\d{{2}}))?(?:\s?({_AMPM}))?"
    r"(?(1)\]\s|\s[-–]\s)"
)
_PM = {"p", "下午", "午後", "오후"}
_MARKS = "\u200e\u200f\u202a\u202c\u2068\u2069\ufeff"
_URL = re.compile(r"https?://[^\s<>()\"']+")
_MENTION = re.compile(r"(?:^|(?<=\s))@(?:\u2068([^\u2069]+)\u2069|([^\s@\u2068]+))")
_ATTACHED = re.compile(
    r"^(?:<(?:attached|附件)[:：]\s*(.+?)>|(.+?\.\w{1,5}) \((?:file attached|Datei angehängt|"
    r"archivo adjunto|arquivo anexado|fichier joint|file allegato|文件已附上|已附加文件)\))"
)
_OMITTED = {
    "<media omitted>": MessageKind.FILE,  # no hint of which media: the most generic kind
    "<medien ausgeschlossen>": MessageKind.FILE,
    "<multimedia omitido>": MessageKind.FILE,
    "<mídia oculta>": MessageKind.FILE,
    "<médias omis>": MessageKind.FILE,
    "<省略影音內容>": MessageKind.FILE,
    "<省略影音内容>": MessageKind.FILE,
    "<媒体文件已省略>": MessageKind.FILE,
    "image omitted": MessageKind.IMAGE,
    "圖片已略去": MessageKind.IMAGE,
    "photo omitted": MessageKind.IMAGE,
    "video omitted": MessageKind.VIDEO,
    "gif omitted": MessageKind.VIDEO,
    "audio omitted": MessageKind.VOICE,
    "sticker omitted": MessageKind.STICKER,
    "document omitted": MessageKind.FILE,
    "contact card omitted": MessageKind.CARD,
}
_DELETED = {
    "this message was deleted",
    "this message was deleted.",
    "you deleted this message",
    "you deleted this message.",
    "此消息已删除",
    "你删除了此消息",
    "此訊息已刪除",
    "se eliminó este mensaje.",
    "diese nachricht wurde gelöscht.",
}
_EDITED = " <This message was edited>"
_MEDIA_PREFIX = {
    "IMG": MessageKind.IMAGE,
    "PHOTO": MessageKind.IMAGE,
    "VID": MessageKind.VIDEO,
    "VIDEO": MessageKind.VIDEO,
    "PTT": MessageKind.VOICE,
    "AUD": MessageKind.VOICE,
    "AUDIO": MessageKind.VOICE,
    "STK": MessageKind.STICKER,
    "STICKER": MessageKind.STICKER,
    "GIF": MessageKind.VIDEO,
}
_EXT_KIND = {
    "jpg": MessageKind.IMAGE,
    "jpeg": MessageKind.IMAGE,
    "png": MessageKind.IMAGE,
    "heic": MessageKind.IMAGE,
    "mp4": MessageKind.VIDEO,
    "mov": MessageKind.VIDEO,
    "opus": MessageKind.VOICE,
    "webp": MessageKind.STICKER,
    "vcf": MessageKind.CARD,
}
_CARD_PREFIXES = ("location: ", "live location shared", "poll:", "位置：")

# System lines (English). Names are greedy-free and anchored, so one pass decides.
_Q = '["“”]'
_CREATED = re.compile(rf"^(.+?) created group {_Q}(.*){_Q}$")
_CREATED_THIS = re.compile(r"^(.+?) created this group$")
_JOINED_LINK = re.compile(r"^(.+?) joined using this group['’]s invite link$")
_JOINED = re.compile(r"^(.+?) joined$")
_ADDED = re.compile(r"^(.+?) added (.+?)\.?$")
_REMOVED = re.compile(r"^(.+?) removed (.+?)\.?$")
_LEFT = re.compile(r"^(.+?) left$")
_SUBJECT = re.compile(
    rf"^.+? changed (?:the subject|the group name) (?:from {_Q}.*{_Q} )?to {_Q}(.*){_Q}$"
)
_BANNER = ("Messages and calls are end-to-end encrypted", "Messages to this group are now secured")
_NOT_MEMBERSHIP = (
    "changed the subject",
    "changed the group name",
    "changed this group's icon",
    "changed the group icon",
    "deleted this group's icon",
    "changed the group description",
    "deleted the group description",
    "changed their phone number",
    "changed to +",
    "security code",
    "changed this group's settings",
    "changed the settings",
    "turned on disappearing messages",
    "turned off disappearing messages",
    "pinned a message",
    "is now an admin",
    "no longer an admin",
    "Missed voice call",
    "Missed video call",
    "requested to join",
    "This chat is with a business account",
)
_YOU = {"You", "you"}

_ZH = {
    "not a WhatsApp chat export: the first line has no date header": (
        "不是 WhatsApp 聊天导出：第一行没有日期时间开头"
    ),
    "not a WhatsApp chat export: no line has a date header": (
        "不是 WhatsApp 聊天导出：没有任何一行带日期时间开头"
    ),
    "system line, not a message: {text}": "系统消息，不是聊天内容：{text}",
    "the exporting phone's own membership ({text})": "导出者本人的成员变动（{text}）",
}
i18n.register(_ZH)


def sniff(head: bytes) -> bool:
    """Strict: the first non-blank line must be a WhatsApp header (`date, time - ` or `[...] `).

    QQ and MemoTrace TXT lines also open with a date and time, but never followed by ` - `
    or inside brackets, so they are not claimed."""
    text = head.decode("utf-8", "ignore").lstrip(_MARKS + " \t\r\n")
    return _HEADER.match(text) is not None


def read(path: Path, ctx: ReadContext) -> Iterator[Record]:
    survey = _survey(path)
    ctx.expected += survey.headers
    yield Group(PLATFORM, content_key("whatsapp-group", survey.key), survey.name)
    yield from _Reader(path, ctx, survey).run()


# -- first pass: the date order, the group, the size --------------------------------------


@dataclass
class _Survey:
    headers: int = 0
    year_first: bool = False
    day_first: bool = True
    key: str = ""
    name: str = ""


@dataclass
class _Counts:
    """What the first pass saw of the day and month fields (after the year, if it leads)."""

    first_big: bool = False  # a first field > 12: it is the day
    second_big: bool = False
    first_changes: int = 0
    second_changes: int = 0
    us_clock: bool = False  # AM/PM with slashes, as en_US writes `3/25/24, 9:00 AM`
    year_first: bool = False
    last: tuple[str, str] = ("", "")
    created: str | None = None
    banner: str | None = None
    subject: str | None = None
    headers: int = 0


def _open(path: Path) -> IO[str]:
    with path.open("rb") as fh:
        bom = fh.read(2)
    encoding = "utf-16" if bom in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    return path.open(encoding=encoding, errors="replace", newline=None)


_SURVEY_WORDS = ("created group", "subject", "group name", "end-to-end")


def _survey(path: Path) -> _Survey:
    """The first pass: date order, group subject and size, without keeping any line."""
    counts = _Counts()
    match = _HEADER.match
    first_line = True
    with _open(path) as fh:
        for line in fh:
            if first_line:
                if not line.strip(_MARKS + " \t\r\n"):
                    continue
                first_line = False
                if match(line.lstrip(_MARKS)) is None:
                    raise SourceError(
                        path,
                        tr("not a WhatsApp chat export: the first line has no date header"),
                        tr("line {n}", n=1),
                    )
            if not line or not (line[0].isdigit() or line[0] in "[\u200e"):
                continue
            settled = counts.first_big or counts.second_big  # one value > 12 settles it
            if settled and not any(word in line for word in _SURVEY_WORDS):
                counts.headers += 1  # for the progress bar only: no need to check the header
                continue
            m = match(line)
            if m is None:
                continue
            counts.headers += 1
            if not settled:
                _count_fields(counts, m)
            rest = line[m.end() :]
            if "created group" in rest or "subject" in rest or "group name" in rest:
                _note_subject(counts, rest.rstrip("\r\n"))
            elif counts.banner is None and "end-to-end encrypted" in rest:
                author, text = _split(rest)
                if author is not None and text.startswith("\u200e"):
                    counts.banner = author
    if counts.headers == 0:
        raise SourceError(path, tr("not a WhatsApp chat export: no line has a date header"))
    survey = _Survey(headers=counts.headers)
    survey.year_first = counts.year_first
    survey.day_first = _day_first(counts)
    survey.key = counts.created or counts.banner or _name_from_file(path)
    survey.name = counts.subject or counts.banner or survey.key
    return survey


def _count_fields(counts: _Counts, m: re.Match[str]) -> None:
    a, b = m.group(2), m.group(3)
    if len(a) >= 3:
        counts.year_first = True
        a, b = b, m.group(4)  # year first: the two others are month and day (or day, month)
    if int(a) > 12:
        counts.first_big = True
    if int(b) > 12:
        counts.second_big = True
    last_a, last_b = counts.last
    if last_a and a != last_a:
        counts.first_changes += 1
    if last_b and b != last_b:
        counts.second_changes += 1
    counts.last = (a, b)
    ampm = m.group(9) or m.group(5)
    if ampm and ampm[0] in "AP" and m.group(0).find("/") > 0:
        counts.us_clock = True


def _day_first(counts: _Counts) -> bool:
    if counts.year_first:  # year/month/day unless a middle field says otherwise
        return counts.first_big and not counts.second_big
    if counts.first_big != counts.second_big:
        return counts.first_big
    if counts.first_changes != counts.second_changes:
        return counts.first_changes > counts.second_changes
    return not counts.us_clock


def _note_subject(counts: _Counts, rest: str) -> None:
    author, body = _split(rest)
    if author is not None and not body.startswith("\u200e"):
        return  # a member's message that happens to mention a subject
    body = body.strip(_MARKS)
    found = _CREATED.match(body)
    if found and counts.created is None:
        counts.created = found.group(2)
        return
    found = _SUBJECT.match(body)
    if found:
        counts.subject = found.group(1)


_FILE_WORDING = re.compile(
    r"^(?:WhatsApp Chat with |WhatsApp Chat - |WhatsApp-Chat mit |Chat de WhatsApp con |"
    r"Conversa do WhatsApp com |Discussion WhatsApp avec |与|與)(.+?)"
    r"(?:的 ?WhatsApp ?(?:聊天|對話|聊天记录))?(?: \(\d+\))?$"
)


def _name_from_file(path: Path) -> str:
    stem = path.stem
    if stem.startswith("_chat"):  # iOS: the zip's folder carries the name
        stem = path.parent.name
    found = _FILE_WORDING.match(stem)
    return found.group(1) if found else stem


# -- second pass: the records ----------------------------------------------------------------


class _Reader:
    def __init__(self, path: Path, ctx: ReadContext, survey: _Survey) -> None:
        self.path = path
        self.ctx = ctx
        self.survey = survey
        self.group_key = survey.key
        self.keys = ContentKeys()
        self.event_keys = ContentKeys()
        self.times: dict[str, tuple[str, datetime]] = {}

    def run(self) -> Iterator[Record]:
        """Collect each header's lines, and turn them into a record when the next one starts."""
        match = _HEADER.match
        pending: tuple[int, str, datetime, str] | None = None
        body: list[str] = []
        dropping = False
        n = 0
        line = ""
        with _open(self.path) as fh:
            for n, line in enumerate(fh, start=1):
                m = match(line) if line and (line[0].isdigit() or line[0] in "[\u200e") else None
                if m is None:
                    if pending is not None:
                        body.append(line.rstrip("\r\n"))
                    elif not dropping and line.strip():
                        self.ctx.skip(tr("line {n}", n=n), tr("text before the first message"))
                    continue
                if pending is not None:
                    yield from self._record(*pending, body)
                    pending = None
                when = self._when(m, n)
                dropping = when is None
                if when is not None:
                    rest = line[m.end() :].rstrip("\r\n")
                    pending = (n, when[0], when[1], rest)
                    body = []
        if pending is not None:
            if not line.endswith("\n") and body and _HEADER_START.fullmatch(body[-1]):
                body.pop()  # a header cut off half-way: the export was interrupted
                self.ctx.skip(tr("line {n}", n=n), tr("incomplete last line"))
            yield from self._record(*pending, body)

    def _when(self, m: re.Match[str], n: int) -> tuple[str, datetime] | None:
        stamp = m.group(0)
        cached = self.times.get(stamp)
        if cached is not None:
            return cached
        try:
            local = self._local(m)
        except ValueError:
            self.ctx.skip(
                tr("line {n}", n=n),
                tr("not a valid date or time ({value!r})", value=stamp.strip(_MARKS + " -[]")),
            )
            return None
        self.ctx.tz_assumed = True
        result = (local.isoformat(), local.replace(tzinfo=self.ctx.tz).astimezone(UTC))
        if len(self.times) > 100_000:
            self.times.clear()
        self.times[stamp] = result
        return result

    def _local(self, m: re.Match[str]) -> datetime:
        a, b, c = int(m.group(2)), int(m.group(3)), int(m.group(4))
        if self.survey.year_first:
            year, month, day = (a, c, b) if self.survey.day_first else (a, b, c)
        else:
            year = c + 2000 if c < 100 else c
            day, month = (a, b) if self.survey.day_first else (b, a)
        hour, minute = int(m.group(6)), int(m.group(7))
        second = int(m.group(8) or 0)
        ampm = m.group(9) or m.group(5)
        if ampm:
            pm = ampm in _PM or ampm[0] in "Pp"
            if hour > 12:
                raise ValueError("hour")
            hour = hour % 12 + (12 if pm else 0)
        return datetime(year, month, day, hour, minute, second)

    # -- one header and its lines ---------------------------------------------------------

    def _record(
        self, n: int, local: str, at: datetime, rest: str, body: list[str]
    ) -> Iterator[Record]:
        author, first = _split(rest)
        if author is None and rest.endswith(":") and body:
            author, first = rest[:-1], ""  # "Name:" with the text on the next line
        if author is not None:
            if first.startswith("\u200e") and not body:  # iOS marks its system lines
                system = first.strip(_MARKS)
                if _is_system(system):
                    yield from self._system(n, local, at, system)
                    return
            text = "\n".join([first, *body]) if body else first
            yield self._message(n, local, at, author.strip(_MARKS), text)
            return
        text = "\n".join([rest, *body]) if body else rest
        yield from self._system(n, local, at, text.strip(_MARKS))

    def _message(self, n: int, local: str, at: datetime, sender: str, text: str) -> Message:
        kind, text = _kind(text)
        urls = tuple(_URL.findall(text)) if "http" in text else ()
        if kind is MessageKind.TEXT and urls:
            kind = MessageKind.LINK
        mentions = (
            tuple("@" + (x or y).rstrip(".,:;!?)") for x, y in _MENTION.findall(text))
            if "@" in text
            else ()
        )
        return Message(
            platform_id=self.keys.key(self.group_key, local, sender, text, kind.value),
            sender=_person(sender),
            sent_at=at,
            kind=kind,
            text=text,
            mentions=mentions,
            urls=urls,
            row=n,
        )

    def _system(self, n: int, local: str, at: datetime, text: str) -> Iterator[MembershipEvent]:
        where = tr("line {n}", n=n)
        if text.startswith(_BANNER) or any(s in text for s in _NOT_MEMBERSHIP):
            self.ctx.skip(where, tr("system line, not a message: {text}", text=text[:80]))
            return
        events = _membership(text)
        if events is None:
            self.ctx.skip(where, tr("system line, not a message: {text}", text=text[:80]))
            return
        for member, action, method, actor in events:
            if member in _YOU:
                self.ctx.skip(where, tr("the exporting phone's own membership ({text})", text=text))
                continue
            key = self.event_keys.key(self.group_key, local, action.value, member)
            yield MembershipEvent(
                key,
                _person(member),
                action,
                at,
                method=method,
                actor=_person(actor) if actor and actor not in _YOU else None,
                row=n,
            )


# A header cut off before its ` - `: only date and clock characters on the line.
_HEADER_START = re.compile(r"[\u200e\u200f]*\[?\d{1,4}[./-]\d{1,2}[\d./,:\s\u202fAPMapm-]*")


def _split(rest: str) -> tuple[str | None, str]:
    """(author, text) for `Name: text`; (None, rest) for a system line without a name.

    A quote before the first `: ` means a system line quoting a subject with a colon in it."""
    author, sep, text = rest.partition(": ")
    if not sep or '"' in author or "“" in author:
        return None, rest
    return author, text


def _is_system(text: str) -> bool:
    """Whether an iOS `\u200e` line is a system line rather than a placeholder or card."""
    lower = text.lower()
    if lower.endswith(" omitted") or lower in _OMITTED or lower in _DELETED:
        return False
    return not (_ATTACHED.match(text) or lower.startswith(_CARD_PREFIXES))


_Event = tuple[str, MembershipAction, JoinMethod | None, str | None]


def _membership(text: str) -> list[_Event] | None:
    """The members a system line adds or removes, or None when it is no membership change."""
    if found := _CREATED.match(text) or _CREATED_THIS.match(text):
        return [(found.group(1), MembershipAction.JOIN, JoinMethod.CREATED, None)]
    if found := _JOINED_LINK.match(text):
        return [(found.group(1), MembershipAction.JOIN, JoinMethod.LINK, None)]
    if found := _ADDED.match(text):
        actor = found.group(1)
        return [
            (name, MembershipAction.JOIN, JoinMethod.INVITE, actor)
            for name in _names(found.group(2))
        ]
    if found := _REMOVED.match(text):
        actor = found.group(1)
        return [(name, MembershipAction.KICK, None, actor) for name in _names(found.group(2))]
    if found := _LEFT.match(text):
        return [(found.group(1), MembershipAction.LEAVE, None, None)]
    if found := _JOINED.match(text):
        return [(found.group(1), MembershipAction.JOIN, JoinMethod.UNKNOWN, None)]
    if text == "You were added":
        return [("You", MembershipAction.JOIN, JoinMethod.INVITE, None)]
    return None


_NAME_LIST = re.compile(r", | and ")


def _names(listed: str) -> list[str]:
    """`Bob`, `Bob and Carol`, `Bob, Carol and Dan`: WhatsApp's way of listing several."""
    return [name.strip(_MARKS + " ") for name in _NAME_LIST.split(listed) if name.strip()]


def _person(name: str) -> Person:
    return Person(None, name)


def _kind(text: str) -> tuple[MessageKind, str]:
    """The kind a WhatsApp placeholder stands for, and the text left once it is taken out."""
    clean = text.strip(_MARKS) if text and (text[0] in _MARKS or text[-1] in _MARKS) else text
    if clean.endswith(_EDITED):
        clean = clean[: -len(_EDITED)]
    first, _, caption = clean.partition("\n")
    if len(first) > 48 and first[0] != "<" and " (" not in first and "omitted" not in first:
        return MessageKind.TEXT, clean  # too long for a placeholder: the common case, fast
    lower = first.strip(_MARKS).lower()
    if lower in _OMITTED:
        return _OMITTED[lower], caption
    if lower.endswith(" omitted"):  # iOS: "Report.pdf • 3 pages document omitted"
        word = lower.rsplit(" ", 2)[-2]
        return _OMITTED.get(f"{word} omitted", MessageKind.FILE), caption
    if lower in _DELETED:
        return MessageKind.RECALL, ""
    found = _ATTACHED.match(first.strip(_MARKS))
    if found:
        return _file_kind(found.group(1) or found.group(2)), caption
    if lower.startswith(_CARD_PREFIXES):
        return MessageKind.CARD, clean
    return MessageKind.TEXT, clean


def _file_kind(name: str) -> MessageKind:
    """`IMG-20240325-WA0001.jpg` (Android) or `00000042-PHOTO-2020-...jpg` (iOS)."""
    for part in re.split(r"[-_]", name)[:2]:
        kind = _MEDIA_PREFIX.get(part.upper())
        if kind is not None:
            return kind
    return _EXT_KIND.get(name.rpartition(".")[2].lower(), MessageKind.FILE)
