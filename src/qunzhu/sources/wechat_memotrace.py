"""WeChatMsg / MemoTrace exports of a WeChat 3.x group: the per-chat CSV and the TXT.

Facts this reader relies on (formats-and-metrics.md A1.1, A1.3, A1.4, A1.7):
- the CSV is `<remark>_utf8.csv`, UTF-8 with a BOM, with the `MSG` table's columns
  `localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,
  Sender`. `CreateTime` is epoch seconds (trusted); `StrTime` is the exporting PC's naive local
  time, used (in `--tz`) only when `CreateTime` is unusable. In a group, `Sender` is the member's
  wxid and `NickName` the name others see (`Remark` is the exporter's private note on them);
- the TXT is `<remark>.txt`: blocks `"{StrTime} {name}\n{content}\n\n"`, and system lines
  `"{StrTime} {text}\n\n"` with no name and no content line. Media are placeholders (`[图片]`),
  quote-replies `title\n引用:{name}:{quoted}`, link cards `[链接]:title:…\nurl:…`. No ids at all;
- the CSV drops `CompressContent`, so quote-replies (49/57) and link cards (49/5) keep no text;
- type 10000 rows are plain-text system notices (`"A"邀请"B、C"加入了群聊`, `"B"通过扫描"A"分享的
  二维码加入群聊`, `你将"X"移出了群聊`, `"X" 撤回了一条消息`); 10002 rows are sysmsg XML (pats,
  templates) and are skipped. WeChat announces no voluntary leaves.

The group's id: neither export holds the chatroom id, and the group's name lives only in the
file name MemoTrace gives (`<remark>_utf8.csv`, `<remark>.txt`), so the id is a hash of that
name (a TXT gets its own: its members are names, a CSV's are wxids, so their messages can never
be matched). Message ids are content keys (time, sender, content): `localId` is per DB shard.

"你" in a system line is the exporting account. A CSV names it in its own rows (`IsSender=1`),
so lines that need it wait until that row is seen (see `SystemLines`).

The WeChat system-line grammar, the exporter-self handling and the encoding sniffing live here
and are shared by the PyWxDump and WeChat 4.x readers.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

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
from qunzhu.sources import SNIFF_BYTES, ReadContext, SourceError

PLATFORM = Platform.WECHAT

_ZH = {
    "not a MemoTrace CSV: no {column!r} column": "不是留痕（MemoTrace）CSV：缺少 {column!r} 列",
    "not a MemoTrace TXT: the first line is not a `YYYY-MM-DD HH:MM:SS name` header": (
        "不是留痕（MemoTrace）TXT：第一行不是“YYYY-MM-DD HH:MM:SS 名字”格式"
    ),
    "empty file": "文件为空",
    "rows of more than one chat ({first}, {other})": "包含多个聊天的记录（{first}、{other}）",
    "a one-to-one chat ({room}), not a group chat": "这是一对一私聊（{room}），不是群聊",
    "expected {want} fields, found {got}": "应有 {want} 列，实际 {got} 列",
    "unreadable CSV row ({why})": "无法读取的 CSV 行（{why}）",
    "bad time ({value!r})": "时间无效（{value!r}）",
    "bad message type ({value!r})": "消息类型无效（{value!r}）",
    "unsupported message type {kind}": "不支持的消息类型 {kind}",
    "a call, not a message": "通话记录，不是消息",
    "a friend request, not a group message": "好友申请，不是群消息",
    "system XML notice (pat, template or revoke echo)": "系统 XML 通知（拍一拍、模板或撤回回执）",
    "system line that is not a membership change": "不是成员变动的系统消息",
    "the exporting account joined: its name is not in the line": (
        "导出账号自己入群：该行中没有其名字"
    ),
    "the exporting account was removed: its name is not in the line": (
        "导出账号被移出群：该行中没有其名字"
    ),
    "a recall by the exporting account, which this export never names": (
        "导出账号撤回的消息，但导出文件中找不到该账号"
    ),
}
i18n.register(_ZH)

CSV_COLUMNS = (
    "localId",
    "TalkerId",
    "Type",
    "SubType",
    "IsSender",
    "CreateTime",
    "Status",
    "StrContent",
    "StrTime",
    "Remark",
    "NickName",
    "Sender",
)
_CSV_HEAD = b"localId,TalkerId,Type,SubType,IsSender,CreateTime"
_TXT_HEAD = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) (.*)")
_TXT_HEAD_B = re.compile(rb"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} ([^\r\n]*)", re.M)
_QQ_NAME_B = re.compile(rb"(?:\(\d{4,}\)|<[^<>\s]+@[^<>\s]+>)\s*$|^(?:AM|PM) ")

# ---------------------------------------------------------------------------------------------
# Shared by the WeChat readers
# ---------------------------------------------------------------------------------------------

URL = re.compile(r"https?://[^\s<>\"'，。）]+")
MENTION = re.compile(r"(?:^|(?<=\s))@([^\s@\u2005]{1,40})(?=\u2005|\s|$)")
_TAG = re.compile(r"<[^>]*>")
_Q = '"“”'
_NAMES = re.compile(rf"[{_Q}](.+)[{_Q}]")
_INVITE = re.compile(rf"(?:[{_Q}](?P<actor>.+?)[{_Q}]|(?P<me>你))邀请(?P<whom>.+?)加入了群聊")
_QR = re.compile(
    rf"(?:[{_Q}](?P<member>.+?)[{_Q}]|(?P<me>你))通过扫描"
    rf"(?:[{_Q}](?P<actor>.+?)[{_Q}]|(?P<by_me>你))分享的二维码加入群聊"
)
_KICK = re.compile(rf"(?:[{_Q}](?P<actor>.+?)[{_Q}]|(?P<me>你))将(?P<whom>.+?)移出了群聊")
_KICKED_ME = re.compile(rf"你被[{_Q}].+?[{_Q}]移出群聊")
_RECALL = re.compile(rf"(?:[{_Q}](?P<who>.+?)[{_Q}]|(?P<me>你)) ?撤回了一条消息")
# What the exporting account is called until its own row names it.
YOU = Person(None, "\x00you")

# (Type, SubType) of WeChat 3.x -> kind; `None` SubType: any.
_KINDS: dict[int, MessageKind] = {
    1: MessageKind.TEXT,
    3: MessageKind.IMAGE,
    34: MessageKind.VOICE,
    42: MessageKind.CARD,
    43: MessageKind.VIDEO,
    47: MessageKind.STICKER,
    48: MessageKind.CARD,
}
_APP_KINDS: dict[int, MessageKind] = {
    0: MessageKind.FILE,
    1: MessageKind.TEXT,
    3: MessageKind.LINK,
    4: MessageKind.LINK,
    5: MessageKind.LINK,
    6: MessageKind.FILE,
    8: MessageKind.STICKER,
    57: MessageKind.TEXT,
    2000: MessageKind.TRANSFER,
    2001: MessageKind.RED_PACKET,
    2003: MessageKind.RED_PACKET,
}


def wechat_kind(type_: int, sub: int) -> MessageKind | None:
    """The kind of a member message of WeChat type (Type, SubType); None if it is no message.

    App messages (49) not listed are structured cards: mini-programs, notes, solitaires,
    channel posts, merged forwards, announcements."""
    if type_ == 49:
        return _APP_KINDS.get(sub, MessageKind.CARD)
    return _KINDS.get(type_)


def text_kind(text: str) -> tuple[MessageKind, tuple[str, ...]]:
    """A text message is a link when it carries a URL (WeChat sends pasted URLs as text)."""
    if "http" in text:
        urls = tuple(URL.findall(text))
        if urls:
            return MessageKind.LINK, urls
    return MessageKind.TEXT, ()


def mentions(text: str) -> tuple[str, ...]:
    """`@name` followed by U+2005 (or a space): WeChat's rendering of a mention."""
    if "@" not in text:
        return ()
    return tuple("@" + m for m in MENTION.findall(text))


