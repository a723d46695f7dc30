"""An in-process fake of the Telegram Bot API (https://core.telegram.org/bots/api), for tests.

It speaks the documented protocol, not aiogram's habits: `GET` or `POST /bot{token}/{method}`
(method names in any case) with parameters in the query string, an urlencoded or multipart form
(complex values JSON-serialized, as the Bot API asks) or a JSON body; answers
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}` with
the same HTTP status; files under `/file/bot{token}/{file_path}`. getUpdates honours `offset`
(updates below it are confirmed and forgotten), `limit`, `timeout` (a long poll: it returns as
soon as an update is queued) and `allowed_updates` (remembered between calls, and by default
without `chat_member`, as Telegram does).

A test queues updates, registers files, and injects one-shot faults per method: an error
answer (429 with `retry_after`, 400, 403, 500) or a dropped connection. Every call, faulty or
not, is logged in `calls` with its parameters decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-token_for-the-fake"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Qunzhu", "username": "qunzhu_bot"}
DEFAULT_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass
class Call:
    method: str  # as documented, e.g. "sendMessage", whatever case the client used
    params: dict[str, Any]
    http: str = "POST"


@dataclass
class _Fault:
    status: int = 0
    description: str = ""
    retry_after: int | None = None
    drop: bool = False


@dataclass
class FakeTelegram:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id -> path, data
    downloads: list[str] = field(default_factory=list)  # file paths fetched
    # when set: each download waits for it to be set, counted in `downloads_waiting`
    hold_downloads: asyncio.Event | None = None
    downloads_waiting: int = 0
    allowed_updates: list[str] | None = None
    # the group's default member rights (getChat, setChatPermissions): members may post, and
    # may not change the group's info
    permissions: dict[str, bool] = field(
        default_factory=lambda: {"can_send_messages": True, "can_change_info": False}
    )
    bios: dict[int, str] = field(default_factory=dict)  # user id -> bio (getChat of a user)
    latency: dict[str, float] = field(default_factory=dict)  # method -> seconds to answer
    _queue: list[dict[str, Any]] = field(default_factory=list)
    _faults: dict[str, list[_Fault]] = field(default_factory=lambda: defaultdict(list))
    _next_update: int = 1000
    _next_message: int = 5000
    _changed: asyncio.Event | None = None
    _closing: bool = False
    _runner: web.AppRunner | None = None
    url: str = ""

    # ---- life --------------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on 127.0.0.1, a free port; returns the base URL (the connector's api_base)."""
        self._changed = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        self._closing = True
        if self._changed is not None:
            self._changed.set()  # wake long polls
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- what a test does ----------------------------------------------------------------

    def queue(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue an update `{"update_id": n, kind: payload}`; returns its update_id."""
        self._next_update += 1
        self._queue.append({"update_id": self._next_update, kind: payload})
        if self._changed is not None:
            self._changed.set()
        return self._next_update

    def add_file(self, file_id: str, data: bytes) -> str:
        """Make `file_id` downloadable; returns its file_path."""
        path = f"photos/file_{len(self.files)}.jpg"
        self.files[file_id] = (path, data)
        return path

    def fail(
        self, method: str, status: int, description: str, retry_after: int | None = None
    ) -> None:
        """The next call of `method` gets this error answer (faults queue up per method)."""
        self._faults[method.lower()].append(_Fault(status, description, retry_after))

    def fail_rate_limit(self, method: str, retry_after: int = 3) -> None:
        self.fail(method, 429, f"Too Many Requests: retry after {retry_after}", retry_after)

    def fail_server(self, method: str) -> None:
        self.fail(method, 500, "Internal Server Error")

    def drop(self, method: str) -> None:
        """The next call of `method` has its connection closed before any answer."""
        self._faults[method.lower()].append(_Fault(drop=True))

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method.lower() == method.lower()]

    def pending(self) -> list[int]:
        """update_ids not yet confirmed by an offset."""
        return [u["update_id"] for u in self._queue]

    # ---- the API -----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        self.calls.append(Call(method, params, request.method))
        faults = self._faults.get(method.lower())
        if faults:
            fault = faults.pop(0)
            if fault.drop:
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)  # never written: the socket is closed
            return _error(fault.status, fault.description, fault.retry_after)
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return _error(404, "Not Found")
        if delay := self.latency.get(method):
            await asyncio.sleep(delay)
        result = await handler(params)
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        if self.hold_downloads is not None:
            self.downloads_waiting += 1
            await self.hold_downloads.wait()
        for file_path, data in self.files.values():
            if file_path == path:
                self.downloads.append(path)
                return web.Response(body=data, content_type="image/jpeg")
        return web.Response(status=404, text="Not Found")

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if "allowed_updates" in params:  # "if not specified, the previous setting is used"
            self.allowed_updates = list(params["allowed_updates"])
        if offset:
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        assert self._changed is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._queue = [u for u in self._queue if self._wanted(u)]
            remaining = deadline - loop.time()
            if self._queue or remaining <= 0 or self._closing:
                return self._queue[:limit]
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def _wanted(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in DEFAULT_EXCLUDED

    async def _m_getme(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    async def _m_getfile(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(data),
            "file_path": path,
        }

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        if not params.get("text"):
            return _error(400, "Bad Request: message text is empty")
        self._next_message += 1
        chat_id = params["chat_id"]
        return {
            "message_id": self._next_message,
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "supergroup", "title": "Group"},
            "date": 1_700_000_000,
            "text": str(params["text"]),
        }

    async def _m_getchat(self, params: dict[str, Any]) -> Any:
        if int(params["chat_id"]) > 0:  # a user: their private chat, with a bio if set
            found = {"id": int(params["chat_id"]), "type": "private", "first_name": "U"}
            bio = self.bios.get(int(params["chat_id"]))
            found |= {"bio": bio} if bio else {}
            return found | {"accent_color_id": 0, "max_reaction_count": 11, **_GIFTS}
        return {
            "id": params["chat_id"],
            "type": "supergroup",
            "title": "Group",
            "accent_color_id": 0,
            "max_reaction_count": 11,
            **_GIFTS,
            "permissions": self.permissions,
        }

    async def _m_setchatpermissions(self, params: dict[str, Any]) -> Any:
        self.permissions = dict(params["permissions"])
        return True

    async def _true(self, params: dict[str, Any]) -> Any:
        return True

    _m_deletemessage = _true
    _m_restrictchatmember = _true
    _m_banchatmember = _true
    _m_unbanchatmember = _true
    _m_banchatsenderchat = _true
    _m_unbanchatsenderchat = _true
    _m_approvechatjoinrequest = _true
    _m_declinechatjoinrequest = _true
    _m_setwebhook = _true
    _m_deletewebhook = _true


_GIFTS = {
    "accepted_gift_types": {
        "unlimited_gifts": False,
        "limited_gifts": False,
        "unique_gifts": False,
        "premium_subscription": False,
        "gifts_from_channels": False,
    }
}


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _params(request: web.Request) -> dict[str, Any]:
    """Query, form or JSON parameters; form values decoded from JSON where they are JSON
    (numbers, booleans, objects, arrays), as the Bot API reads them."""
    params: dict[str, Any] = {k: _decode(v) for k, v in request.query.items()}
    if request.method != "POST":
        return params
    if request.content_type == "application/json":
        body = await request.json()
        params.update(body if isinstance(body, dict) else {})
    elif request.can_read_body:
        form = await request.post()
        params.update({k: _decode(v) for k, v in form.items() if isinstance(v, str)})
    return params


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


# ---- Bot API objects -------------------------------------------------------------------------

T0 = 1_700_000_000


def user(uid: int, first: str, last: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": first, **extra}
    if last:
        out["last_name"] = last
    return out


def chat(cid: int = -1001234567890, title: str = "Runners", kind: str = "supergroup") -> dict:
    if kind == "private":
        return {"id": cid, "type": "private", "first_name": title}
    return {"id": cid, "type": kind, "title": title}


def message(
    mid: int, sender: dict[str, Any] | None, group: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"message_id": mid, "date": T0 + mid, "chat": group or chat()}
    if sender is not None:
        out["from"] = sender
    out.update(fields)
    return out


def member(u: dict[str, Any], status: str, **extra: Any) -> dict[str, Any]:
    """A ChatMember* object: status creator/administrator/member/restricted/left/kicked."""
    out: dict[str, Any] = {"status": status, "user": u, **extra}
    if status == "kicked":
        out.setdefault("until_date", 0)
    if status == "restricted":
        out.setdefault("is_member", True)
        out.setdefault("until_date", 0)
        for right in (
            "can_send_messages",
            "can_send_audios",
            "can_send_documents",
            "can_send_photos",
            "can_send_videos",
            "can_send_video_notes",
            "can_send_voice_notes",
            "can_send_polls",
            "can_send_other_messages",
            "can_add_web_page_previews",
            "can_react_to_messages",
            "can_edit_tag",
            "can_change_info",
            "can_invite_users",
            "can_pin_messages",
            "can_manage_topics",
        ):
            out.setdefault(right, False)
    return out


def member_updated(
    by: dict[str, Any],
    old: dict[str, Any],
    new: dict[str, Any],
    group: dict[str, Any] | None = None,
    date: int = T0,
    **extra: Any,
) -> dict[str, Any]:
    """A ChatMemberUpdated object."""
    return {
        "chat": group or chat(),
        "from": by,
        "date": date,
        "old_chat_member": old,
        "new_chat_member": new,
        **extra,
    }


def photo_sizes(file_id: str, sizes: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
    """PhotoSize objects for (width, height, file_size) triples, smallest first as Telegram
    sends them; each size's file_id is `{file_id}-{width}`."""
    return [
        {
            "file_id": f"{file_id}-{w}",
            "file_unique_id": f"u{file_id}-{w}",
            "width": w,
            "height": h,
            "file_size": n,
        }
        for w, h, n in sizes
    ]
