"""A pretend group in the terminal: try qunzhu by hand before pointing it at a real one.

Whoever sits at the keyboard is every member of one group at once, and types IRC-style lines:
`alice: hello` is a message from alice, `/join bob` has bob join, `/help` lists the rest. Each
line becomes at most one `LiveEvent`, exactly as a real connector would emit it, so the engine,
the policies and the store run unchanged; what the bot decides comes back through `execute` as
one line per action, marked `[qunzhu]` so it stands out from what was typed.

The group keeps just enough state to make the moderation ladder feel real: a deleted message is
gone (a warning no longer quotes it), a muted member cannot post until the mute ends, a kicked
member cannot post until they `/join` again, and a banned member can neither post nor join.
Nothing the bot does creates events by itself: an approved join request is only noted, and the
member comes in when someone types `/join`.

Choices worth knowing:
- a member's id is the name typed (`alice`), so an action's `member_id` names them as typed;
  `/rename` changes the display name that later events carry, not the id;
- message ids count up from 1 per connector (`#3` is echoed back when a message is sent, the
  bot's own messages included), join
  requests are `r1`, `r2`…, membership events `j1`, `l2`, `n3`… (join, leave, rename);
- a mute of 0 seconds or less lasts until the trial ends, as a Telegram restriction does;
- the default input is standard input, read by a daemon thread: `asyncio.to_thread` would leave
  a `readline` that `asyncio.run` waits for at shutdown, so Ctrl+C would hang until Enter.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from qunzhu import i18n
from qunzhu.connectors import GROUP_ADMIN, Appeals, Emit
from qunzhu.i18n import os_reason, tr
from qunzhu.model.live import Action, ActionFailed, ActionKind, Appeal, JoinRequest, LiveEvent
from qunzhu.model.records import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
)

__all__ = ["PREFIX", "ConsoleConnector"]

_ZH = {
    # console connector
    "trial group": "试验群",
    "Console group {group}: you type as its members, qunzhu answers. /help lists the commands.": (
        "控制台群 {group}：你以群成员的身份输入，qunzhu 会作出反应。输入 /help 查看命令。"
    ),
    "Type as any member of {group}; what qunzhu does is marked {prefix}.": (
        "你可以以 {group} 的任何成员身份输入；qunzhu 的动作以 {prefix} 标出。"
    ),
    "NAME says TEXT in the group": "以 NAME 的身份在群里发送 TEXT",
    "NAME joins the group by a link": "NAME 通过链接入群",
    "NAME leaves the group": "NAME 退群",
    "NAME sets their group nickname to NEW": "NAME 把群昵称改为 NEW",
    "NAME asks to join, answering ANSWER": "NAME 申请入群，验证答案为 ANSWER",
    "NAME is an admin from now on": "NAME 从现在起是管理员",
    "NAME posts the picture at PATH": "NAME 发送 PATH 处的图片",
    "show this help": "显示本帮助",
    "end the trial": "结束试用",
    "not understood: {line} (type /help)": "无法理解：{line}（输入 /help 查看用法）",
    "usage: {syntax}": "用法：{syntax}",
    "{name} joined the group": "{name} 已入群",
    "{name} left the group": "{name} 已退群",
    "{name} is now called {new}": "{name} 的群昵称已改为 {new}",
    "join request {id} from {name}: {answer}": "入群申请 {id}，来自 {name}：{answer}",
    "{name} is an admin now": "{name} 现在是管理员",
    "cannot read the picture {path}: {why}": "无法读取图片 {path}：{why}",
    "the picture {path} is larger than {mb} MB": "图片 {path} 超过 {mb} MB",
    "{name} is muted for {seconds} more seconds: the message was not sent": (
        "{name} 还在禁言中（剩余 {seconds} 秒）：消息未发出"
    ),
    "{name} is muted until the trial ends: the message was not sent": (
        "{name} 已被禁言至试用结束：消息未发出"
    ),
    "{name} was removed from the group: /join {name} to come back first": (
        "{name} 已被移出群：需先 /join {name} 重新入群"
    ),
    "{name} is banned from the group": "{name} 已被永久移出本群",
    "message #{id} deleted ({name}: {text})": "已撤回消息 #{id}（{name}：{text}）",
    "message #{id} deleted": "已撤回消息 #{id}",
    "message #{id} was already gone": "消息 #{id} 已经撤回过了",
    "warns @{member}, replying to #{id}: {text}": "警告 @{member}（回复 #{id}）：{text}",
    "warns @{member}: {text}": "警告 @{member}：{text}",
    "says, replying to #{id}: {text}": "发言（回复 #{id}）：{text}",
    "says: {text}": "发言：{text}",
    "muted {member} for {seconds} s": "已禁言 {member} {seconds} 秒",
    "muted {member} until the trial ends": "已禁言 {member} 至试用结束",
    "removed {member} from the group (they may /join again)": (
        "已将 {member} 移出群（可以再 /join 回来）"
    ),
    "banned {member}: removed, and refused if they ask to join again": (
        "已将 {member} 永久移出：再申请入群也会被拒绝"
    ),
    "approved join request {id} ({member}): /join {member} to have them come in": (
        "已同意入群申请 {id}（{member}）：输入 /join {member} 让其入群"
    ),
    "rejected join request {id} ({member})": "已拒绝入群申请 {id}（{member}）",
    "rejected join request {id} ({member}): {reason}": "已拒绝入群申请 {id}（{member}）：{reason}",
    "note for the admins: {text}": "给管理员的提醒：{text}",
    "the console group is {ours}, not {theirs}": "控制台群是 {ours}，不是 {theirs}",
    "{kind} needs {field}": "{kind} 需要 {field}",
    "nothing to send: the text is empty": "没有可发送的内容：文本为空",
    "the console cannot do {kind}": "控制台无法执行 {kind}",
    "{member} may speak again": "{member} 已解除禁言",
    "{member} is no longer banned (they may /join again)": (
        "{member} 已解除拉黑（可以再 /join 入群）"
    ),
    "tells {member} in private: {text}": "私信 {member}：{text}",
    "NAME writes TEXT to the bot in private (an appeal)": "NAME 私信机器人 TEXT（申诉）",
    "nobody reads the bot's private messages here": "这里没有人读取机器人的私信",
}
i18n.register(_ZH)

PREFIX = "[qunzhu]"
IMAGE_MAX_BYTES = 5 * 2**20  # as the live connectors: bigger pictures are not fetched there
QUOTE_CHARS = 40  # how much of a deleted message its deletion line quotes

_SAY = re.compile(r"(?P<name>[^\s:：/][^\s:：]*)\s*[:：](?!//)\s*(?P<text>\S.*)")
_URL = re.compile(r"https?://[^\s<>\"'，。！？、；：“”‘’（）【】《》]+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\S)@([^\s@,，.。!！?？:：;；]+)")
_URL_TAIL = ".,;:!?)]}'\""


def _help_rows() -> list[str]:
    """The commands in English (they are typed as they are), what they do in the user's
    language."""
    rows = [
        ("NAME: TEXT", tr("NAME says TEXT in the group")),
        ("/join NAME", tr("NAME joins the group by a link")),
        ("/leave NAME", tr("NAME leaves the group")),
        ("/rename NAME NEW", tr("NAME sets their group nickname to NEW")),
        ("/request NAME ANSWER", tr("NAME asks to join, answering ANSWER")),
        ("/admin NAME", tr("NAME is an admin from now on")),
        ("/image NAME PATH", tr("NAME posts the picture at PATH")),
        ("/dm NAME TEXT", tr("NAME writes TEXT to the bot in private (an appeal)")),
        ("/help", tr("show this help")),
        ("/quit", tr("end the trial")),
    ]
    width = max(len(syntax) for syntax, _ in rows)
    return [f"  {syntax.ljust(width)}  {what}" for syntax, what in rows]


_USAGE = {
    "/join": "/join NAME",
    "/leave": "/leave NAME",
    "/rename": "/rename NAME NEW",
    "/request": "/request NAME ANSWER",
    "/admin": "/admin NAME",
    "/image": "/image NAME PATH",
}


def _urls(text: str) -> tuple[str, ...]:
    """http(s) links as written, without the punctuation that ends the sentence around them."""
    found = (url.rstrip(_URL_TAIL) for url in _URL.findall(text))
    return tuple(dict.fromkeys(url for url in found if "://" in url and not url.endswith("://")))


def _mentions(text: str) -> tuple[str, ...]:
    """`@bob` names bob, whose id is the name typed (a mail address is no mention)."""
    return tuple(dict.fromkeys(_MENTION.findall(text)))


def _print(text: str) -> None:
    print(text, flush=True)


async def _stdin_lines() -> AsyncIterator[str]:
    """Standard input, line by line, without blocking the event loop (see the module
    docstring for why a daemon thread). An undecodable line reads as a blank one."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            try:
                line = sys.stdin.readline()
            except UnicodeDecodeError:
                line = "\n"
            except (OSError, ValueError):  # closed or unreadable: the same as its end
                line = ""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the loop is closed: nobody reads any more
                return
            if not line:
                return

    threading.Thread(target=pump, name="qunzhu-console-stdin", daemon=True).start()
    while line := await queue.get():
        yield line


