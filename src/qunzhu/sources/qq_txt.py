"""Legacy PC QQ 消息管理器 TXT export (QQ up to 9.7, before QQNT).

Facts this reader relies on (real snippets in log-painter's tests, the parsers of qq-chat-history
and ChatLab):
- a header block names each conversation: `消息分组:我的群聊` (the folder) and `消息对象:群名`
  between `====` rules. One file may hold many conversations ("export all");
- each message starts with `YYYY-MM-DD H:MM:SS [AM|PM] nick(QQ号)` or `nick<email>`; the body is
  every line up to the next header, blank lines trailing it are separators. Titles such as
  `【管理员】`/`【群主】` prefix the nick and are dropped. Nicks may hold parentheses: the *last*
  `(digits)` or `<email>` is the id. Private and discussion-group chats show nicks only;
- times are the PC's naive local time: read in `--tz`;
- `系统消息(10000)` / `系统消息(1000000)` carry group notices. Joins (`X加入本群`,
  `A邀请X加入了本群`), leaves (`X退出了群聊`) and kicks (`X被移出群聊`, `X被A移出本群`) become
  membership events, other notices are skipped. `X撤回了一条消息` is a recall by X, under X's own
  header or the system's;
- media are placeholders: `[图片]`, `[表情]`, `[语音]`, `[视频]`, `[文件]`, `[QQ红包]` …;
- there are no message ids: messages and events get content keys (group, local time, sender,
  text, with an occurrence counter), so a re-import or an overlapping export adds only what is new.

The group's id is its name from `消息对象` (the export shows no group number); a file without a
header block (a snippet) falls back to the file name. Only group conversations are imported:
friend chats are skipped. Encoding: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030,
judged from the first 64 KiB.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from qunzhu.sources import SNIFF_BYTES, ReadContext, SourceError

PLATFORM = Platform.QQ
TITLE_LINE = "消息记录（此消息记录为文本格式，不支持重新导入）"
_HEADER = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2})(?: ?([AP]M))? "
    r"(.*?)(?:\((\d{4,12})\)|<([^<>\s]+@[^<>\s]+)>)?[ \t]*"
)
_HEADER_STARTS = frozenset("0123456789=消")  # what a header, rule or block line starts with
# A header cut off part-way: a date, then perhaps part of a clock.
_CUT_HEADER = re.compile(r"\d{4}-\d{1,2}(?:-\d{0,2}(?: \d{0,2}(?::\d{0,2}(?::\d{0,2})?)?)?)?")
_TITLES = re.compile(r"^(?:【[^】]*】\s*)+")
_SYSTEM_IDS = {"10000", "1000000"}
_URL = re.compile(r"https?://[^\s<>()\"'\[\]]+")
_MENTION = re.compile(r"(?:^|(?<=\s))@([^\s@\[]+)")
_MARKS = "\ufeff\u200b"
_PLACEHOLDERS = {
    "[图片]": MessageKind.IMAGE,
    "[闪照]": MessageKind.IMAGE,
    "[表情]": MessageKind.STICKER,
    "[语音]": MessageKind.VOICE,
    "[视频]": MessageKind.VIDEO,
    "[文件]": MessageKind.FILE,
    "[链接]": MessageKind.LINK,
    "[位置]": MessageKind.CARD,
    "[地理位置]": MessageKind.CARD,
    "[卡片消息]": MessageKind.CARD,
    "[分享]": MessageKind.CARD,
    "[音乐]": MessageKind.CARD,
    "[小程序]": MessageKind.CARD,
    "[聊天记录]": MessageKind.CARD,
    "[红包]": MessageKind.RED_PACKET,
    "[QQ红包]": MessageKind.RED_PACKET,
    "[转账]": MessageKind.TRANSFER,
}
_POKES = ("[戳一戳]", "[拍一拍]", "[窗口抖动]")
_NOISE = re.compile("对方已成功接收了你发送的离线文件|请使用最新版手机QQ")
_FRIEND_FOLDERS = {"我的好友", "朋友", "家人", "同学", "陌生人", "黑名单", "我的设备"}
_GROUP_FOLDER_WORDS = ("群", "多人聊天", "讨论组")
_YOU = {"你", "您"}

# Notices, on the text with its final 。 taken off. Invite and link wordings come before the plain
# join, which would otherwise take "A邀请X" for a name.
_GROUP = r"(?:了)?(?:本群|群聊|该群)"
_RECALL = re.compile(r"^(.+?)撤回了(?:成员.+?的)?一条消息(?: 重新编辑)?$")
_INVITED = re.compile(rf"^(.+?)邀请(.+?)加入{_GROUP}$")
_BY_LINK = re.compile(rf"^(.+?)通过(?:扫描)?(.+?)分享的(?:二维码|链接)加入{_GROUP}$")
_JOINED = re.compile(rf"^(.+?)加入{_GROUP}$")
_LEFT = re.compile(rf"^(.+?)(?:已)?退出{_GROUP}$")
_KICKED = re.compile(rf"^(.+?)被(?:管理员|群主)?(.*?)(?:移出|踢出|请出){_GROUP}$")
_NAMED = re.compile(r"^(.*?)(?:\((\d{4,12})\)|<([^<>\s]+@[^<>\s]+)>)?$")

_ZH = {
    "not a QQ message manager TXT export: {why}": "不是 QQ 消息管理器 TXT 导出：{why}",
    "the first line is neither the export title nor a message header": (
        "第一行既不是导出标题也不是消息头"
    ),
    "no message header in the file": "文件中没有消息头",
    "private chat {name!r} skipped: qunzhu imports group chats only": (
        "已跳过私聊 {name!r}：群主只导入群聊"
    ),
    "system notice, not a message: {text}": "系统通知，不是聊天内容：{text}",
    "the exporter's own membership ({text})": "导出者本人的成员变动（{text}）",
    "a poke, not a message": "戳一戳，不是消息",
    "a client notice, not a message: {text}": "客户端提示，不是消息：{text}",
}
i18n.register(_ZH)


def sniff(head: bytes) -> bool:
    """The export's title line, a `消息对象:` block, or a first line that is a QQ header with an
    id (`… nick(12345)` / `nick<a@b>`): MemoTrace and WhatsApp lines never end in those."""
    text = _decode(head).lstrip(_MARKS + " \t\r\n")
    if text.startswith("消息记录（此消息记录为文本格式"):
        return True
    lines = text.split("\n", 40)[:40]
    if text.startswith("==="):  # a header block, or a snippet's: judge by its first header
        if any(line.startswith(("消息对象:", "消息对象：")) for line in lines):
            return True
        lines = [line for line in lines if line[:1].isdigit()][:1]
    m = _HEADER.fullmatch(lines[0].rstrip("\r")) if lines else None
    return m is not None and (m.group(9) is not None or m.group(10) is not None)


def read(path: Path, ctx: ReadContext) -> Iterator[Record]:
    with _open(path) as fh:
        yield from _Reader(path, ctx).run(fh)


def _encoding(head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # GBK text read as UTF-8 fails on nearly every character; a UTF-8 file with a stray bad
        # byte (or a character cut off at the end of the head) fails once or twice.
        bad = head.decode("utf-8", "replace").count("\ufffd")
        if bad > max(2, len(head) // 2000):
            return "gb18030"
    return "utf-8"


def _decode(head: bytes) -> str:
    return head.decode(_encoding(head), "ignore")


def _open(path: Path) -> IO[str]:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    return path.open(encoding=_encoding(head), errors="replace", newline=None)


@dataclass
class _Conversation:
    folder: str = ""
    name: str = ""
    key: str = ""
    is_group: bool | None = None  # decided at its first header
    with_ids: bool | None = None  # whether its first header had an id
    keys: ContentKeys = field(default_factory=ContentKeys)
    event_keys: ContentKeys = field(default_factory=ContentKeys)


@dataclass(slots=True)
class _Pending:
    n: int
    local: str
    at: datetime
    name: str | None
    user_id: str | None
    body: list[str]


class _Reader:
    def __init__(self, path: Path, ctx: ReadContext) -> None:
        self.path = path
        self.ctx = ctx
        self.stem = path.stem
        self.conv = _Conversation(key=self.stem, name=self.stem)
        self.hours: dict[tuple[str, str, str, int], tuple[str, datetime]] = {}
        self.people: dict[tuple[str | None, str | None], Person] = {}
        self.headers = 0

    def run(self, fh: IO[str]) -> Iterator[Record]:
        """Collect each header's lines; turn them into records when the next header starts."""
        match = _HEADER.fullmatch
        pending: _Pending | None = None
        after_rule = False  # the previous non-blank line was a ==== rule
        started = dropping = False
        n = 0
        raw = ""
        for n, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if pending is not None and line[:1] not in _HEADER_STARTS:  # the common case
                pending.body.append(line)
                if line:
                    after_rule = False
                continue
            m = match(line) if line[4:5] == "-" and line[:1].isdigit() else None
            if m is not None and self._is_header(m):
                started = True
                if pending is not None:
                    yield from self._finish(pending)
                pending = self._header(n, m)
                dropping = pending is None
                after_rule = False
                continue
            if line.startswith("===") and not line.strip("="):
                if pending is not None:
                    yield from self._finish(pending)
                    pending = None
                started = after_rule = True
                dropping = False
                continue
            if after_rule and line.startswith(("消息分组", "消息对象")):
                self._block_line(line)
                continue
            if not started:
                started = self._preamble(n, line)
                continue
            if line.strip():
                after_rule = False
            if pending is not None:
                pending.body.append(line)
            elif line.strip() and not dropping:
                self.ctx.skip(tr("line {n}", n=n), tr("text before the first message"))
        if pending is not None:
            yield from self._finish(self._cut_off(pending, n, raw))
        if self.headers == 0:
            raise SourceError(
                self.path,
                tr(
                    "not a QQ message manager TXT export: {why}",
                    why=tr("no message header in the file"),
                ),
            )

    def _cut_off(self, pending: _Pending, n: int, raw: str) -> _Pending | None:
        """The last message without a header the export was cut off in (noted as skipped)."""
        last = raw.rstrip("\r\n")
        if raw.endswith("\n") or not (_CUT_HEADER.fullmatch(last) or _HEADER.fullmatch(last)):
            return pending
        self.ctx.skip(tr("line {n}", n=n), tr("incomplete last line"))
        if pending.n == n:  # the header itself
            return None
        if pending.body and pending.body[-1] == last:
            pending.body.pop()
        return pending

    def _is_header(self, m: re.Match[str]) -> bool:
        """Whether a line shaped like a header is one. In a conversation whose first header had
        an id, a header without one is a body line that happens to start with a date."""
        has_id = m.group(9) is not None or m.group(10) is not None
        if self.conv.with_ids is None:
            if not (has_id or m.group(8)):
                return False
            self.conv.with_ids = has_id
            return True
        return has_id or (not self.conv.with_ids and bool(m.group(8)))

    def _preamble(self, n: int, line: str) -> bool:
        """Lines before anything is known: the title line is fine, anything else is not QQ."""
        text = line.strip(_MARKS + " \t")
        if not text:
            return False
        if text.startswith("消息记录"):
            return True
        raise SourceError(
            self.path,
            tr(
                "not a QQ message manager TXT export: {why}",
                why=tr("the first line is neither the export title nor a message header"),
            ),
            tr("line {n}", n=n),
        )

    def _block_line(self, line: str) -> None:
        value = line[5:].strip() if line[4:5] in (":", "：") else line[4:].lstrip(":： ").strip()
        if line.startswith("消息分组"):
            self.conv = _Conversation(folder=value, key=self.stem, name=self.stem)
        else:
            self.conv = _Conversation(folder=self.conv.folder, key=value, name=value)

    def _header(self, n: int, m: re.Match[str]) -> _Pending | None:
        self.headers += 1
        year, month, day, hour, minute, second, ampm, name, qq, email = m.groups()
        when = self._when(year, month, day, hour, minute, second, ampm)
        if when is None:
            self.ctx.skip(
                tr("line {n}", n=n),
                tr("not a valid date or time ({value!r})", value=m.group(0)[: m.start(8)].strip()),
            )
            return None
        if name.startswith("【"):
            name = _TITLES.sub("", name)
        return _Pending(n, when[0], when[1], name.strip() or None, qq or email, [])

    def _when(
        self, year: str, month: str, day: str, hour: str, minute: str, second: str, ampm: str | None
    ) -> tuple[str, datetime] | None:
        """(local time as text, UTC moment). The date, the hour and the zone's offset are worked
        out once per local hour: a million full conversions would cost seconds."""
        h = int(hour)
        if ampm:
            if not 1 <= h <= 12:
                return None
            h = h % 12 + (12 if ampm == "PM" else 0)
        mi, sec = int(minute), int(second)
        if mi > 59 or sec > 59:
            return None
        hour_key = (year, month, day, h)
        base = self.hours.get(hour_key)
        if base is None:
            try:
                local = datetime(int(year), int(month), int(day), h)
            except ValueError:
                return None
            offset = local.replace(tzinfo=self.ctx.tz).utcoffset() or timedelta(0)
            base = (local.isoformat()[:14], (local - offset).replace(tzinfo=UTC))
            if len(self.hours) > 100_000:
                self.hours.clear()
            self.hours[hour_key] = base
            self.ctx.tz_assumed = True
        return f"{base[0]}{mi:02d}:{sec:02d}", base[1] + timedelta(minutes=mi, seconds=sec)

    # -- one header and its body ------------------------------------------------------------

    def _finish(self, p: _Pending | None) -> list[Record]:
        """The records of one header and its body (none for a private chat's)."""
        if p is None:
            return []
        conv = self.conv
        out: list[Record] = []
        if conv.is_group is None:
            conv.is_group = _is_group(conv.folder, p.user_id is not None)
            if conv.is_group:
                out.append(Group(PLATFORM, content_key("qq-group", conv.key), conv.name))
            else:
                self.ctx.skip(
                    tr("line {n}", n=p.n),
                    tr(
                        "private chat {name!r} skipped: qunzhu imports group chats only",
                        name=conv.name,
                    ),
                )
        if not conv.is_group:
            return out
        body = p.body
        while body and not body[-1].strip():
            body.pop()
        text = "\n".join(body).strip(_MARKS)
        if p.user_id in _SYSTEM_IDS or (p.name or "").startswith("系统消息"):
            out.extend(self._system(p, text.strip()))
            return out
        people = (p.user_id, p.name)
        sender = self.people.get(people)
        if sender is None:
            sender = self.people[people] = Person(p.user_id, p.name)
        message = self._message(p, sender, text)
        if message is not None:
            out.append(message)
        return out

    def _message(self, p: _Pending, sender: Person, text: str) -> Message | None:
        first = text.lstrip()
        if first.startswith(_POKES):
            self.ctx.skip(tr("line {n}", n=p.n), tr("a poke, not a message"))
            return None
        kind, clean = _kind(first)
        if kind is not MessageKind.RED_PACKET and _NOISE.search(first):
            self.ctx.skip(
                tr("line {n}", n=p.n), tr("a client notice, not a message: {text}", text=first)
            )
            return None
        sender_key = sender.user_id or sender.name
        if "撤回了" in first and "\n" not in first and _RECALL.match(first):
            key = self.conv.keys.key(self.conv.key, p.local, sender_key, "recall")
            return Message(key, sender, p.at, MessageKind.RECALL, row=p.n)
        urls = tuple(_URL.findall(clean)) if "http" in clean else ()
        if kind is MessageKind.TEXT and urls:
            kind = MessageKind.LINK
        mentions = tuple("@" + x for x in _MENTION.findall(clean)) if "@" in clean else ()
        # One joined part hashes exactly as the four parts would (content_key joins with \x1f).
        return Message(
            self.conv.keys.key(f"{self.conv.key}\x1f{p.local}\x1f{sender_key}\x1f{text}"),
            sender,
            p.at,
            kind,
            clean,
            mentions=mentions,
            urls=urls,
            row=p.n,
        )

    def _system(self, p: _Pending, text: str) -> Iterator[Record]:
        where = tr("line {n}", n=p.n)
        notice = text.rstrip("。. ")
        found = _RECALL.match(notice) if "撤回了" in notice else None
        if found:
            who = _named(found.group(1))
            if who is not None and who.name not in _YOU:
                key = self.conv.keys.key(self.conv.key, p.local, who.user_id or who.name, "recall")
                yield Message(key, who, p.at, MessageKind.RECALL, row=p.n)
                return
        events = _membership(notice)
        if not events:
            self.ctx.skip(where, tr("system notice, not a message: {text}", text=text[:80]))
            return
        for member, action, method, actor in events:
            if member is None or member.name in _YOU:
                self.ctx.skip(where, tr("the exporter's own membership ({text})", text=text[:80]))
                continue
            key = self.conv.event_keys.key(
                self.conv.key, p.local, action.value, member.user_id or member.name
            )
            if actor is not None and actor.name in _YOU and actor.user_id is None:
                actor = None
            yield MembershipEvent(key, member, action, p.at, method=method, actor=actor, row=p.n)


