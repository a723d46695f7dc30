"""QQ through OneBot v11 (NapCat, Lagrange, LLOneBot, go-cqhttp and others) over WebSocket.

These implementations run a real QQ account and speak OneBot v11 (botuniverse/onebot-11); we
talk to them in one of two ways, both carrying events and API calls on one connection:
- `mode="forward"`: the implementation runs a WebSocket server (its `/` endpoint) and we connect
  to `url`, sending `Authorization: Bearer <access_token>` when a token is set. A dropped
  connection is retried with a doubling delay (`reconnect_base_s`, at most 30 s);
- `mode="reverse"`: we listen on `host:port` (loopback by default) and the implementation
  connects as a *Universal* client (`X-Client-Role: Universal`, `X-Self-ID: <its QQ number>`).
  With a token set, a client without `Authorization: Bearer|Token <token>` (or
  `?access_token=`) gets HTTP 401. A client that connects again replaces the old connection.

Frames with `post_type` are events; frames with `echo` answer our calls (each call gets a fresh
echo). The reader never waits on anything, so an answer is never stuck behind an event; events
go through a queue to one delivery task, which converts up to 16 at once (each may call the
API: group names, a newcomer's name, merged forwards; and download pictures) and emits them in
the order they came.

Set `message_format` to `array` in the implementation: a CQ-code string message is taken as
plain text (its pictures and cards are not seen), and a warning says so once per connection.

Choices worth knowing:
- the account's own messages (user_id == self_id) are not emitted: the bot must not judge its
  own warnings;
- `delete_msg` of a message that is already gone (the implementation's error text says
  "not found", "MESSAGE_NOT_FOUND", "不存在" or "已撤回") counts as done: the goal is reached;
- QQ has no ban: BAN kicks with `reject_add_request: true`, so re-join requests are refused;
- a mute longer than QQ's limit (30 days) is cut to 2591999 s, the most go-cqhttp accepts;
- SEND with a `message_id` replies to that message (the auto-reply policy sets it); WARN and
  SEND quote no message this connector deleted (DELETE_WARN deletes first), the @ is enough;
- a file put in the group's files is a FILE message named by the file: go-cqhttp and Lagrange
  tell it by a `group_upload` notice, NapCat and LLOneBot by a message with a file segment and
  the notice too, and the second of the two is dropped; DELETE of such a message calls
  `delete_group_file`, and a warning does not quote it;
- a member's signature (个性签名, QQ's bio) comes with their join and their messages, read as
  `connectors/profiles.py` says (at most once an hour per member) with `get_stranger_info`:
  NapCat and LLOneBot give it (`long_nick`); an implementation that does not (go-cqhttp,
  Lagrange) is asked once and then no more;
- a member's emoji on a message (贴表情; NapCat's and LLOneBot's `group_msg_emoji_like`,
  Lagrange's `reaction`) is a `Reaction`, handed on once a day per member and group, with
  their name and signature: accounts that never post but react, to be looked at;
- SEND or WARN with an empty text is refused for good: QQ sends no empty message;
- an answer lost to a timeout or a dropped connection is `ActionFailed(retry=True, unknown=True)`:
  the implementation may have acted before going quiet, so the outbox retries a delete or a kick
  but turns a send into a task for a person rather than say the text twice.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import orjson
from websockets.asyncio.client import connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Request, Response

from qunzhu import i18n
from qunzhu.connectors import GROUP_ADMIN, Appeals, Emit
from qunzhu.connectors.profiles import BIO_TIMEOUT, Bios, Reactions
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
)
from qunzhu.model.live import (
    Action,
    ActionFailed,
    ActionKind,
    Appeal,
    JoinRequest,
    LiveEvent,
    Reaction,
    RosterEntry,
)

__all__ = ["OneBotConnector", "ParsedMessage", "parse_message"]

log = logging.getLogger(__name__)

_ZH = {
    # onebot connector
    "mode must be 'forward' or 'reverse', not {mode!r}": (
        "mode 必须是 'forward' 或 'reverse'，而不是 {mode!r}"
    ),
    "forward mode needs the url of the OneBot WebSocket server": (
        "正向模式需要 OneBot WebSocket 服务器的地址（url）"
    ),
    "OneBot {name}: connected to {url}": "OneBot {name}：已连接 {url}",
    "the access token was refused ({why}); check access_token": (
        "访问令牌被拒绝（{why}）；请检查 access_token"
    ),
    "OneBot {name}: no connection to {url} ({why}); retrying in {delay:.1f} s": (
        "OneBot {name}：未连接到 {url}（{why}）；{delay:.1f} 秒后重试"
    ),
    "OneBot {name}: waiting for the implementation on ws://{host}:{port}": (
        "OneBot {name}：在 ws://{host}:{port} 等待 OneBot 实现连入"
    ),
    "OneBot {name}: cannot listen on {host}:{port} ({why}); retrying in {delay:.1f} s": (
        "OneBot {name}：无法监听 {host}:{port}（{why}）；{delay:.1f} 秒后重试"
    ),
    "OneBot {name}: refused a connection from {peer}: {why}": (
        "OneBot {name}：拒绝了来自 {peer} 的连接：{why}"
    ),
    "wrong or missing access token": "访问令牌错误或缺失",
    "X-Client-Role is {role!r}; only Universal is supported": (
        "X-Client-Role 为 {role!r}；只支持 Universal"
    ),
    "no numeric X-Self-ID header": "缺少数字形式的 X-Self-ID 请求头",
    "OneBot {name}: account {self_id} connected from {peer}": (
        "OneBot {name}：账号 {self_id} 已从 {peer} 连入"
    ),
    "OneBot {name}: a new connection replaces the old one": "OneBot {name}：新连接取代了旧连接",
    "OneBot {name}: messages arrive as CQ-code strings; set message_format to array": (
        "OneBot {name}：消息以 CQ 码字符串上报；请把 message_format 设为 array"
    ),
    "OneBot {name}: cannot read an event: {why}": "OneBot {name}：无法解析事件：{why}",
    "OneBot {name}: handling an event failed": "OneBot {name}：处理事件时出错",
    "not connected to the OneBot implementation": "未连接到 OneBot 实现",
    "the connection to the OneBot implementation was lost": "与 OneBot 实现的连接已断开",
    "{action}: no answer within {seconds} s": "{action}：{seconds} 秒内没有回应",
    "{action} failed (retcode {retcode}): {why}": "{action} 失败（返回码 {retcode}）：{why}",
    "{field} is not a numeric id: {value!r}": "{field} 不是数字 ID：{value!r}",
    "{field} is missing": "缺少 {field}",
    "a mute needs a positive duration, not {seconds}": "禁言时长必须为正数，而不是 {seconds}",
    "OneBot cannot do {kind}": "OneBot 无法执行 {kind}",
    "the message to send is empty": "要发送的消息是空的",
    "OneBot {name}: cannot answer {user} in private: {why}": (
        "OneBot {name}：无法私信回复 {user}：{why}"
    ),
}
i18n.register(_ZH)

RECONNECT_MAX_S = 30.0
MAX_FRAME_BYTES = 16 * 2**20  # merged forwards and group lists outgrow websockets' 1 MiB default
IMAGE_MAX_BYTES = 5 * 2**20
IMAGE_TIMEOUT_S = 5.0
MAX_IMAGES = 10  # pictures fetched per event, forwards included
CONVERTING = 16  # events converted at once (names asked, pictures fetched), emitted in order
MUTE_MAX_S = 30 * 86400 - 1  # QQ mutes for at most 30 days; go-cqhttp refuses 2592000
DELETED_KEPT = 1000  # deleted message ids remembered, so a warning does not quote them
FILES_KEPT = 1000  # uploaded files' ids remembered, so one upload is one message
UPLOAD_PREFIX = "file:"  # an uploaded file's message id: "file:<busid>:<file id>"
ROSTER_TIMEOUT_S = 30.0  # a group of 2,000 members takes the implementation a while to list
GROUP_INFO_RETRY_S = 600.0  # after a failed get_group_info, ask again this much later
FORWARD_DEPTH = 3  # merged forwards inside merged forwards, expanded this deep
FORWARD_MAX_MESSAGES = 200
PERMANENT_RETCODES = frozenset({1400, 1401, 1403, 1404})  # bad request, auth, no such API
GONE_MARKERS = ("not found", "message_not_found", "不存在", "已撤回", "已被撤回")

_URL = re.compile(r"https?://[^\s<>()\"'\[\]，。！？、；：“”‘’（）【】]+")
_CARD_SEGMENTS = frozenset({"json", "xml", "share", "contact", "location", "music"})
_CARD_URL_KEYS = ("qqdocurl", "jumpUrl", "jumpurl", "url")
# what a json card says, as QQ shows it: its prompt ("[QQ小程序]兼职日结", "推荐群聊：…") and
# its parts' words (a mini-program's title and description, a group card's name and number)
_CARD_TEXT_KEYS = ("title", "desc", "tag", "nickname", "contact")
_XML_TEXT = re.compile(r'brief="([^"]*)"|<title>([^<]*)</title>|<summary>([^<]*)</summary>')
_CONTACT_CARD = {"qq": "推荐联系人 QQ：{id}", "group": "推荐群聊 QQ群：{id}"}
_ROLES = {"owner": "owner", "admin": "admin"}
CARD_TEXT_MAX = 2000  # a card's words kept as its text (a card can carry a whole page)


@dataclass(slots=True)
class ParsedMessage:
    """What one OneBot `message` (segments, or a CQ-code string) says, platform-neutral."""

    kind: MessageKind
    text: str = ""
    mentions: tuple[str, ...] = ()
    reply_to: str | None = None
    urls: tuple[str, ...] = ()
    kinds: frozenset[str] = frozenset()
    image_urls: tuple[str, ...] = ()
    forwards: tuple[dict[str, Any], ...] = ()  # the `data` of each forward segment
    files: tuple[str, ...] = ()  # the ids of the files it carries (NapCat's `file_id`)


def parse_message(message: Any) -> ParsedMessage:
    """Segments to text, mentions, reply, urls and what came besides text.

    A media segment decides the kind over text (a picture with a caption is a picture, as the
    importers count it); QQ's small inline faces only make a sticker when there is no text.
    A CQ-code string is plain text: parsing CQ codes is the implementation's job
    (`message_format=array`)."""
    if isinstance(message, str):
        return ParsedMessage(MessageKind.TEXT, message.strip(), urls=_urls(message))
    if isinstance(message, Mapping):  # a single segment object is a valid `message` too
        message = [message]
    if not isinstance(message, list):
        return ParsedMessage(MessageKind.TEXT)
    texts: list[str] = []
    mentions: list[str] = []
    urls: list[str] = []
    image_urls: list[str] = []
    forwards: list[dict[str, Any]] = []
    files: list[str] = []
    cards: list[str] = []
    kinds: set[str] = set()
    types: set[str] = set()
    reply_to = None
    for segment in message:
        if not isinstance(segment, Mapping):
            continue
        kind = str(segment.get("type", ""))
        data = segment.get("data")
        data = data if isinstance(data, Mapping) else {}
        sticker = kind == "image" and _is_sticker(data)  # a 表情, whatever picture it carries
        types.add("mface" if sticker else kind)
        if kind == "text":
            texts.append(str(data.get("text", "")))
        elif kind == "at" and data.get("qq") not in (None, ""):
            mentions.append(str(data["qq"]))
        elif kind == "reply" and data.get("id") not in (None, "") and reply_to is None:
            reply_to = str(data["id"])
        elif kind == "image":
            kinds.add("sticker" if sticker else "image")
            url = data.get("url")
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                image_urls.append(url)
        elif kind == "forward":
            kinds.add("forward")
            forwards.append(dict(data))
        elif kind in ("file", "video"):
            kinds.add(kind)
            if kind == "file":  # its name, as QQ shows it: "兼职名单 加V abc12345.xlsx"
                cards.append(_file_text(data.get("name") or data.get("file")))
                if (file_id := _id(data.get("file_id"))) is not None:
                    files.append(file_id)
        elif kind == "mface":  # a shop sticker (NapCat)
            kinds.add("sticker")
        if kind in _CARD_SEGMENTS:
            kinds.add("card")
            urls.extend(_card_urls(kind, data))
            cards.append(_card_text(kind, data))
            if kind == "json" and _is_mini_program(data.get("data")):
                kinds.add("mini_program")
    # a card (or a file) is a message of its own in QQ: what it says is the message's text,
    # as QQ's own chat history shows it (and what moderation reads: a shared ad, a
    # recommended group, a file named after a WeChat id)
    text = "".join(texts).strip() or "\n".join(c for c in cards if c)
    urls = [*_urls(text), *urls]
    return ParsedMessage(
        kind=_kind(types, bool(text)),
        text=text,
        mentions=tuple(dict.fromkeys(mentions)),
        reply_to=reply_to,
        urls=tuple(dict.fromkeys(urls)),
        kinds=frozenset(kinds),
        image_urls=tuple(image_urls),
        forwards=tuple(forwards),
        files=tuple(files),
    )


def _is_sticker(data: Mapping[str, Any]) -> bool:
    """A picture QQ calls a 表情 (a saved or shop sticker), not a photo: go-cqhttp says
    `subType` 1, NapCat and LLOneBot `sub_type` 1 and the summary "[动画表情]"."""
    sub = data.get("sub_type", data.get("subType"))
    return str(sub) == "1" or data.get("summary") == "[动画表情]"


def _kind(types: set[str], has_text: bool) -> MessageKind:
    if types & (_CARD_SEGMENTS | {"forward"}):
        return MessageKind.CARD
    for segment, kind in (
        ("file", MessageKind.FILE),
        ("video", MessageKind.VIDEO),
        ("record", MessageKind.VOICE),
        ("image", MessageKind.IMAGE),
    ):
        if segment in types:
            return kind
    if types & {"face", "mface"} and not has_text:
        return MessageKind.STICKER
    return MessageKind.TEXT


def _urls(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_URL.findall(text)))


def _json_data(raw: Any) -> Any:
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, str):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
    return None


def _is_mini_program(raw: Any) -> bool:
    """QQ mini-programs come as json cards whose `app` is `com.tencent.miniapp*`, or whose
    `meta.detail_1` names an `appid` (the shape many OneBot projects check)."""
    card = _json_data(raw)
    if isinstance(card, Mapping):
        if str(card.get("app", "")).startswith("com.tencent.miniapp"):
            return True
        meta = card.get("meta")
        detail = meta.get("detail_1") if isinstance(meta, Mapping) else None
        if isinstance(detail, Mapping) and detail.get("appid"):
            return True
    return isinstance(raw, str) and "com.tencent.miniapp" in raw


def _card_urls(kind: str, data: Mapping[str, Any]) -> list[str]:
    """Where a card leads: a share's `url`, a json card's `qqdocurl`/`jumpUrl`."""
    if kind == "share":
        url = data.get("url")
        return [url] if isinstance(url, str) and url.startswith(("http://", "https://")) else []
    if kind != "json":
        return []
    found: list[str] = []
    card = _json_data(data.get("data"))
    meta = card.get("meta") if isinstance(card, Mapping) else None
    for part in meta.values() if isinstance(meta, Mapping) else ():
        if not isinstance(part, Mapping):
            continue
        for key in _CARD_URL_KEYS:
            url = part.get(key)
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                found.append(url)
    return found


def _file_text(name: Any) -> str:
    """A file as QQ's chat history shows it, "[文件]name"; "" without a name."""
    return f"[文件]{name}"[:CARD_TEXT_MAX] if isinstance(name, str) and name.strip() else ""