@dataclass(slots=True)
class _Said:
    """What a message was, so that its deletion can say which one went."""

    name: str
    text: str


class ConsoleConnector:
    """One pretend group in the terminal; see the module docstring.

    `lines` is where typed lines come from (standard input by default), `write` where the
    connector's own lines go (standard output by default), `clock` the time in seconds since the
    epoch: tests pass their own."""

    capabilities: frozenset[ActionKind] = GROUP_ADMIN

    def __init__(
        self,
        name: str = "console",
        *,
        group_id: str = "console",
        group_name: str | None = None,
        lines: AsyncIterator[str] | None = None,
        write: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.group = Group(Platform.CONSOLE, group_id, group_name or tr("trial group"))
        self.clock = clock
        self._lines = lines
        self._write = write or _print
        self._message_ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._names: dict[str, str] = {}  # member id -> display name, after a /rename
        self._admins: set[str] = set()
        self._said: dict[str, _Said] = {}
        self._requests: dict[str, str] = {}  # request id -> member id
        self.deleted: set[str] = set()
        self.muted_until: dict[str, float] = {}  # member id -> clock() when the mute ends
        self.kicked: set[str] = set()
        self.locked = False  # the whole group muted (a join raid): only admins may post
        self.banned: set[str] = set()
        self.appeals: Appeals | None = None  # set by the engine: members' private messages

    # ---- typing ----------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        """Read lines until their end or `/quit`, emitting what each one means. A line that
        means nothing only writes a note: a typo must not end the trial."""
        if self._lines is None:
            self._lines = _stdin_lines()
        self._write(
            tr(
                "Console group {group}: you type as its members, qunzhu answers. "
                "/help lists the commands.",
                group=self.group.name,
            )
        )
        async for raw in self._lines:
            line = raw.strip()
            if line.partition(" ")[0].lower() == "/quit":
                return
            if line.partition(" ")[0].lower() == "/dm":
                await self._private(line)
                continue
            event = self.event_for(line)
            if event is not None:
                await emit(event)

    async def close(self) -> None:
        """Nothing to let go of: the reader thread, if any, ends with the program."""

    async def _private(self, line: str) -> None:
        """`/dm NAME TEXT`: NAME writes to the bot in private, as a member appealing does on
        Telegram or QQ; the answer is shown as the bot's private reply."""
        member, _, said = line.partition(" ")[2].strip().partition(" ")
        if not member or not said.strip():
            self._write(tr("usage: {syntax}", syntax="/dm NAME TEXT"))
            return
        if self.appeals is None:
            self._write(tr("nobody reads the bot's private messages here"))
            return
        appeal = Appeal(str(next(self._message_ids)), self._person(member), self._now(), said)
        answer = await self.appeals(appeal)
        if answer:
            self._write(
                f"{PREFIX} " + tr("tells {member} in private: {text}", member=member, text=answer)
            )

    def event_for(self, line: str) -> LiveEvent | None:
        """What one typed line means: the event to emit, or None when the line only wrote a
        note (help, a refusal, a hint)."""
        line = line.strip()
        if not line:
            return None
        if not line.startswith("/"):
            said = _SAY.fullmatch(line)
            if said is None:
                self._write(tr("not understood: {line} (type /help)", line=line))
                return None
            return self._message(said["name"], said["text"])
        command, _, rest = line.partition(" ")
        command = command.lower()
        if command == "/help":
            self._help()
            return None
        if command not in _USAGE:
            self._write(tr("not understood: {line} (type /help)", line=line))
            return None
        member, _, rest = rest.strip().partition(" ")
        rest = rest.strip()
        needs_more = command in ("/rename", "/image")
        takes_more = needs_more or command == "/request"
        if not member or (needs_more and not rest) or (rest and not takes_more):
            self._write(tr("usage: {syntax}", syntax=_USAGE[command]))
            return None
        if command == "/join":
            return self._join(member)
        if command == "/leave":
            return self._membership(member, MembershipAction.LEAVE, "l")
        if command == "/rename":
            return self._membership(member, MembershipAction.RENAME, "n", new_name=rest)
        if command == "/request":
            return self._request(member, rest)
        if command == "/admin":
            self._admins.add(member)
            self._write(tr("{name} is an admin now", name=member))
            return None
        return self._image(member, rest)

    def _help(self) -> None:
        self._write(
            tr(
                "Type as any member of {group}; what qunzhu does is marked {prefix}.",
                group=self.group.name,
                prefix=PREFIX,
            )
        )
        for row in _help_rows():
            self._write(row)

    def _person(self, member: str) -> Person:
        return Person(member, self._names.get(member, member))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _event(self, member: str, record: Message | MembershipEvent | JoinRequest) -> LiveEvent:
        role = "admin" if member in self._admins else "member"
        return LiveEvent(self.name, self.group, record, role=role)

    def _outside(self, member: str) -> bool:
        """A kicked or banned member is not in the group: say so, and refuse what they do."""
        if member in self.banned:
            self._write(tr("{name} is banned from the group", name=member))
            return True
        if member in self.kicked:
            self._write(
                tr(
                    "{name} was removed from the group: /join {name} to come back first",
                    name=member,
                )
            )
            return True
        return False

    def _may_post(self, member: str) -> bool:
        if self._outside(member):
            return False
        if self.locked and member not in self._admins:
            self._write(
                tr(
                    "the group is muted: only admins may post; {name}'s message was not sent",
                    name=member,
                )
            )
            return False
        until = self.muted_until.get(member)
        if until is None:
            return True
        left = until - self.clock()
        if left <= 0:
            del self.muted_until[member]
            return True
        if math.isinf(left):
            self._write(
                tr("{name} is muted until the trial ends: the message was not sent", name=member)
            )
        else:
            self._write(
                tr(
                    "{name} is muted for {seconds} more seconds: the message was not sent",
                    name=member,
                    seconds=math.ceil(left),
                )
            )
        return False

    def _message(
        self,
        member: str,
        text: str,
        kind: MessageKind = MessageKind.TEXT,
        images: tuple[bytes, ...] = (),
    ) -> LiveEvent | None:
        if not self._may_post(member):
            return None
        message_id = str(next(self._message_ids))
        urls = _urls(text)
        record = Message(
            platform_id=message_id,
            sender=self._person(member),
            sent_at=self._now(),
            kind=kind,
            text=text,
            mentions=_mentions(text),
            urls=urls,
        )
        event = self._event(member, record)
        kinds = {"link"} if urls else set()
        if images:
            kinds.add("image")
            event.images = images
        event.kinds = frozenset(kinds)
        self._said[message_id] = _Said(member, text or f"[{kind.value}]")
        self._write(f"#{message_id}")
        return event

    def _image(self, member: str, where: str) -> LiveEvent | None:
        if not self._may_post(member):
            return None
        path = Path(where.strip("\"'")).expanduser()
        try:
            if path.stat().st_size > IMAGE_MAX_BYTES:
                self._write(
                    tr(
                        "the picture {path} is larger than {mb} MB",
                        path=path,
                        mb=IMAGE_MAX_BYTES // 2**20,
                    )
                )
                return None
            data = path.read_bytes()
        except OSError as exc:
            self._write(tr("cannot read the picture {path}: {why}", path=path, why=os_reason(exc)))
            return None
        return self._message(member, "", MessageKind.IMAGE, (data,))

    def _join(self, member: str) -> LiveEvent | None:
        if member in self.banned:
            self._write(tr("{name} is banned from the group", name=member))
            return None
        self.kicked.discard(member)
        return self._membership(member, MembershipAction.JOIN, "j", method=JoinMethod.LINK)

    def _membership(
        self,
        member: str,
        action: MembershipAction,
        prefix: str,
        *,
        method: JoinMethod | None = None,
        new_name: str | None = None,
    ) -> LiveEvent | None:
        if action is not MembershipAction.JOIN and self._outside(member):
            return None
        person = self._person(member)
        record = MembershipEvent(
            platform_id=f"{prefix}{next(self._event_ids)}",
            member=person,
            action=action,
            at=self._now(),
            method=method,
            new_name=new_name,
        )
        if action is MembershipAction.JOIN:
            self._write(tr("{name} joined the group", name=person.name))
        elif action is MembershipAction.LEAVE:
            self._write(tr("{name} left the group", name=person.name))
        else:
            self._names[member] = new_name or member
            self._write(tr("{name} is now called {new}", name=person.name, new=new_name))
        return self._event(member, record)

    def _request(self, member: str, answer: str) -> LiveEvent | None:
        if member in self.banned:  # a ban refuses their requests, as QQ's does
            self._write(tr("{name} is banned from the group", name=member))
            return None
        request_id = f"r{next(self._request_ids)}"
        self._requests[request_id] = member
        record = JoinRequest(request_id, self._person(member), self._now(), answer)
        self._write(
            tr("join request {id} from {name}: {answer}", id=request_id, name=member, answer=answer)
        )
        return self._event(member, record)

    # ---- acting ----------------------------------------------------------------------------

    async def execute(self, action: Action) -> str | None:
        """Show one action as a line marked `PREFIX` and apply it to the pretend group; a
        message the bot sends gets the next message id, shown as `(#id)` and returned, so it
        can be deleted like any other. An action for another group, or without what it needs,
        fails for good: a retry would fail the same way."""
        if action.group_id != self.group.platform_id:
            raise ActionFailed(
                tr(
                    "the console group is {ours}, not {theirs}",
                    ours=self.group.platform_id,
                    theirs=action.group_id,
                ),
                retry=False,
            )
        line, sent = self._apply(action), None
        if action.kind is ActionKind.WARN or action.kind is ActionKind.SEND:
            sent = str(next(self._message_ids))
            self._said[sent] = _Said("qunzhu", action.text)
            line = f"{line} (#{sent})"
        self._write(f"{PREFIX} {line}")
        return sent

    def _needs(self, action: Action, field: str) -> str:
        value = getattr(action, field)
        if not value:
            raise ActionFailed(tr("{kind} needs {field}", kind=action.kind.value, field=field))
        return str(value)

    def _apply(self, action: Action) -> str:
        """Change the local state as the platform would, and say what happened."""
        kind = action.kind
        if kind is ActionKind.DELETE:
            message_id = self._needs(action, "message_id")
            if message_id in self.deleted:
                return tr("message #{id} was already gone", id=message_id)
            self.deleted.add(message_id)
            said = self._said.get(message_id)
            if said is None:
                return tr("message #{id} deleted", id=message_id)
            text = said.text if len(said.text) <= QUOTE_CHARS else said.text[:QUOTE_CHARS] + "…"
            return tr(
                "message #{id} deleted ({name}: {text})", id=message_id, name=said.name, text=text
            )
        if kind is ActionKind.WARN or kind is ActionKind.SEND:
            if not action.text.strip():
                raise ActionFailed(tr("nothing to send: the text is empty"))
            reply = action.message_id if action.message_id not in self.deleted else None
            if kind is ActionKind.WARN and action.member_id:
                if reply:
                    return tr(
                        "warns @{member}, replying to #{id}: {text}",
                        member=action.member_id,
                        id=reply,
                        text=action.text,
                    )
                return tr("warns @{member}: {text}", member=action.member_id, text=action.text)
            if reply:
                return tr("says, replying to #{id}: {text}", id=reply, text=action.text)
            return tr("says: {text}", text=action.text)
        if kind is ActionKind.NOTIFY_OWNER:
            return tr("note for the admins: {text}", text=action.text or action.reason)
        if kind is ActionKind.LOCK:
            self.locked = True
            return tr("muted the whole group: only admins may post")
        if kind is ActionKind.UNLOCK:
            self.locked = False
            return tr("the whole group may post again")
        if kind is ActionKind.APPROVE or kind is ActionKind.REJECT:
            request_id = action.request_id or self._needs(action, "member_id")
            member = action.member_id or self._requests.get(request_id, request_id)
            if kind is ActionKind.APPROVE:
                return tr(
                    "approved join request {id} ({member}): /join {member} to have them come in",
                    id=request_id,
                    member=member,
                )
            if action.reason:
                return tr(
                    "rejected join request {id} ({member}): {reason}",
                    id=request_id,
                    member=member,
                    reason=action.reason,
                )
            return tr("rejected join request {id} ({member})", id=request_id, member=member)
        member = self._needs(action, "member_id")
        if kind is ActionKind.MUTE:
            if action.seconds <= 0:
                self.muted_until[member] = math.inf
                return tr("muted {member} until the trial ends", member=member)
            self.muted_until[member] = self.clock() + action.seconds
            return tr("muted {member} for {seconds} s", member=member, seconds=action.seconds)
        if kind is ActionKind.KICK:
            self.kicked.add(member)
            return tr("removed {member} from the group (they may /join again)", member=member)
        if kind is ActionKind.BAN:
            self.banned.add(member)
            self.kicked.discard(member)
            return tr(
                "banned {member}: removed, and refused if they ask to join again", member=member
            )
        if kind is ActionKind.UNMUTE:
            self.muted_until.pop(member, None)
            return tr("{member} may speak again", member=member)
        if kind is ActionKind.UNBAN:
            self.banned.discard(member)
            return tr("{member} is no longer banned (they may /join again)", member=member)
        if kind is ActionKind.TELL:
            return tr("tells {member} in private: {text}", member=member, text=action.text)
        raise ActionFailed(tr("the console cannot do {kind}", kind=kind.value))