def open_text(path: Path, head: bytes | None = None) -> IO[str]:
    """Open a WeChat export as text: UTF-8 (BOM or not), else GB18030 (Excel re-saves as GBK).

    Invalid bytes become U+FFFD rather than an error: one bad byte must not lose the file."""
    if head is None:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    encoding = "gb18030" if _looks_gbk(head) else "utf-8-sig"
    return path.open(encoding=encoding, errors="replace", newline="")


def _looks_gbk(head: bytes) -> bool:
    """Most non-ASCII bytes invalid as UTF-8 and fine as GB18030: GBK. A stray bad byte in a
    UTF-8 file is damage, not GBK: reading the rest as GB18030 would garble everything."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return False
    except UnicodeDecodeError:
        pass
    bad = head.decode("utf-8", "replace").count("\ufffd")
    high = sum(1 for b in head if b >= 0x80)
    if bad * 10 < high:
        return False
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def ends_with_newline(path: Path) -> bool:
    """A half-written export lacks its last newline: its last line is not to be trusted."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return True
        fh.seek(-1, 2)
        return fh.read(1) in (b"\n", b"\r")


def local_time(text: str, tz: ZoneInfo) -> datetime:
    """`2024-05-06 09:00:00`, `2024/5/6 9:00` (Excel) or epoch digits; naive means `tz`."""
    text = text.strip()
    if text.isdigit():
        stamp = int(text)
        return datetime.fromtimestamp(stamp / 1000 if stamp > 10**11 else stamp, UTC)
    m = _LOCAL.fullmatch(text)
    if m is None:
        raise ValueError(text)
    y, mo, d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    return datetime(y, mo, d, h, mi, s, tzinfo=tz).astimezone(UTC)


