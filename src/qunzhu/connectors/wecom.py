"""WeCom customer groups (企业微信客户群), live, through the message archive (会话内容存档).

WeCom lets no bot into a customer group: no API removes an external member and none posts
without the owner confirming it in the client; what members say reaches the corp only through
the message archive, which only WeCom's own finance SDK (a native library run on the corp's
servers) pulls and decrypts. So this connector follows what the operator's archive puller
writes: the decrypted messages, one JSON object a line, appended to a file (the format
`qunzhu import` reads, `sources/wecom_archive.py`). It reads new complete lines every second,
like `tail -f`, and keeps its place in `<file>.qunzhu-offset` beside the file, so that a
restart neither misses nor reads again; the first start begins at the file's end, and a file
that got shorter (rotated, emptied) is read again from its start.

What it can do is tell a group's owner (NOTIFY_OWNER): an application message (应用消息) from
the corp's self-built app to the owner `groupchat/get` names, the way open SCRMs handle ads
in customer groups (MoChat's room-remind); the app needs the customer-contact permission
(客户联系) and the owners in its visible range. Deleting, warning, muting and removing become
tasks for a person in the console, as on any platform that cannot do them: the owner removes
the member in the WeCom client. Run such groups in `training` mode, where each question
reaches the owner at once.

Staff and the corp's robots (ids without the `wm`/`wo` of an external contact) are the
operator's own people: admins, never judged. The archive carries no joins, no names and no
pictures' bytes (media need the SDK): there is no welcome, no check of names or bios and no
QR code read here. Recalls are not events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from qunzhu import i18n
from qunzhu.connectors import Emit
from qunzhu.i18n import tr
from qunzhu.model import Group, MessageKind, Platform
from qunzhu.model.live import Action, ActionFailed, ActionKind, LiveEvent, RateLimited
from qunzhu.sources.wecom_archive import message

log = logging.getLogger(__name__)

WECOM_API = "https://qyapi.weixin.qq.com"
API_TIMEOUT_S = 10.0
POLL_S = 1.0  # how often the archive file is looked at for new lines
CHUNK = 4 * 2**20  # bytes read at most at a time: a long backlog goes in pieces
GROUP_TTL_S = 3600.0  # a group's name and owner, read once, are used this long
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
_TOKEN_EXPIRED = frozenset({40014, 42001})  # the access token is invalid or has expired
_BUSY = -1  # "system busy": try again
_TOO_OFTEN = frozenset({45009, 45033})  # calls a minute, or at once, over the limit

_ZH = {
    "WeCom {name}: new messages not handed on": "企业微信 {name}：新消息未能交给引擎",
    "WeCom {name}: no file {path} yet": "企业微信 {name}：还没有文件 {path}",
    "WeCom {name}: cannot keep the place in {path} ({why}); a restart begins at the file's "
    "end": "企业微信 {name}：无法在 {path} 记录读取位置（{why}）；重启后将从文件末尾读起",
    "WeCom {name}: a line over 4 MB skipped": "企业微信 {name}：跳过了一行超过 4 MB 的内容",
    "WeCom cannot do this: a person must": "企业微信无法执行此操作，需要人工处理",
    "WeCom: no owner known for this group": "企业微信：不知道此群的群主",
    "WeCom: the access token was refused twice": "企业微信：access_token 连续两次被拒",
    "WeCom: no access token in the answer": "企业微信：返回中没有 access_token",
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
        self._groups: dict[str, tuple[dict[str, Any] | None, float]] = {}  # room -> (chat, when)
        self._missing_said = False

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
                    await asyncio.sleep(RETRY_S)
                    continue
                await asyncio.sleep(self.poll_s)
        finally:
            await self.close()

    async def read_new(self, offset: int | None, emit: Emit) -> int | None:
        """Hand on the complete lines written since `offset` (None: the first start, which
        begins at the end); the offset after them, also kept in `offset_file`."""
        try:
            size = self.archive.stat().st_size
        except OSError:
            if not self._missing_said:
                self._missing_said = True
                said = tr("WeCom {name}: no file {path} yet", name=self.name, path=self.archive)
                log.warning(said)
            return offset
        self._missing_said = False
        if offset is None or size < offset:  # first start: from now on; shorter: rotated
            offset = size if offset is None else 0
            self._save_offset(offset)
        if size == offset:
            return offset
        with self.archive.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(min(size - offset, CHUNK))
        end = data.rfind(b"\n")
        if end < 0 and len(data) < CHUNK:
            return offset  # a line still being written
        if end < 0:  # one line longer than a chunk: no message; its rest reads as a broken line
            log.warning(tr("WeCom {name}: a line over 4 MB skipped", name=self.name))
            end = len(data) - 1
        for line in data[: end + 1].splitlines():
            event = await self._event(line)
            if event is not None:
                await emit(event)
        offset += end + 1
        self._save_offset(offset)
        return offset

    async def _event(self, line: bytes) -> LiveEvent | None:
        """The event one archive line is, None for a line that is no group message."""
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.debug("WeCom %s: a line that is not JSON skipped", self.name)
            return None
        if not isinstance(obj, dict):
            return None
        found = message(obj, 0, _skipped)
        if found is None or found.kind is MessageKind.RECALL:
            return None
        record = dataclasses.replace(found, row=None)
        room = obj["roomid"]
        chat = await self._group_chat(room)
        name = (chat or {}).get("name") or room
        sender = record.sender.user_id or ""
        role = "member" if sender.startswith(EXTERNAL) else "admin"
        kind = _KINDS.get(str(obj.get("msgtype")))
        kinds = frozenset({kind}) if kind else frozenset()
        return LiveEvent(self.name, Group(Platform.WECOM, room, str(name)), record, role, kinds)

    def _load_offset(self) -> int | None:
        try:
            return int(self.offset_file.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def _save_offset(self, offset: int) -> None:
        """Written beside and then moved over: a crash leaves the old offset or the new one."""
        partial = self.offset_file.with_name(self.offset_file.name + ".tmp")
        try:
            partial.write_text(str(offset), encoding="ascii")
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

    # ---- acting ----------------------------------------------------------------------------

    async def execute(self, action: Action) -> str | None:
        """Tell the group's owner (NOTIFY_OWNER); nothing else can be done through WeCom."""
        if action.kind is not ActionKind.NOTIFY_OWNER or not self.capabilities:
            raise ActionFailed(tr("WeCom cannot do this: a person must"))
        chat = await self._group_chat(action.group_id)
        owner = (chat or {}).get("owner")
        if not owner:
            raise ActionFailed(tr("WeCom: no owner known for this group"))
        name = (chat or {}).get("name") or action.group_id
        body = {
            "touser": owner,
            "msgtype": "text",
            "agentid": self._agent_id,
            "text": {"content": f"【{name}】{action.text}"},
        }
        await self._call("/cgi-bin/message/send", body)
        return None

    async def _group_chat(self, room: str) -> dict[str, Any] | None:
        """The customer group as `groupchat/get` tells it (name, owner), read once an hour;
        None where there are no credentials or the call failed (an internal group, one the
        app cannot see)."""
        if not self.capabilities:
            return None
        kept = self._groups.get(room)
        if kept is not None and time.monotonic() - kept[1] < GROUP_TTL_S:
            return kept[0]
        try:
            data = await self._call("/cgi-bin/externalcontact/groupchat/get", {"chat_id": room})
            chat = data.get("group_chat")
            chat = chat if isinstance(chat, dict) else None
        except (ActionFailed, RateLimited) as exc:
            log.info("WeCom %s: group %s not read (%s)", self.name, room, exc)
            chat = None
        self._groups[room] = (chat, time.monotonic())
        return chat

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

    async def close(self) -> None:
        await self._client.aclose()


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
