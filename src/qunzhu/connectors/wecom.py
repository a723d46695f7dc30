"""WeCom customer groups (企业微信客户群), live, through the message archive (会话内容存档).

WeCom lets no bot into a customer group: no API removes an external member and none posts
without the owner confirming it in the client; what members say reaches the corp only through
the message archive, which only WeCom's own finance SDK (a native library run on the corp's
servers) pulls and decrypts. So this connector follows what the operator's archive puller
writes: the decrypted messages, one JSON object a line, appended to a file (the format
`qunzhu import` reads, `sources/wecom_archive.py`). It reads new complete lines every second,
like `tail -f`, and keeps its place in `<file>.qunzhu-offset` beside the file, with the file's
inode, so that a restart neither misses nor reads again; the first start begins at the file's
end. The file is known by its identity, not its size, and kept open: when the puller rotates it
(moves it away, starts a new one), what it wrote last to the old file is still read through the
open file, then the new one from its start. A start that finds another file than the place was
kept for reads it from its start (the old one's last lines are lost: said in the log), and a
file emptied in place (smaller than the place) is read again from its start.

What it can do is tell a group's owner (NOTIFY_OWNER): an application message (应用消息) from
the corp's self-built app to the owner `groupchat/get` names, the way open SCRMs handle ads
in customer groups (MoChat's room-remind); the app needs the customer-contact permission
(客户联系) and the owners in its visible range. Deleting, warning, muting and removing become
tasks for a person in the console, as on any platform that cannot do them: the owner removes
the member in the WeCom client. Run such groups in `training` mode, where each question
reaches the owner at once.

With the app it also reads each group's member list (`groupchat/get`, once an hour): members'
names for their messages, and their join times, so that a member who joined lately is handed
on as a join before their first message (probation, the first message after joining, an ad in
a name). With the app's event callback (its token and EncodingAESKey,
`connectors/wecom_crypto.py`) it also serves WeCom's calls: a customer group's `add_member`
and `del_member` become joins and leaves, so members who never speak are seen joining too.

Staff and the corp's robots (ids without the `wm`/`wo` of an external contact) are the
operator's own people: admins, never judged. The archive carries no pictures' bytes (media
need the SDK): no QR code or text in pictures is read here. Recalls are not events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import orjson
from aiohttp import web

from qunzhu import i18n
from qunzhu.connectors import Emit, wecom_crypto
from qunzhu.i18n import tr
from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    MessageKind,
    Person,
    Platform,
)
from qunzhu.model.live import Action, ActionFailed, ActionKind, LiveEvent, RateLimited
from qunzhu.sources.wecom_archive import message

log = logging.getLogger(__name__)

WECOM_API = "https://qyapi.weixin.qq.com"
API_TIMEOUT_S = 10.0
POLL_S = 1.0  # how often the archive file is looked at for new lines
CHUNK = 4 * 2**20  # bytes read at most at a time: a long backlog goes in pieces
GROUP_TTL_S = 3600.0  # a group's name, owner and members, read once, are used this long
MEMBERS_RETRY_S = 60.0  # ... or read again this soon for a member the list does not have yet
JOIN_RECENT_S = 7 * 86_400  # a join the member list tells, this recent, is handed on
SEEN_KEPT = 100_000  # members whose join was looked at, the most recent
EXTERNAL = ("wm", "wo")  # an external contact's id (a customer); staff and robots have others
RETRY_S = 5.0  # after a failed emit, the same lines again this much later
# the archive's message types that bring what moderation locks for newcomers
_KINDS = {
    "image": "image",
    "video": "video",
    "file": "file",
    "emotion": "sticker",
    "weapp": "mini_program",
    "card": "card",
    "chatrecord": "forward",
}
# groupchat/get's join_scene: 1 invited directly, 2 by an invitation link, 3 by the QR code
_SCENES = {1: JoinMethod.INVITE, 2: JoinMethod.LINK, 3: JoinMethod.LINK}
_TOKEN_EXPIRED = frozenset({40014, 42001})  # the access token is invalid or has expired
_BUSY = -1  # "system busy": try again
_TOO_OFTEN = frozenset({45009, 45033})  # calls a minute, or at once, over the limit

_ZH = {
    "WeCom {name}: new messages not handed on": "企业微信 {name}：新消息未能交给引擎",
    "WeCom {name}: no file {path} yet": "企业微信 {name}：还没有文件 {path}",
    "WeCom {name}: cannot keep the place in {path} ({why}); a restart begins at the file's "
    "end": "企业微信 {name}：无法在 {path} 记录读取位置（{why}）；重启后将从文件末尾读起",
    "WeCom {name}: a line over 4 MB skipped": "企业微信 {name}：跳过了一行超过 4 MB 的内容",
    "WeCom {name}: {path} is another file than when last read (rotated meanwhile): read from "
    "its start; what was written to the old file after that is not read": (
        "企业微信 {name}：{path} 已不是上次读取的那个文件（期间被轮转）：从头读起；"
        "旧文件在那之后写入的内容不会被读取"
    ),
    "WeCom cannot do this: a person must": "企业微信无法执行此操作，需要人工处理",
    "WeCom: no owner known for this group": "企业微信：不知道此群的群主",
    "WeCom: the access token was refused twice": "企业微信：access_token 连续两次被拒",
    "WeCom: no access token in the answer": "企业微信：返回中没有 access_token",
    "the callback's EncodingAESKey must be the 43 characters WeCom shows": (
        "回调的 EncodingAESKey 应为企业微信显示的 43 个字符"
    ),
    "【{group}】{who}: {note}\nPlease deal with it in WeCom (recall the message or remove the "
    "member); the qunzhu console shows why.": (
        "【{group}】{who}：{note}\n"
        "请在企业微信中处理（撤回消息或将其移出群聊）；原因可在 qunzhu 控制台查看。"
    ),
    "WeCom {name}: group {group} not read ({why})": "企业微信 {name}：未能读取群 {group}（{why}）",
}
i18n.register(_ZH)


class WeComConnector:
    """`archive`: the file the archive puller appends to. `corp_id`, `agent_id` and `secret`
    (the self-built app's) let it read groups' names and owners and tell the owners; without
    them it only reads, and every action is a task for a person."""

    def __init__(
        self,
        name: str,
        archive: Path,
        *,
        corp_id: str | None = None,
        agent_id: int | None = None,
        secret: str | None = None,
        callback_token: str | None = None,
        callback_aes_key: str | None = None,
        api_base: str = WECOM_API,
        poll_s: float = POLL_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.archive = Path(archive)
        self.offset_file = self.archive.with_name(self.archive.name + ".qunzhu-offset")
        self.poll_s = poll_s
        self._corp_id, self._agent_id, self._secret = corp_id, agent_id, secret
        speaks = bool(corp_id and agent_id and secret)
        self.capabilities = frozenset({ActionKind.NOTIFY_OWNER}) if speaks else frozenset()
        self._client = httpx.AsyncClient(
            base_url=api_base.rstrip("/"), timeout=API_TIMEOUT_S, transport=transport
        )
        self._token: tuple[str, float] | None = None  # (token, good until: monotonic)
        self._rooms: dict[str, _Room] = {}
        self._seen: dict[tuple[str, str | None], None] = {}  # members whose join was looked at
        self._missing_said = False
        self._fh: io.FileIO | None = None  # the file followed, open: read to its end once moved
        self._ino: int | None = None  # the inode of the file the offset is in; None: not known
        self._callback: tuple[str, bytes] | None = None  # (token, AES key)
        if callback_token and callback_aes_key:
            try:
                self._callback = (callback_token, wecom_crypto.key_of(callback_aes_key))
            except wecom_crypto.CallbackError:
                raise ValueError(
                    tr("the callback's EncodingAESKey must be the 43 characters WeCom shows")
                ) from None

    # ---- receiving -------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        """Follow the archive file until cancelled."""
        offset = self._load_offset()
        try:
            while True:
                try:
                    offset = await self.read_new(offset, emit)
                except Exception:  # the engine could not take them: the same lines again
                    log.exception(tr("WeCom {name}: new messages not handed on", name=self.name))
                    self._seen.clear()  # and the joins with them (the engine keeps each once)
                    await asyncio.sleep(RETRY_S)
                    continue
                await asyncio.sleep(self.poll_s)
        finally:
            await self.close()

    async def read_new(self, offset: int | None, emit: Emit) -> int | None:
        """Hand on the complete lines written since `offset` (None: the first start, which
        begins at the end); the offset after them, also kept in `offset_file`. Where reading
        goes on in another file, the new place is kept and returned before any of its lines
        is handed on, so that a hand-on that fails is tried again from it."""
        try:
            here: os.stat_result | None = self.archive.stat()
        except OSError:
            here = None
            if not self._missing_said:
                self._missing_said = True
                said = tr("WeCom {name}: no file {path} yet", name=self.name, path=self.archive)
                log.warning(said)
        else:
            self._missing_said = False
        if self._fh is None:
            kept = self._ino
            if here is None or (here := self._open()) is None:
                return offset
            if offset is not None and None not in (kept, self._ino) and kept != self._ino:
                log.warning(
                    tr(
                        "WeCom {name}: {path} is another file than when last read (rotated "
                        "meanwhile): read from its start; what was written to the old file "
                        "after that is not read",
                        name=self.name,
                        path=self.archive,
                    )
                )
                self._save_offset(0)
                return 0
        fh = self._fh
        assert fh is not None
        held = os.fstat(fh.fileno())
        if offset is None or held.st_size < offset:  # first start: from now on; emptied in place
            offset = held.st_size if offset is None else 0
            self._save_offset(offset)
        moved = here is None or not os.path.samestat(held, here)  # rotated: it gets no more
        if offset < held.st_size:
            offset = await self._hand_on(fh, offset, held.st_size, moved, emit)
        if moved and here is not None and offset == held.st_size:  # on to the new file
            fh.close()
            self._fh, self._ino = None, None
            self._open()
            self._save_offset(0)
            return 0
        return offset

    def _open(self) -> os.stat_result | None:
        """Open the file the path names now, and know it by its inode (0 on some file systems:
        not known). Unbuffered: a file emptied in place and written again is read anew, not
        from what a buffer kept of it."""
        try:
            self._fh = self.archive.open("rb", buffering=0)
        except FileNotFoundError:
            return None
        held = os.fstat(self._fh.fileno())
        self._ino = held.st_ino or None
        return held

    async def _hand_on(
        self, fh: io.FileIO, offset: int, size: int, finished: bool, emit: Emit
    ) -> int:
        """The lines from `offset` on, a chunk at most; a finished (moved) file's last line is
        whole without its newline too: nothing more is written to it."""
        fh.seek(offset)
        data = fh.read(min(size - offset, CHUNK))
        if finished and offset + len(data) == size:
            end = len(data) - 1
        else:
            end = data.rfind(b"\n")
            if end < 0 and len(data) < CHUNK:
                return offset  # a line still being written
            if end < 0:  # one line longer than a chunk: no message; its rest reads as broken
                log.warning(tr("WeCom {name}: a line over 4 MB skipped", name=self.name))
                end = len(data) - 1
        for line in data[: end + 1].splitlines():
            for event in await self._events(line):
                await emit(event)
        offset += end + 1
        self._save_offset(offset)
        return offset

    async def _events(self, line: bytes) -> list[LiveEvent]:
        """What one archive line is: a group message, after the sender's join where the
        group's member list says they joined lately (once; so that probation and the first
        message after joining apply); nothing for a line that is no group message."""
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.debug("WeCom %s: a line that is not JSON skipped", self.name)
            return []
        if not isinstance(obj, dict):
            return []
        found = message(obj, 0, _skipped)
        if found is None or found.kind is MessageKind.RECALL:
            return []
        room, sender = obj["roomid"], found.sender.user_id or ""
        known = await self._room(room, sender)
        member = known.members.get(sender, {}) if known else {}
        record = dataclasses.replace(found, sender=Person(sender, _name(member)), row=None)
        group = Group(Platform.WECOM, room, (known.name if known else None) or room)
        role = "member" if sender.startswith(EXTERNAL) else "admin"
        kind = _KINDS.get(str(obj.get("msgtype")))
        said = LiveEvent(self.name, group, record, role, frozenset({kind} if kind else ()))
        joined = (
            self._joined(group, record.sender, member, found.sent_at) if role == "member" else None
        )
        return [joined, said] if joined else [said]

    def _joined(
        self, group: Group, person: Person, member: dict[str, Any], now: datetime
    ) -> LiveEvent | None:
        """The member's join as the member list tells it, once per process (its id is the
        same every time, so the engine keeps it once across restarts too); None where the
        list says nothing or they joined long ago."""
        join_time = member.get("join_time")
        if not isinstance(join_time, int) or not self._first_look(group, person):
            return None
        event = self._join(group, person, member, now)
        at = event.record.at  # type: ignore[union-attr]
        return event if (now - at).total_seconds() <= JOIN_RECENT_S else None

    def _first_look(self, group: Group, person: Person) -> bool:
        """Whether this member's join was not looked at yet; remembers that it now was."""
        key = (group.platform_id, person.user_id)
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > SEEN_KEPT:
            del self._seen[next(iter(self._seen))]
        return True

    def _join(
        self, group: Group, person: Person, member: dict[str, Any], otherwise: datetime
    ) -> LiveEvent:
        """A join as the member list tells it (`otherwise` its time where the list has none);
        named by the group, the member and the time, so that a join told by a callback and
        again before the member's first message is kept once."""
        join_time = member.get("join_time")
        at = datetime.fromtimestamp(join_time, UTC) if isinstance(join_time, int) else otherwise
        invitor = member.get("invitor")
        by = invitor.get("userid") if isinstance(invitor, dict) else None
        record = MembershipEvent(
            f"join:{group.platform_id}:{person.user_id}:{int(at.timestamp())}",
            person,
            MembershipAction.JOIN,
            at,
            _SCENES.get(member.get("join_scene"), JoinMethod.UNKNOWN),
            Person(str(by)) if by else None,
        )
        role = "member" if (person.user_id or "").startswith(EXTERNAL) else "admin"
        return LiveEvent(self.name, group, record, role)

    def _load_offset(self) -> int | None:
        """The place kept, and the inode of the file it is in (an earlier version kept the
        offset alone: the file is then not known, and only a smaller file tells a rotation)."""
        try:
            offset, *ino = (int(n) for n in self.offset_file.read_text(encoding="ascii").split())
        except (OSError, ValueError):
            return None
        self._ino = ino[0] if ino else None
        return offset

    def _save_offset(self, offset: int) -> None:
        """Written beside and then moved over: a crash leaves the old offset or the new one."""
        partial = self.offset_file.with_name(self.offset_file.name + ".tmp")
        try:
            kept = f"{offset} {self._ino}" if self._ino else str(offset)
            partial.write_text(kept, encoding="ascii")
            partial.replace(self.offset_file)
        except OSError as exc:
            log.warning(
                tr(
                    "WeCom {name}: cannot keep the place in {path} ({why}); a restart begins "
                    "at the file's end",
                    name=self.name,
                    path=self.offset_file,
                    why=exc,
                )
            )

    # ---- callbacks: who joins and leaves ----------------------------------------------------

    def callback_app(self, emit: Emit, path: str = "/wecom") -> web.Application:
        """An aiohttp application for WeCom's callbacks on `path` (set the app's 接收事件服务器
        URL to it, behind your proxy): GET is WeCom checking the URL, POST an event."""

        async def receive(request: web.Request) -> web.Response:
            body = await request.read() if request.method == "POST" else b""
            status, text = await self.handle_callback(request.method, request.query, body, emit)
            return web.Response(status=status, text=text)

        app = web.Application(client_max_size=2**20)
        app.router.add_get(path, receive)
        app.router.add_post(path, receive)
        return app

    async def handle_callback(
        self, method: str, query: Mapping[str, str], body: bytes, emit: Emit
    ) -> tuple[int, str]:
        """One callback: (HTTP status, text to answer). Anything not signed with the app's
        token and encrypted with its key for this corp is refused; a change of a customer
        group's members is handed on as joins and leaves (500 where the engine could not
        take them, so that WeCom calls again)."""
        if self._callback is None or not self._corp_id:
            return 404, ""
        token, key = self._callback
        stamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        signed = query.get("msg_signature", "")
        if method == "GET":  # the URL check: answer the echo, decrypted
            echo = query.get("echostr", "")
            if not wecom_crypto.verified(token, stamp, nonce, echo, signed):
                return 403, ""
            try:
                return 200, wecom_crypto.decrypt(key, echo, self._corp_id).decode()
            except wecom_crypto.CallbackError:
                return 400, ""
        try:
            encrypted = ElementTree.fromstring(body).findtext("Encrypt") or ""
        except ElementTree.ParseError:
            return 400, ""
        if not wecom_crypto.verified(token, stamp, nonce, encrypted, signed):
            return 403, ""
        try:
            told = ElementTree.fromstring(wecom_crypto.decrypt(key, encrypted, self._corp_id))
        except (wecom_crypto.CallbackError, ElementTree.ParseError):
            return 400, ""
        try:
            for event in await self._changes(told):
                await emit(event)
        except Exception:
            log.exception(tr("WeCom {name}: new messages not handed on", name=self.name))
            return 500, ""
        return 200, "success"

    async def _changes(self, told: ElementTree.Element) -> list[LiveEvent]:
        """The joins and leaves a `change_external_chat` event tells: the members it lists
        (`MemChangeList`), else those the group's member list gained or lost since read."""
        if told.findtext("Event") != "change_external_chat":
            return []
        detail, room = told.findtext("UpdateDetail"), told.findtext("ChatId") or ""
        if told.findtext("ChangeType") != "update" or not room:
            return []
        if detail not in ("add_member", "del_member"):
            return []
        stamp = told.findtext("CreateTime") or ""
        at = datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else datetime.now(UTC)
        listed = [i.text.strip() for i in told.iterfind("MemChangeList/Item") if i.text]
        before = self._rooms.get(room)
        was = dict(before.members) if before else {}
        known = await self._room(room, fresh=True)  # the members after the change
        now = known.members if known else {}
        if not listed and before is None:
            return []  # no list before the change to tell it by: the next change can be
        group = Group(Platform.WECOM, room, (known.name if known else None) or room)
        if detail == "add_member":
            joined = listed or [m for m in now if m not in was]
            out = []
            for user in joined:
                person = Person(user, _name(now.get(user, {})))
                self._first_look(group, person)  # its first message need not tell it again
                out.append(self._join(group, person, now.get(user, {}), at))
            return out
        gone = listed or [m for m in was if m not in now]
        kicked = told.findtext("QuitScene") == "1"  # removed by the owner or an admin
        action = MembershipAction.KICK if kicked else MembershipAction.LEAVE
        return [
            LiveEvent(
                self.name,
                group,
                MembershipEvent(
                    f"quit:{room}:{user}:{int(at.timestamp())}",
                    Person(user, _name(was.get(user, {}))),
                    action,
                    at,
                ),
            )
            for user in gone
        ]

    # ---- acting ----------------------------------------------------------------------------

    async def execute(self, action: Action) -> str | None:
        """Tell the group's owner (NOTIFY_OWNER); nothing else can be done through WeCom."""
        if action.kind is not ActionKind.NOTIFY_OWNER or not self.capabilities:
            raise ActionFailed(tr("WeCom cannot do this: a person must"))
        known = await self._room(action.group_id, action.member_id)
        if known is None or not known.owner:
            raise ActionFailed(tr("WeCom: no owner known for this group"))
        member = known.members.get(action.member_id or "", {})
        who = _name(member) or action.member_id or ""
        said = tr(
            "【{group}】{who}: {note}\nPlease deal with it in WeCom (recall the message or "
            "remove the member); the qunzhu console shows why.",
            group=known.name or action.group_id,
            who=who,
            note=action.text,
        )
        body = {
            "touser": known.owner,
            "msgtype": "text",
            "agentid": self._agent_id,
            "text": {"content": said},
        }
        await self._call("/cgi-bin/message/send", body)
        return None

    async def _room(
        self, room: str, member: str | None = None, fresh: bool = False
    ) -> _Room | None:
        """The customer group as `groupchat/get` tells it (name, owner, members with their
        names and join times), read once an hour, or again a minute on for a member it does
        not list yet; None where there are no credentials or it was never read (an internal
        group, one the app cannot see)."""
        if not self.capabilities:
            return None
        kept = self._rooms.get(room)
        now = time.monotonic()
        if kept is not None and not fresh:
            age = now - kept.read_at
            current = age < GROUP_TTL_S and (member is None or member in kept.members)
            if current or age < MEMBERS_RETRY_S:
                return kept
        try:
            body = {"chat_id": room, "need_name": 1}
            chat = (await self._call("/cgi-bin/externalcontact/groupchat/get", body)).get(
                "group_chat"
            )
        except (ActionFailed, RateLimited) as exc:
            log.info(
                tr(
                    "WeCom {name}: group {group} not read ({why})",
                    name=self.name,
                    group=room,
                    why=exc,
                )
            )
            chat = None
        if not isinstance(chat, dict):
            if kept is not None:
                kept.read_at = now
            return kept
        listed = chat.get("member_list")
        members = {
            str(m["userid"]): m
            for m in (listed if isinstance(listed, list) else ())
            if isinstance(m, dict) and m.get("userid")
        }
        name, owner = chat.get("name"), chat.get("owner")
        self._rooms[room] = _Room(
            str(name) if name else None, str(owner) if owner else None, members, now
        )
        return self._rooms[room]

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the API with the access token (fetched again once where it expired)."""
        for attempt in range(2):
            token = await self._access_token(fresh=attempt > 0)
            data = await self._request("POST", path, params={"access_token": token}, json=body)
            code = data.get("errcode", 0)
            if code in _TOKEN_EXPIRED and attempt == 0:
                continue
            return _checked(data)
        raise ActionFailed(tr("WeCom: the access token was refused twice"))

    async def _access_token(self, fresh: bool) -> str:
        if self._token is not None and not fresh and time.monotonic() < self._token[1]:
            return self._token[0]
        params = {"corpid": self._corp_id, "corpsecret": self._secret}
        data = _checked(await self._request("GET", "/cgi-bin/gettoken", params=params))
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise ActionFailed(tr("WeCom: no access token in the answer"), retry=True)
        lasts = data.get("expires_in")
        lasts = lasts if isinstance(lasts, int) and lasts > 0 else 7200
        self._token = (token, time.monotonic() + max(lasts - 300, 60))
        return token

    async def _request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            response = await self._client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ActionFailed(f"WeCom: {type(exc).__name__}", retry=True) from None
        try:
            data = response.json()
        except ValueError:
            raise ActionFailed(f"WeCom: HTTP {response.status_code}", retry=True) from None
        if not isinstance(data, dict):
            raise ActionFailed(f"WeCom: HTTP {response.status_code}", retry=True)
        return data

    def forget(self, forgotten: Callable[[str], bool]) -> None:
        """Members just forgotten (`qunzhu forget`): whose join was looked at is dropped. The
        groups' member lists stay as WeCom gave them (they are read again within the hour; a
        member dropped from one would look like a newcomer at the next callback)."""
        for key in [k for k in self._seen if k[1] is not None and forgotten(k[1])]:
            del self._seen[key]

    async def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        await self._client.aclose()


@dataclass
class _Room:
    name: str | None
    owner: str | None  # the staff member who owns the group
    members: dict[str, dict[str, Any]]  # userid -> the member list's entry
    read_at: float  # monotonic


def _name(member: dict[str, Any]) -> str | None:
    """A member's name in the group (群昵称), else their own."""
    name = member.get("group_nickname") or member.get("name")
    return str(name) if name else None


def _checked(data: dict[str, Any]) -> dict[str, Any]:
    """The answer, or the failure its `errcode` says (0 is success)."""
    code = data.get("errcode", 0)
    if code in _TOO_OFTEN:
        raise RateLimited(60, f"WeCom {code}: {data.get('errmsg', '')}")
    if code:
        raise ActionFailed(f"WeCom {code}: {data.get('errmsg', '')}", retry=code == _BUSY)
    return data


def _skipped(where: str, why: str) -> None:
    log.debug("WeCom archive: %s skipped (%s)", where, why)