_LOCAL = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")


class LocalClock:
    """`local_time` for a stream of times: the zone's offset is looked up once per hour of
    input (a DST change falls on an hour in every zone that has one), the rest is arithmetic.
    Exports hold a million stamps; a zone lookup per stamp is most of the reader's time."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.hour = ""
        self.base = datetime.min.replace(tzinfo=UTC)

    def __call__(self, text: str) -> datetime:
        if len(text) == 19 and text[:13] == self.hour:
            mi, s = int(text[14:16]), int(text[17:19])
            if mi > 59 or s > 59:
                raise ValueError(text)
            return self.base + timedelta(minutes=mi, seconds=s)
        at = local_time(text, self.tz)
        if len(text) == 19 and text[4] == "-" and text[13] == ":":
            self.hour = text[:13]
            self.base = at - timedelta(minutes=int(text[14:16]), seconds=int(text[17:19]))
        return at


def remember(recent: dict[Any, str], key: Any, msg_id: str, cap: int) -> dict[Any, str]:
    """`recent` with `key` as its newest entry, cut to its newest half when over `cap`.

    (Deleting a dict's oldest entry one at a time makes finding the next oldest ever slower.)"""
    recent.pop(key, None)
    recent[key] = msg_id
    if len(recent) > cap:
        return dict(list(recent.items())[-(cap // 2) :])
    return recent


def _names(quoted: str) -> list[str]:
    """`"B、C"` -> [B, C]; `你和"B"` -> [B] (the exporter itself is not named)."""
    m = _NAMES.search(quoted)
    if m is None:
        return []
    return [n for n in m.group(1).split("、") if n]


class SystemLines:
    """WeChat's plain-text system notices, as membership events or recalls.

    "你" is the exporting account. Records that need it wait in `pending` until `learn` is told
    who it is (its own first message); at the end `finish` lets them go without it (an unknown
    actor) or skips them (an unknown member). At most `cap` wait, so memory stays bounded.
    """

    def __init__(self, ctx: ReadContext, cap: int = 20_000) -> None:
        self.ctx = ctx
        self.me: Person | None = None
        self.pending: list[tuple[str, MembershipEvent | Message]] = []
        self.cap = cap

    def learn(self, me: Person) -> Iterator[Record]:
        if self.me is not None:
            return
        self.me = me
        pending, self.pending = self.pending, []
        for where, record in pending:
            resolved = self._resolve(where, record)
            if resolved is not None:
                yield resolved

    def finish(self) -> Iterator[Record]:
        pending, self.pending = self.pending, []
        for where, record in pending:
            resolved = self._resolve(where, record)
            if resolved is not None:
                yield resolved

    def _resolve(self, where: str, record: MembershipEvent | Message) -> Record | None:
        me = self.me
        if isinstance(record, Message):
            if me is None:
                self.ctx.skip(
                    where, tr("a recall by the exporting account, which this export never names")
                )
                return None
            return replace(record, sender=me)
        if record.member is YOU:
            if me is None:
                self.ctx.skip(
                    where, tr("the exporting account joined: its name is not in the line")
                )
                return None
            record = replace(record, member=me)
        if record.actor is YOU:
            record = replace(record, actor=me)
        return record

    def _emit(self, where: str, records: list[MembershipEvent | Message]) -> Iterator[Record]:
        for record in records:
            needs_me = (
                record.sender is YOU
                if isinstance(record, Message)
                else record.member is YOU or record.actor is YOU
            )
            if not needs_me:
                yield record
            elif self.me is not None:
                resolved = self._resolve(where, record)
                if resolved is not None:
                    yield resolved
            else:
                self.pending.append((where, record))
                if len(self.pending) > self.cap:
                    yield from self.finish()

    def line(self, text: str, at: datetime, base: str, row: int, where: str) -> Iterator[Record]:
        """Records for one system notice; `base` is its id (events get `base:n`)."""
        if "<" in text:
            text = _TAG.sub("", text)
        text = text.strip()
        records = self._parse(text, at, base, row)
        if records is None:
            reason = (
                tr("the exporting account was removed: its name is not in the line")
                if _KICKED_ME.match(text)
                else tr("system line that is not a membership change")
            )
            self.ctx.skip(where, reason)
            return
        yield from self._emit(where, records)

    def _parse(
        self, text: str, at: datetime, base: str, row: int
    ) -> list[MembershipEvent | Message] | None:
        def person(name: str | None, me: str | None) -> Person:
            return YOU if me else Person(None, name)

        if "撤回了一条消息" in text:
            m = _RECALL.match(text)
            if m is None:
                return None
            sender = person(m.group("who"), m.group("me"))
            return [Message(base, sender, at, MessageKind.RECALL, row=row)]
        if "加入了群聊" in text and "邀请" in text:
            m = _INVITE.match(text)
            if m is None:
                return None
            actor = person(m.group("actor"), m.group("me"))
            whom = m.group("whom")
            members: list[Person] = [Person(None, n) for n in _names(whom)]
            if whom.startswith("你"):
                members.insert(0, YOU)
            return [
                MembershipEvent(
                    f"{base}:{n}",
                    member,
                    MembershipAction.JOIN,
                    at,
                    method=JoinMethod.INVITE,
                    actor=actor,
                    row=row,
                )
                for n, member in enumerate(members)
            ]
        if "二维码加入群聊" in text:
            m = _QR.match(text)
            if m is None:
                return None
            member = person(m.group("member"), m.group("me"))
            actor = person(m.group("actor"), m.group("by_me"))
            return [
                MembershipEvent(
                    f"{base}:0",
                    member,
                    MembershipAction.JOIN,
                    at,
                    method=JoinMethod.LINK,
                    actor=actor,
                    row=row,
                )
            ]
        if "移出了群聊" in text:
            m = _KICK.match(text)
            if m is None:
                return None
            actor = person(m.group("actor"), m.group("me"))
            return [
                MembershipEvent(
                    f"{base}:{n}",
                    Person(None, name),
                    MembershipAction.KICK,
                    at,
                    actor=actor,
                    row=row,
                )
                for n, name in enumerate(_names(m.group("whom")))
            ] or None
        return None


# ---------------------------------------------------------------------------------------------
# MemoTrace
# ---------------------------------------------------------------------------------------------


def sniff(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf")
    if start.startswith(_CSV_HEAD):
        return True
    return _sniff_txt(start)


def _sniff_txt(start: bytes) -> bool:
    start = start.lstrip(b"\r\n")
    first = _TXT_HEAD_B.match(start)
    if first is None:
        return False
    # QQ's TXT has the same header shape, but every name ends in (QQ number) or <e-mail>.
    return all(_QQ_NAME_B.search(m.group(1)) is None for m in _TXT_HEAD_B.finditer(start))


def group_name(path: Path) -> str:
    """MemoTrace names each export after the chat: `<remark>_utf8.csv`, `<remark>.txt`."""
    stem = path.stem
    return stem[: -len("_utf8")] if stem.endswith("_utf8") else stem


def read(path: Path, ctx: ReadContext) -> Iterator[Record]:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.lstrip(b"\xef\xbb\xbf").startswith(b"localId,"):
        return _read_csv(path, head, ctx)
    return _read_txt(path, head, ctx)


# -- CSV ---------------------------------------------------------------------------------------


def _read_csv(path: Path, head: bytes, ctx: ReadContext) -> Iterator[Record]:
    complete = ends_with_newline(path)
    with open_text(path, head) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise SourceError(path, tr("empty file"))
        header = [h.strip().lstrip("\ufeff") for h in header]
        cols = {name: i for i, name in enumerate(header)}
        for column in ("Type", "StrContent"):
            if column not in cols:
                raise SourceError(
                    path,
                    tr("not a MemoTrace CSV: no {column!r} column", column=column),
                    tr("line {n}", n=1),
                )
        if "CreateTime" not in cols and "StrTime" not in cols:
            raise SourceError(
                path,
                tr("not a MemoTrace CSV: no {column!r} column", column="CreateTime"),
                tr("line {n}", n=1),
            )
        name = group_name(path)
        gid = content_key("wechat-memotrace", name)
        yield Group(PLATFORM, gid, name)
        yield from _CsvRows(path, ctx, gid, cols, len(header)).run(reader, complete)


class _CsvRows:
    """The rows of one CSV, with the little state a group needs (ids, self, people)."""

    def __init__(
        self, path: Path, ctx: ReadContext, gid: str, cols: dict[str, int], width: int
    ) -> None:
        self.path = path
        self.ctx = ctx
        self.gid = gid
        self.width = width
        self.keys = ContentKeys()
        self.system = SystemLines(ctx)
        self.people: dict[tuple[str, str, str], Person | None] = {}
        get = cols.get
        self.c_type, self.c_sub, self.c_is_sender = get("Type"), get("SubType"), get("IsSender")
        self.c_create, self.c_content, self.c_str_time = (
            get("CreateTime"),
            get("StrContent"),
            get("StrTime"),
        )
        self.c_remark, self.c_nick, self.c_sender = get("Remark"), get("NickName"), get("Sender")
        self.c_talker = get("TalkerId")
        self.talker: str | None = None

    def run(self, reader: Iterable[list[str]], complete: bool) -> Iterator[Record]:
        rows = iter(reader)
        line = 1
        held: tuple[int, list[str]] | None = None  # one row of look-ahead, for the last line
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                line = reader.line_num  # type: ignore[attr-defined]
                self.ctx.skip(tr("line {n}", n=line), tr("unreadable CSV row ({why})", why=exc))
                continue
            start = line + 1
            line = reader.line_num  # type: ignore[attr-defined]
            if held is not None:
                yield from self._row(*held)
            held = (start, row) if row else None
        if held is not None:
            if complete:
                yield from self._row(*held)
            else:
                self.ctx.skip(tr("line {n}", n=held[0]), tr("incomplete last line"))
        yield from self.system.finish()

    def _person(self, row: list[str]) -> Person | None:
        sender = row[self.c_sender] if self.c_sender is not None else ""
        nick = row[self.c_nick] if self.c_nick is not None else ""
        remark = row[self.c_remark] if self.c_remark is not None else ""
        key = (sender, nick, remark)
        person = self.people.get(key, False)
        if person is False:
            name = nick or remark or None
            person = Person(sender, name) if sender else Person(None, name) if name else None
            self.people[key] = person
        return person  # type: ignore[return-value]

    def _when(self, row: list[str]) -> datetime:
        if self.c_create is not None:
            stamp = row[self.c_create]
            if stamp.isdigit():
                return datetime.fromtimestamp(int(stamp), UTC)
        if self.c_str_time is None:
            raise ValueError(row[self.c_create] if self.c_create is not None else "")
        self.ctx.tz_assumed = True
        return local_time(row[self.c_str_time], self.ctx.tz)

    def _row(self, line: int, row: list[str]) -> Iterator[Record]:
        ctx = self.ctx
        if len(row) != self.width:
            where = tr("line {n}", n=line)
            ctx.skip(
                where, tr("expected {want} fields, found {got}", want=self.width, got=len(row))
            )
            return
        if self.c_talker is not None and row[self.c_talker] != self.talker:
            if self.talker is not None:  # MemoTrace's all-chats `messages.csv`
                raise SourceError(
                    self.path,
                    tr(
                        "rows of more than one chat ({first}, {other})",
                        first=self.talker,
                        other=row[self.c_talker],
                    ),
                    tr("line {n}", n=line),
                )
            self.talker = row[self.c_talker]
        try:
            type_ = int(row[self.c_type])  # type: ignore[index]
            sub = int(row[self.c_sub] or 0) if self.c_sub is not None else 0
        except ValueError:
            ctx.skip(
                tr("line {n}", n=line), tr("bad message type ({value!r})", value=row[self.c_type])
            )  # type: ignore[index]
            return
        try:
            at = self._when(row)
        except (ValueError, OverflowError, OSError):
            value = row[self.c_create] if self.c_create is not None else row[self.c_str_time]  # type: ignore[index]
            ctx.skip(tr("line {n}", n=line), tr("bad time ({value!r})", value=value))
            return
        content = row[self.c_content]  # type: ignore[index]
        if type_ == 10000:
            base = self.keys.key(self.gid, int(at.timestamp()), "system", content)
            yield from self.system.line(content, at, base, line, tr("line {n}", n=line))
            return
        kind = wechat_kind(type_, sub)
        if kind is None:
            ctx.skip(tr("line {n}", n=line), _not_a_message(type_, sub))
            return
        sender = self._person(row)
        if sender is None:
            ctx.skip(tr("line {n}", n=line), tr("no sender"))
            return
        if self.c_is_sender is not None and row[self.c_is_sender] == "1" and sender.user_id:
            yield from self.system.learn(sender)
        text = ""
        urls: tuple[str, ...] = ()
        if kind is MessageKind.TEXT and not content.startswith("<"):
            text = content
            kind, urls = text_kind(text)
        yield Message(
            # Type is left out: rows that differ only in it differ in content, or take turns.
            platform_id=self.keys.key(
                self.gid, int(at.timestamp()), sender.user_id or sender.name, content
            ),
            sender=sender,
            sent_at=at,
            kind=kind,
            text=text,
            mentions=mentions(text),
            urls=urls,
            row=line,
        )


def _not_a_message(type_: int, sub: int) -> str:
    if type_ == 50:
        return tr("a call, not a message")
    if type_ == 37:
        return tr("a friend request, not a group message")
    if type_ == 10002:
        return tr("system XML notice (pat, template or revoke echo)")
    return tr("unsupported message type {kind}", kind=f"{type_}/{sub}")


# -- TXT ---------------------------------------------------------------------------------------

_PLACEHOLDERS = {
    "[图片]": MessageKind.IMAGE,
    "[语音]": MessageKind.VOICE,
    "[视频]": MessageKind.VIDEO,
    "[表情包]": MessageKind.STICKER,
    "[文件]": MessageKind.FILE,
    "[音乐分享]": MessageKind.LINK,
    "[名片]": MessageKind.CARD,
    "[位置]": MessageKind.CARD,
    "[位置分享]": MessageKind.CARD,
    "[小程序]": MessageKind.CARD,
    "[聊天记录]": MessageKind.CARD,
}
_LINK_TITLE = re.compile(r"\[链接\]:title:(.*)")
_LINK_URL = re.compile(r"\s*url:(\S+)")
_QUOTE = "引用:"
_RECENT = 20_000  # messages remembered to resolve quote-replies


class _Block:
    __slots__ = ("body", "line", "rest", "stamp")

    def __init__(self, line: int, stamp: re.Match[str]) -> None:
        self.line = line
        self.stamp = stamp
        self.rest = stamp.group(7)
        self.body: list[str] = []


def _read_txt(path: Path, head: bytes, ctx: ReadContext) -> Iterator[Record]:
    complete = ends_with_newline(path)
    with open_text(path, head) as fh:
        first, skipped = "", 0
        for first in fh:
            if first.strip("\ufeff \t\r\n"):
                break
            skipped += 1
        if not first.strip("\ufeff \t\r\n"):
            raise SourceError(path, tr("empty file"))
        if _TXT_HEAD.match(first.lstrip("\ufeff")) is None:
            raise SourceError(
                path,
                tr(
                    "not a MemoTrace TXT: the first line is not a `YYYY-MM-DD HH:MM:SS name` header"
                ),
                tr("line {n}", n=skipped + 1),
            )
        name = group_name(path)
        gid = content_key("wechat-memotrace-txt", name)
        yield Group(PLATFORM, gid, name)
        yield from _TxtBlocks(ctx, gid).run(fh, first.lstrip("\ufeff"), skipped + 1, complete)


class _TxtBlocks:
    """Blocks of a TXT: a header line after a blank line starts the next one."""

    def __init__(self, ctx: ReadContext, gid: str) -> None:
        self.ctx = ctx
        self.gid = gid
        self.keys = ContentKeys()
        self.system = SystemLines(ctx)
        self.recent: dict[tuple[str, str], str] = {}  # (name, content) -> id, for quotes
        self.clock = LocalClock(ctx.tz)
        ctx.tz_assumed = True  # every TXT time is naive

    def run(
        self, lines: Iterable[str], first: str, first_line: int, complete: bool
    ) -> Iterator[Record]:
        match = _TXT_HEAD.match
        n = first_line
        block = _Block(n, match(first.rstrip("\r\n")))  # type: ignore[arg-type]
        blank = False
        for raw in lines:
            n += 1
            line = raw.rstrip("\r\n")
            if blank and line[:2] in ("19", "20"):
                m = match(line)
                if m is not None:
                    yield from self._block(block)
                    block = _Block(n, m)
                    blank = False
                    continue
            blank = not line.strip()
            block.body.append(line)
        if complete:
            yield from self._block(block)
        else:
            self.ctx.skip(tr("line {n}", n=n), tr("incomplete last line"))
        yield from self.system.finish()

    def _block(self, block: _Block) -> Iterator[Record]:
        body = block.body
        while body and not body[-1].strip():
            body.pop()
        try:
            at = self.clock(block.stamp.group(0)[:19])
        except ValueError:
            where = tr("line {n}", n=block.line)
            self.ctx.skip(where, tr("bad time ({value!r})", value=block.stamp.group(0)[:19]))
            return
        stamp = int(at.timestamp())
        if not body:  # no name, no content: a system line
            base = self.keys.key(self.gid, stamp, "system", block.rest)
            where = tr("line {n}", n=block.line)
            yield from self.system.line(block.rest, at, base, block.line, where)
            return
        name = block.rest
        if not name:
            self.ctx.skip(tr("line {n}", n=block.line), tr("no sender"))
            return
        content = "\n".join(body)
        msg_id = self.keys.key(self.gid, stamp, name, content)
        message, quotable = self._message(msg_id, Person(None, name), at, body, block.line)
        self.recent = remember(self.recent, (name, quotable), msg_id, _RECENT)
        yield message

    def _message(
        self, msg_id: str, sender: Person, at: datetime, body: list[str], row: int
    ) -> tuple[Message, str]:
        """The message, and its body as a quote of it would show it."""
        first = body[0].strip()
        if len(body) == 1 and first in _PLACEHOLDERS:
            return Message(msg_id, sender, at, _PLACEHOLDERS[first], row=row), first
        link = _LINK_TITLE.match(first)
        if link is not None:
            urls = tuple(m.group(1) for line in body if (m := _LINK_URL.match(line)))
            title = link.group(1)
            return Message(msg_id, sender, at, MessageKind.LINK, title, urls=urls, row=row), title
        reply_to = None
        for i in range(len(body) - 1, 0, -1):  # the quote may span lines: find where it starts
            if body[i].startswith(_QUOTE):
                quote = "\n".join(body[i:])[len(_QUOTE) :]
                quoted_name, _, quoted = quote.partition(":")
                reply_to = self.recent.get((quoted_name, quoted))
                body = body[:i]
                break
        text = "\n".join(body)
        kind, urls = text_kind(text)
        message = Message(
            msg_id,
            sender,
            at,
            kind,
            text,
            reply_to=reply_to,
            mentions=mentions(text),
            urls=urls,
            row=row,
        )
        return message, text