def _is_group(folder: str, has_ids: bool) -> bool:
    if folder in _FRIEND_FOLDERS:
        return False
    if any(word in folder for word in _GROUP_FOLDER_WORDS):
        return True
    return has_ids  # friends show nicks only; group members show their QQ number


def _named(text: str) -> Person | None:
    """`小红(10002)`, `阿强<a@b.c>` or a bare nick, as a Person."""
    m = _NAMED.match(_TITLES.sub("", text.strip()))
    if m is None:
        return None
    name = m.group(1).strip() or None
    user_id = m.group(2) or m.group(3)
    if name is None and user_id is None:
        return None
    return Person(user_id, name)


def _names(text: str) -> list[Person | None]:
    return [_named(part) for part in text.split("、") if part.strip()]


_Event = tuple[Person | None, MembershipAction, JoinMethod | None, Person | None]


def _membership(notice: str) -> list[_Event]:
    """The membership changes a system notice states; empty when it states none."""
    join = MembershipAction.JOIN
    if found := _INVITED.match(notice):
        actor = _named(found.group(1))
        return [(who, join, JoinMethod.INVITE, actor) for who in _names(found.group(2))]
    if found := _BY_LINK.match(notice):
        return [(_named(found.group(1)), join, JoinMethod.LINK, _named(found.group(2)))]
    if found := _KICKED.match(notice):
        actor = _named(found.group(2)) if found.group(2) else None
        return [(who, MembershipAction.KICK, None, actor) for who in _names(found.group(1))]
    if found := _LEFT.match(notice):
        return [(_named(found.group(1)), MembershipAction.LEAVE, None, None)]
    if found := _JOINED.match(notice):
        return [(who, join, JoinMethod.UNKNOWN, None) for who in _names(found.group(1))]
    return []


def _kind(text: str) -> tuple[MessageKind, str]:
    """The kind a leading placeholder stands for, and the text left once it is taken out.

    `[图片]看这个` is a captioned image; a placeholder inside text (`欢迎[表情]`) stays text."""
    if not text.startswith("["):
        return (MessageKind.RED_PACKET, text) if "发出了红包" in text else (MessageKind.TEXT, text)
    close = text.find("]")
    token = text[: close + 1]
    kind = _PLACEHOLDERS.get(token)
    if kind is None:
        return MessageKind.TEXT, text
    rest = text[close + 1 :]
    while rest.startswith(token):  # [图片][图片]: still images
        rest = rest[len(token) :]
    return kind, rest.strip()