def _card_text(kind: str, data: Mapping[str, Any]) -> str:
    """The words a card shows: a share's title and summary, a json card's prompt and its
    parts' titles, descriptions and names, an xml card's brief and title, a contact card's
    number (a recommended QQ or group); "" for a card saying nothing."""
    found: list[str] = []
    if kind in ("share", "music", "location"):
        found = [data.get("title"), data.get("content")]
    elif kind == "contact" and (form := _CONTACT_CARD.get(str(data.get("type")))):
        found = [form.format(id=data.get("id", ""))]
    elif kind == "json" and isinstance(card := _json_data(data.get("data")), Mapping):
        found = [card.get("prompt")]
        meta = card.get("meta")
        for part in meta.values() if isinstance(meta, Mapping) else ():
            if isinstance(part, Mapping):
                found.extend(part.get(key) for key in _CARD_TEXT_KEYS)
    elif kind == "xml" and isinstance(raw := data.get("data"), str):
        found = [next(g for g in m.groups() if g is not None) for m in _XML_TEXT.finditer(raw)]
    words = dict.fromkeys(w.strip() for w in found if isinstance(w, str) and w.strip())
    return " ".join(words)[:CARD_TEXT_MAX]


def _when(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def _id(value: Any) -> str | None:
    return None if value in (None, "", 0, "0") else str(value)


def _int(value: Any, name: str) -> int:
    """OneBot wants numbers for QQ and group numbers and message ids; a name that is not one
    is a mistake no retry can fix."""
    if value is None or value == "":
        raise ActionFailed(tr("{field} is missing", field=name))
    try:
        return int(str(value).strip())
    except ValueError:
        raise ActionFailed(
            tr("{field} is not a numeric id: {value!r}", field=name, value=value)
        ) from None


def _token_from(request: Request) -> str | None:
    """The access token a client sent: `Authorization: Bearer x` (the spec) or `Token x`
    (go-cqhttp's reverse client), else an `access_token` query parameter."""
    header = request.headers.get("Authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() in ("bearer", "token"):
            return value.strip()
        return None
    values = parse_qs(urlsplit(request.path).query).get("access_token")
    return values[0] if values else None


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[dict[str, Any]]
    connection: Connection


@dataclass(slots=True)
class _Forwarded:
    messages: list[Message] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    image_urls: list[str] = field(default_factory=list)


class OneBotConnector:
    """One QQ account behind a OneBot v11 implementation; see the module docstring."""

    # QQ keeps no ban list (a ban is a kick refusing re-entry): lifting one is for a person
    capabilities: frozenset[ActionKind] = GROUP_ADMIN - {ActionKind.UNBAN}

    def __init__(
        self,
        name: str,
        *,
        mode: str = "forward",
        url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8080,
        access_token: str | None = None,
        reconnect_base_s: float = 1.0,
        action_timeout_s: float = 10.0,
        fetch_images: bool = True,
        image_max_bytes: int = IMAGE_MAX_BYTES,
        image_timeout_s: float = IMAGE_TIMEOUT_S,
    ) -> None:
        if mode not in ("forward", "reverse"):
            raise ValueError(tr("mode must be 'forward' or 'reverse', not {mode!r}", mode=mode))
        if mode == "forward" and not url:
            raise ValueError(tr("forward mode needs the url of the OneBot WebSocket server"))
        self.name = name
        self.mode = mode
        self.url = url
        self.host = host
        self.port = port  # in reverse mode, the port actually bound once listening (port 0)
        self.access_token = access_token or None
        self.reconnect_base_s = reconnect_base_s
        self.action_timeout_s = action_timeout_s
        self.fetch_images = fetch_images
        self.image_max_bytes = image_max_bytes
        self.image_timeout_s = image_timeout_s
        self.self_id: str | None = None  # the bot's QQ number, once the implementation says
        self._reactions = Reactions()
        self.last_seen: float | None = None  # time.monotonic() of the last frame received
        self.listening = asyncio.Event()  # reverse mode: set once the server is bound
        self._connected = asyncio.Event()
        self._ws: Connection | None = None
        self._pending: dict[str, _Pending] = {}
        self._closing: set[asyncio.Task[None]] = set()  # replaced connections being closed
        self._deleted: dict[str, None] = {}  # message ids we deleted, oldest first
        self.appeals: Appeals | None = None  # set by the engine: members' private messages
        self._files: dict[str, None] = {}  # file ids seen in messages or uploads, oldest first
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._group_names: dict[str, str] = {}
        self._group_asked: dict[str, float] = {}
        self._warned_string = False
        self._bios = Bios(self._read_bio)  # type: ignore[arg-type]
        self._bios_given = True  # until an implementation answers without them

    # -- state -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether an implementation is connected now (calls can be made)."""
        return self._ws is not None

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until an implementation is connected (for `qunzhu` checks and tests)."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    # -- receiving -------------------------------------------------------------------------

    def forget(self, forgotten: Callable[[str], bool]) -> None:
        """Members just forgotten (`qunzhu forget`): their signatures and reactions read
        lately are dropped."""
        self._bios.forget(forgotten)
        self._reactions.forget(forgotten)

    async def run(self, emit: Emit) -> None:
        """Receive events until cancelled, reconnecting (forward) or serving (reverse)."""
        self._queue = asyncio.Queue()
        deliver = asyncio.create_task(self._deliver(self._queue, emit))
        try:
            if self.mode == "forward":
                await self._run_forward()
            else:
                await self._run_reverse()
        finally:
            for task in (deliver, *self._closing):
                task.cancel()
            await asyncio.gather(deliver, *self._closing, return_exceptions=True)
            ws, self._ws = self._ws, None
            self._connected.clear()
            if ws is not None:
                self._fail_pending(ws)
                await ws.close()
            if self._session is not None:
                await self._session.close()
                self._session = None
            self.listening.clear()

    async def _run_forward(self) -> None:
        assert self.url is not None
        headers = Headers()
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        delay = self.reconnect_base_s
        while True:
            try:
                async with connect(
                    self.url,
                    additional_headers=headers,
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=max(self.action_timeout_s, 1.0),
                    proxy=None,  # implementations run beside the bot, never behind a proxy
                ) as ws:
                    delay = self.reconnect_base_s
                    log.info(tr("OneBot {name}: connected to {url}", name=self.name, url=self.url))
                    await self._serve(ws)
                why = f"WebSocket {ws.close_code or '-'} {ws.close_reason}".strip()
            except InvalidStatus as exc:
                why = f"HTTP {exc.response.status_code}"
                if exc.response.status_code in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                    why = tr("the access token was refused ({why}); check access_token", why=why)
            except Exception as exc:  # refused, reset, timed out, a bad frame: all mean retry
                why = str(exc) or type(exc).__name__
            log.warning(
                tr(
                    "OneBot {name}: no connection to {url} ({why}); retrying in {delay:.1f} s",
                    name=self.name,
                    url=self.url,
                    why=why,
                    delay=delay,
                )
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _run_reverse(self) -> None:
        delay = self.reconnect_base_s
        while True:
            try:
                async with serve(
                    self._accept,
                    self.host,
                    self.port,
                    process_request=self._check_request,
                    max_size=MAX_FRAME_BYTES,
                ) as server:
                    sockets = list(server.sockets)
                    if sockets:
                        self.port = sockets[0].getsockname()[1]
                    log.info(
                        tr(
                            "OneBot {name}: waiting for the implementation on ws://{host}:{port}",
                            name=self.name,
                            host=self.host,
                            port=self.port,
                        )
                    )
                    self.listening.set()
                    await asyncio.Future()  # serve until cancelled
            except OSError as exc:  # the port is taken: wait for it
                log.warning(
                    tr(
                        "OneBot {name}: cannot listen on {host}:{port} ({why}); "
                        "retrying in {delay:.1f} s",
                        name=self.name,
                        host=self.host,
                        port=self.port,
                        why=exc,
                        delay=delay,
                    )
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Only the configured implementation, as a Universal client, may connect."""
        role = request.headers.get("X-Client-Role", "Universal")
        status = HTTPStatus.BAD_REQUEST
        if self.access_token and not hmac.compare_digest(
            (_token_from(request) or "").encode(), self.access_token.encode()
        ):
            why, status = tr("wrong or missing access token"), HTTPStatus.UNAUTHORIZED
        elif role.lower() != "universal":
            why = tr("X-Client-Role is {role!r}; only Universal is supported", role=role)
        elif not request.headers.get("X-Self-ID", "").strip().isdigit():
            why = tr("no numeric X-Self-ID header")
        else:
            return None
        peer = connection.remote_address
        log.warning(
            tr(
                "OneBot {name}: refused a connection from {peer}: {why}",
                name=self.name,
                peer=peer,
                why=why,
            )
        )
        return connection.respond(status, f"{status.phrase}\n")

    async def _accept(self, ws: ServerConnection) -> None:
        self.self_id = ws.request.headers["X-Self-ID"].strip() if ws.request else self.self_id
        log.info(
            tr(
                "OneBot {name}: account {self_id} connected from {peer}",
                name=self.name,
                self_id=self.self_id,
                peer=ws.remote_address,
            )
        )
        old = self._ws
        if old is not None and old is not ws:
            # Serve the new one at once: closing a dead peer politely can take close_timeout.
            log.info(tr("OneBot {name}: a new connection replaces the old one", name=self.name))
            self._fail_pending(old)
            closing = asyncio.create_task(old.close(1000, "replaced"))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        await self._serve(ws)

    async def _serve(self, ws: Connection) -> None:
        """Read frames until the connection closes; answers resolve calls at once."""
        self._ws = ws
        self._warned_string = False
        self._connected.set()
        try:
            async for raw in ws:
                self._on_frame(raw)
        except ConnectionClosed:
            pass
        finally:
            if self._ws is ws:
                self._ws = None
                self._connected.clear()
            self._fail_pending(ws)

    def _on_frame(self, raw: str | bytes) -> None:
        self.last_seen = time.monotonic()
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            log.warning(tr("OneBot {name}: cannot read an event: {why}", name=self.name, why=exc))
            return
        if not isinstance(frame, dict):
            return
        if "post_type" in frame:
            if frame.get("self_id") not in (None, ""):
                self.self_id = str(frame["self_id"])
            if self._queue is not None:
                self._queue.put_nowait(frame)
        elif "echo" in frame:
            pending = self._pending.pop(str(frame["echo"]), None)
            if pending is not None and not pending.future.done():
                pending.future.set_result(frame)

    def _fail_pending(self, ws: Connection) -> None:
        for echo, pending in list(self._pending.items()):
            if pending.connection is ws:
                del self._pending[echo]
                if not pending.future.done():
                    pending.future.set_exception(
                        ActionFailed(  # the frame went out: it may have been acted on
                            tr("the connection to the OneBot implementation was lost"),
                            retry=True,
                            unknown=True,
                        )
                    )

    async def _deliver(self, queue: asyncio.Queue[dict[str, Any]], emit: Emit) -> None:
        """Turn queued events into LiveEvents and emit them in the order they came; one bad
        event never stops the rest. Up to CONVERTING are converted at once: a raid's joins
        each wait for the newcomer's name, a picture's message for its download, and one at a
        time a wave of 100 bots would reach the engine (and its lockdown) a minute late."""
        converting: asyncio.Queue[asyncio.Task[LiveEvent | None]] = asyncio.Queue(CONVERTING)

        async def start() -> None:
            while True:
                frame = await queue.get()
                await converting.put(asyncio.create_task(self.convert(frame)))

        starter = asyncio.create_task(start())
        try:
            while True:
                task = await converting.get()
                try:
                    event = await task
                    if event is not None:
                        await emit(event)
                except Exception:
                    log.exception(tr("OneBot {name}: handling an event failed", name=self.name))
        finally:
            starter.cancel()
            while not converting.empty():
                converting.get_nowait().cancel()

    # -- events ----------------------------------------------------------------------------

    async def convert(self, frame: Mapping[str, Any]) -> LiveEvent | None:
        """One OneBot event as a LiveEvent, or None for what we do not follow (private chats,
        heartbeats, our own messages, invitations of the bot to other groups)."""
        post_type = frame.get("post_type")
        if post_type == "message" and frame.get("message_type") == "group":
            return await self._message_event(frame)
        if post_type == "message" and frame.get("message_type") == "private":
            await self._appeal(frame)
            return None  # a member's word to the bot, not an event of a group
        if post_type == "notice":
            return await self._notice_event(frame)
        if (
            post_type == "request"
            and frame.get("request_type") == "group"
            and frame.get("sub_type") == "add"
        ):
            asker = str(frame.get("user_id"))
            request = JoinRequest(
                platform_id=str(frame.get("flag", "")),
                member=Person(asker),
                at=_when(frame.get("time")),
                answer=str(frame.get("comment") or ""),
            )
            bio = await self._bio(asker)  # a farm's signature carries the ad its request hides
            return LiveEvent(self.name, await self._group(frame), request, bio=bio)
        return None  # meta_event (heartbeat, lifecycle) and everything else

    async def _appeal(self, frame: Mapping[str, Any]) -> None:
        """A member wrote to the bot's account in private (a friend, or a group's temporary
        chat): handed to `appeals`, whose answer is sent back (`send_private_msg`). Nothing
        where nobody set `appeals`."""
        user_id = _id(frame.get("user_id"))
        said = parse_message(frame.get("message")).text.strip()
        if self.appeals is None or not said or not (user_id or "").isdigit():
            return
        if user_id == self.self_id:  # the bot's own line, on another of its devices
            return
        sender = frame.get("sender")
        name = sender.get("nickname") if isinstance(sender, Mapping) else None
        appeal = Appeal(
            str(frame.get("message_id")),
            Person(user_id, str(name) if name else None),
            _when(frame.get("time")),
            said,
        )
        answer = await self.appeals(appeal)
        if answer:
            params = _private(user_id, answer)
            temporary = _id(frame.get("group_id")) or ""  # a temporary chat is answered
            if frame.get("sub_type") == "group" and temporary.isdigit():  # through its group
                params["group_id"] = int(temporary)
            try:
                await self.call("send_private_msg", params)
            except ActionFailed as exc:  # temporary chats closed, the account restricted
                log.warning(
                    tr(
                        "OneBot {name}: cannot answer {user} in private: {why}",
                        name=self.name,
                        user=user_id,
                        why=exc,
                    )
                )

    async def _message_event(self, frame: Mapping[str, Any]) -> LiveEvent | None:
        if frame.get("sub_type") == "notice":  # a system line shown as a message
            return None
        user_id = _id(frame.get("user_id"))
        if user_id is not None and user_id == self.self_id:
            return None
        sender = frame.get("sender")
        sender = sender if isinstance(sender, Mapping) else {}
        anonymous = frame.get("anonymous")
        name = sender.get("card") or sender.get("nickname")
        if isinstance(anonymous, Mapping) and anonymous.get("name"):
            name = anonymous["name"]
        message = frame.get("message")
        if isinstance(message, str) and not self._warned_string:
            self._warned_string = True
            log.warning(
                tr(
                    "OneBot {name}: messages arrive as CQ-code strings; "
                    "set message_format to array",
                    name=self.name,
                )
            )
        parsed = parse_message(message)
        if parsed.files and not self._first_sight(parsed.files):
            return None  # its upload notice came first and stands for it
        sent_at = _when(frame.get("time"))
        record = Message(
            platform_id=str(frame.get("message_id")),
            sender=Person(user_id, str(name) if name else None),
            sent_at=sent_at,
            kind=parsed.kind,
            text=parsed.text,
            reply_to=parsed.reply_to,
            mentions=parsed.mentions,
            urls=parsed.urls,
        )
        forwarded = _Forwarded()
        for data in parsed.forwards:
            await self._expand(data, sent_at, forwarded, FORWARD_DEPTH)
        group = await self._group(frame)
        images = await self._images([*parsed.image_urls, *forwarded.image_urls])
        anonymous_member = isinstance(anonymous, Mapping) and bool(anonymous)
        return LiveEvent(
            connector=self.name,
            group=group,
            record=record,
            role=_ROLES.get(str(sender.get("role", "")), "member"),
            kinds=parsed.kinds | forwarded.kinds,
            images=images,
            forwarded=tuple(forwarded.messages),
            bio="" if anonymous_member else await self._bio(user_id),
        )

    async def _notice_event(self, frame: Mapping[str, Any]) -> LiveEvent | None:
        notice = frame.get("notice_type")
        if notice in ("group_msg_emoji_like", "reaction"):
            return await self._reaction_event(frame)
        group_id, user_id = frame.get("group_id"), frame.get("user_id")
        if group_id is None or user_id is None:
            return None
        at = _when(frame.get("time"))
        stamp = frame.get("time", int(at.timestamp()))
        member = Person(str(user_id))
        operator = _id(frame.get("operator_id"))
        actor = Person(operator) if operator and operator != str(user_id) else None
        sub_type = frame.get("sub_type")
        bio = ""
        if notice == "group_increase":
            method = {"approve": JoinMethod.APPROVE, "invite": JoinMethod.INVITE}.get(
                str(sub_type), JoinMethod.UNKNOWN
            )
            # both asked at once: a raid's hundred newcomers wait for one round trip each
            name, bio = await asyncio.gather(
                self._name_of(group_id, user_id), self._bio(str(user_id))
            )
            record = MembershipEvent(
                f"inc:{group_id}:{user_id}:{stamp}",
                Person(str(user_id), name),
                MembershipAction.JOIN,
                at,
                method,
                actor,
            )
        elif notice == "group_decrease":
            action = MembershipAction.LEAVE if sub_type == "leave" else MembershipAction.KICK
            actor = None if action is MembershipAction.LEAVE else actor
            record = MembershipEvent(
                f"dec:{group_id}:{user_id}:{stamp}", member, action, at, actor=actor
            )
        elif notice == "group_upload":
            return await self._upload_event(frame)
        elif notice == "group_card":  # go-cqhttp, NapCat, Lagrange: a group nickname changed
            record = MembershipEvent(
                f"card:{group_id}:{user_id}:{stamp}",
                member,
                MembershipAction.RENAME,
                at,
                new_name=str(frame.get("card_new") or ""),
            )
        else:
            return None
        return LiveEvent(self.name, await self._group(frame), record, bio=bio)

    async def _reaction_event(self, frame: Mapping[str, Any]) -> LiveEvent | None:
        """Someone put an emoji on a message (贴表情), which no OneBot v11 event names: NapCat
        and LLOneBot say `group_msg_emoji_like` with the member as `user_id` (and `is_add`
        false for one taken back, in newer versions), Lagrange `reaction` with `sub_type`
        add or remove and the member as `operator_id`. As on Telegram, a member's
        reactions in a group are handed on once a day, with their name and signature."""
        if frame.get("notice_type") == "reaction":
            added, user_id = frame.get("sub_type") == "add", _id(frame.get("operator_id"))
        else:
            added, user_id = frame.get("is_add") is not False, _id(frame.get("user_id"))
        group_id = _id(frame.get("group_id"))
        if not added or group_id is None or user_id is None or user_id == self.self_id:
            return None
        if not self._reactions.due((group_id, user_id)):
            return None
        name, bio = await asyncio.gather(self._name_of(group_id, user_id), self._bio(user_id))
        at = _when(frame.get("time"))
        record = Reaction(f"{frame.get('message_id')}:{user_id}", Person(user_id, name), at)
        return LiveEvent(self.name, await self._group(frame), record, bio=bio)

    async def _bio(self, user_id: str | None) -> str:
        """The member's signature (the module docstring)."""
        if user_id is None or not self._bios_given:
            return ""
        return await self._bios(user_id)

    async def _read_bio(self, user_id: str) -> str | None:
        """The signature ("" for none), None where the call failed."""
        try:
            info = await self.call(
                "get_stranger_info", {"user_id": _int(user_id, "user")}, timeout=BIO_TIMEOUT
            )
        except ActionFailed:
            return None
        if isinstance(info, Mapping) and ("long_nick" in info or "longNick" in info):
            return str(info.get("long_nick") or info.get("longNick") or "")
        if self._bios_given:  # said once: the implementation keeps members' signatures to itself
            self._bios_given = False
            log.info(tr("OneBot {name}: members' signatures are not given", name=self.name))
        return ""

    async def _upload_event(self, frame: Mapping[str, Any]) -> LiveEvent | None:
        """A file put in the group's files, as the message QQ shows for it: go-cqhttp and
        Lagrange tell an upload by this notice alone, NapCat and LLOneBot by a message with a
        file segment too, so whichever of the two comes second is dropped. An ad named
        "兼职名单 加V abc12345.xlsx" is judged by its name like a file segment; the message id
        names the file, so that DELETE takes it out of the group's files."""
        file = frame.get("file")
        file = file if isinstance(file, Mapping) else {}
        file_id = _id(file.get("id"))
        if file_id is None or not self._first_sight([file_id]):
            return None
        group_id, user_id = frame.get("group_id"), frame.get("user_id")
        text = _file_text(file.get("name"))
        record = Message(
            platform_id=f"{UPLOAD_PREFIX}{file.get('busid', 0)}:{file_id}",
            sender=Person(str(user_id), await self._name_of(group_id, user_id)),
            sent_at=_when(frame.get("time")),
            kind=MessageKind.FILE,
            text=text,
            urls=_urls(text),
        )
        group = await self._group(frame)
        return LiveEvent(self.name, group, record, kinds=frozenset({"file"}))

    def _first_sight(self, file_ids: Iterable[str]) -> bool:
        """Whether none of these files was seen before; remembers them."""
        fresh = not any(f in self._files for f in file_ids)
        for file_id in file_ids:
            self._files[file_id] = None
        while len(self._files) > FILES_KEPT:
            del self._files[next(iter(self._files))]
        return fresh

    async def _name_of(self, group_id: Any, user_id: Any) -> str | None:
        """A newcomer's name, which OneBot's join notice does not carry: their group card,
        else their QQ nickname (`get_group_member_info`), so that the welcome greets them by
        name and moderation reads an ad written into it. None when the call fails."""
        try:
            params = {"group_id": _int(group_id, "group"), "user_id": _int(user_id, "user")}
            info = await self.call("get_group_member_info", {**params, "no_cache": True})
        except ActionFailed:
            return None
        if not isinstance(info, Mapping):
            return None
        name = info.get("card") or info.get("nickname")
        return str(name) if name else None

    async def _group(self, frame: Mapping[str, Any]) -> Group:
        """The group with its name: from the event where the implementation adds one, else
        `get_group_info` once per group (bounded by the call timeout), else the number."""
        group_id = str(frame.get("group_id"))
        given = frame.get("group_name")
        if isinstance(given, str) and given:
            self._group_names[group_id] = given
        if group_id not in self._group_names:
            asked = self._group_asked.get(group_id)
            if asked is None or time.monotonic() - asked > GROUP_INFO_RETRY_S:
                self._group_asked[group_id] = time.monotonic()
                try:
                    info = await self.call("get_group_info", {"group_id": _int(group_id, "group")})
                    name = info.get("group_name") if isinstance(info, Mapping) else None
                    if isinstance(name, str) and name:
                        self._group_names[group_id] = name
                except ActionFailed:
                    pass
        return Group(Platform.QQ, group_id, self._group_names.get(group_id, group_id))

    async def _expand(
        self, data: Mapping[str, Any], at: datetime, into: _Forwarded, depth: int
    ) -> None:
        """A merged forward's messages, through `get_forward_msg` (or the `content` NapCat
        puts in the segment); spam hides in forwards, so nested ones are opened too."""
        if depth <= 0 or len(into.messages) >= FORWARD_MAX_MESSAGES:
            return
        forward_id = data.get("id")
        nodes = data.get("content")
        if not isinstance(nodes, list):
            if forward_id in (None, ""):
                return
            try:
                answer = await self.call("get_forward_msg", {"id": str(forward_id)})
            except ActionFailed:
                return
            if isinstance(answer, Mapping):
                nodes = answer.get("messages", answer.get("message"))
            else:
                nodes = answer
        if not isinstance(nodes, list):
            return
        for index, node in enumerate(nodes):
            if len(into.messages) >= FORWARD_MAX_MESSAGES:
                return
            if not isinstance(node, Mapping):
                continue
            if node.get("type") == "node":  # the spec: node segments
                body = node.get("data")
                body = body if isinstance(body, Mapping) else {}
                user = body.get("user_id", body.get("uin"))
                name = body.get("nickname", body.get("name"))
                content = body.get("content", body.get("message"))
                sent = body.get("time")
                message_id = body.get("id", body.get("message_id"))
            else:  # go-cqhttp, NapCat: message-like objects with a sender
                sender = node.get("sender")
                sender = sender if isinstance(sender, Mapping) else {}
                user = sender.get("user_id", node.get("user_id"))
                name = sender.get("card") or sender.get("nickname")
                content = node.get("content", node.get("message"))
                sent = node.get("time")
                message_id = node.get("message_id", node.get("id"))
            parsed = parse_message(content)
            into.messages.append(
                Message(
                    platform_id=str(message_id) if _id(message_id) else f"{forward_id}:{index}",
                    sender=Person(_id(user), str(name) if name else (None if _id(user) else "?")),
                    sent_at=_when(sent) if sent else at,
                    kind=parsed.kind,
                    text=parsed.text,
                    reply_to=parsed.reply_to,
                    mentions=parsed.mentions,
                    urls=parsed.urls,
                )
            )
            into.kinds |= parsed.kinds
            into.image_urls.extend(parsed.image_urls)
            for inner in parsed.forwards:
                await self._expand(inner, at, into, depth - 1)

    async def _images(self, urls: Iterable[str]) -> tuple[bytes, ...]:
        """The pictures' bytes (for QR codes); one that fails or is too big is left out."""
        wanted = list(dict.fromkeys(urls))[:MAX_IMAGES]
        if not self.fetch_images or not wanted:
            return ()
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.image_timeout_s)
            )
        got = await asyncio.gather(*(self._image(self._session, url) for url in wanted))
        return tuple(data for data in got if data)

    async def _image(self, session: aiohttp.ClientSession, url: str) -> bytes | None:
        try:
            async with session.get(url) as response:
                if response.status != 200:
                    return None
                if (response.content_length or 0) > self.image_max_bytes:
                    return None
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > self.image_max_bytes:
                        return None
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.debug("image %s: %s", url, exc)
            return None

    # -- actions ---------------------------------------------------------------------------

    async def call(
        self, action: str, params: Mapping[str, Any], timeout: float | None = None
    ) -> Any:
        """Call one OneBot API and return its `data`; any failure is an `ActionFailed`."""
        ws = self._ws
        if ws is None:
            raise ActionFailed(tr("not connected to the OneBot implementation"), retry=True)
        echo = f"qz:{self._prefix}:{next(self._counter)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[echo] = _Pending(future, ws)
        seconds = self.action_timeout_s if timeout is None else timeout
        try:
            frame = {"action": action, "params": dict(params), "echo": echo}
            await ws.send(orjson.dumps(frame).decode())
            reply = await asyncio.wait_for(future, seconds)
        except TimeoutError:
            raise ActionFailed(
                tr("{action}: no answer within {seconds} s", action=action, seconds=seconds),
                retry=True,
                unknown=True,
            ) from None
        except ConnectionClosed:
            raise ActionFailed(
                tr("the connection to the OneBot implementation was lost"),
                retry=True,
                unknown=True,  # perhaps after the frame went out
            ) from None
        finally:
            self._pending.pop(echo, None)
        return _answer(action, reply)

    async def roster(self, group_id: str) -> list[RosterEntry]:
        """Everyone in the group now (`get_group_member_list`), with their group card as the
        name and their join time; entries without a user id are left out."""
        params = {"group_id": _int(group_id, "group_id"), "no_cache": True}  # not a stale list
        data = await self.call("get_group_member_list", params, ROSTER_TIMEOUT_S)
        found = []
        for item in data if isinstance(data, list) else ():
            if not isinstance(item, Mapping) or (who := _id(item.get("user_id"))) is None:
                continue
            name = item.get("card") or item.get("nickname") or None
            joined = item.get("join_time")
            at = _when(joined) if isinstance(joined, int | float) and joined > 0 else None
            found.append(RosterEntry(Person(who, name), at))
        return found

    async def execute(self, action: Action) -> str | None:
        """Do one action, see the module docstring for how each kind maps to OneBot; the id
        of a message sent, where the implementation gives it."""
        name, params = self.request_for(action)
        data = None
        try:
            data = await self.call(name, params)
        except _CallFailed as exc:
            if not (name == "delete_msg" and exc.gone):
                raise
        if name == "delete_msg":
            self._deleted[str(params["message_id"])] = None
            while len(self._deleted) > DELETED_KEPT:
                del self._deleted[next(iter(self._deleted))]
        sent = data.get("message_id") if isinstance(data, dict) else None
        return str(sent) if name == "send_group_msg" and sent is not None else None

    def request_for(self, action: Action) -> tuple[str, dict[str, Any]]:
        """The OneBot action and params for one Action (ActionFailed for what cannot be)."""
        kind = action.kind
        if kind is ActionKind.DELETE and (action.message_id or "").startswith(UPLOAD_PREFIX):
            busid, _, file_id = action.message_id[len(UPLOAD_PREFIX) :].partition(":")
            group_id = _int(action.group_id, "group_id")
            return "delete_group_file", {
                "group_id": group_id,
                "file_id": file_id,
                "busid": _int(busid, "busid"),
            }
        if kind is ActionKind.DELETE:
            return "delete_msg", {"message_id": _int(action.message_id, "message_id")}
        if kind is ActionKind.APPROVE or kind is ActionKind.REJECT:
            if not action.request_id:
                raise ActionFailed(tr("{field} is missing", field="request_id"))
            approve = kind is ActionKind.APPROVE
            return "set_group_add_request", {
                "flag": action.request_id,
                "sub_type": "add",
                "approve": approve,
                "reason": "" if approve else action.reason,
            }
        if kind is ActionKind.TELL:
            return "send_private_msg", _private(
                str(_int(action.member_id, "member_id")), action.text
            )
        group_id = _int(action.group_id, "group_id")
        if kind is ActionKind.WARN or kind is ActionKind.SEND:
            segments: list[dict[str, Any]] = []
            if action.message_id and not action.message_id.startswith(UPLOAD_PREFIX):
                reply = str(_int(action.message_id, "message_id"))
                if reply not in self._deleted:  # DELETE_WARN deletes first: no quote of it
                    segments.append({"type": "reply", "data": {"id": reply}})
            if kind is ActionKind.WARN and action.member_id:
                qq = str(_int(action.member_id, "member_id"))
                segments.append({"type": "at", "data": {"qq": qq}})
            if not action.text.strip():
                raise ActionFailed(tr("the message to send is empty"))
            text = " " + action.text if kind is ActionKind.WARN else action.text
            segments.append({"type": "text", "data": {"text": text}})
            return "send_group_msg", {"group_id": group_id, "message": segments}
        if kind is ActionKind.LOCK or kind is ActionKind.UNLOCK:  # 全员禁言, admins exempt
            return "set_group_whole_ban", {"group_id": group_id, "enable": kind is ActionKind.LOCK}
        user_id = _int(action.member_id, "member_id")
        if kind is ActionKind.MUTE:
            if action.seconds <= 0:
                raise ActionFailed(
                    tr("a mute needs a positive duration, not {seconds}", seconds=action.seconds)
                )
            duration = min(action.seconds, MUTE_MAX_S)
            return "set_group_ban", {"group_id": group_id, "user_id": user_id, "duration": duration}
        if kind is ActionKind.UNMUTE:
            return "set_group_ban", {"group_id": group_id, "user_id": user_id, "duration": 0}
        if kind is ActionKind.KICK or kind is ActionKind.BAN:
            return "set_group_kick", {
                "group_id": group_id,
                "user_id": user_id,
                "reject_add_request": kind is ActionKind.BAN,
            }
        raise ActionFailed(tr("OneBot cannot do {kind}", kind=str(kind)))


def _private(user_id: str, text: str) -> dict[str, Any]:
    """`send_private_msg`'s params: one text segment to a member."""
    return {"user_id": int(user_id), "message": [{"type": "text", "data": {"text": text}}]}


class _CallFailed(ActionFailed):
    """An ActionFailed that keeps what the implementation said, to tell "already gone"."""

    def __init__(self, message: str, retry: bool, retcode: int | None, said: str) -> None:
        super().__init__(message, retry)
        self.retcode = retcode
        self.said = said

    @property
    def gone(self) -> bool:
        """The implementation says the message is not there (1404 is a missing API instead)."""
        said = self.said.lower()
        return self.retcode != 1404 and any(marker in said for marker in GONE_MARKERS)


def _answer(action: str, reply: Mapping[str, Any]) -> Any:
    """`ok` (retcode 0) and `async` (retcode 1) succeed; 1400/1401/1403/1404 are for good;
    anything else (1500s, implementation codes, `failed` without a code) may pass."""
    status = reply.get("status")
    retcode = reply.get("retcode")
    if status != "failed" and (status in ("ok", "async") or retcode in (0, 1)):
        return reply.get("data")
    said = " ".join(
        str(reply[key]) for key in ("msg", "message", "wording") if reply.get(key)
    ) or str(status)
    try:
        code = int(retcode) if retcode is not None else None
    except (TypeError, ValueError):
        code = None
    raise _CallFailed(
        tr("{action} failed (retcode {retcode}): {why}", action=action, retcode=retcode, why=said),
        retry=code not in PERMANENT_RETCODES,
        retcode=code,
        said=said,
    )
