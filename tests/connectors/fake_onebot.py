"""A fake OneBot v11 implementation (NapCat, Lagrange, go-cqhttp stand-in) for the connector tests.

It speaks the protocol as botuniverse/onebot-11 writes it (communication/ws.md, ws-reverse.md,
authorization.md; our notes in moderation-anchors.md §5):
- as a forward WebSocket server: `Authorization: Bearer <token>` (or `?access_token=`) is
  checked, a missing token gets HTTP 401 and a wrong one 403, as the spec's HTTP API does;
- as a reverse Universal client: it connects with `X-Self-ID`, `X-Client-Role: Universal` and
  `Authorization: Bearer <token>`;
- on a connection it first pushes a `lifecycle`/`connect` meta event, as implementations do;
- it answers every call with `{"status", "retcode", "data", "echo"}`, records the calls, and
  can be told to fail the next call, stay silent on an action, or drop the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.client import connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

SELF_ID = 10001


def group_message(
    message: list[dict[str, Any]] | str,
    *,
    message_id: int = 123456,
    group_id: int = 987654321,
    user_id: int = 55555,
    role: str = "member",
    card: str = "",
    nickname: str = "someone",
    at: int = 1767225600,
) -> dict[str, Any]:
    """A group message event as event/message.md shows it (message_format=array)."""
    return {
        "time": at,
        "self_id": SELF_ID,
        "post_type": "message",
        "message_type": "group",
        "sub_type": "normal",
        "message_id": message_id,
        "group_id": group_id,
        "user_id": user_id,
        "anonymous": None,
        "message": message,
        "raw_message": "",
        "font": 0,
        "sender": {
            "user_id": user_id,
            "nickname": nickname,
            "card": card,
            "sex": "unknown",
            "age": 0,
            "area": "",
            "level": "1",
            "role": role,
            "title": "",
        },
    }


def notice(notice_type: str, sub_type: str, **fields: Any) -> dict[str, Any]:
    """A notice event (event/notice.md): group_increase, group_decrease and the like."""
    return {
        "time": fields.pop("time", 1767225600),
        "self_id": SELF_ID,
        "post_type": "notice",
        "notice_type": notice_type,
        "sub_type": sub_type,
        **fields,
    }


def group_request(
    sub_type: str, *, flag: str, user_id: int, comment: str, group_id: int = 987654321
) -> dict[str, Any]:
    """A group join request (event/request.md)."""
    return {
        "time": 1767225600,
        "self_id": SELF_ID,
        "post_type": "request",
        "request_type": "group",
        "sub_type": sub_type,
        "group_id": group_id,
        "user_id": user_id,
        "comment": comment,
        "flag": flag,
    }


def seg(kind: str, **data: Any) -> dict[str, Any]:
    """One message segment (message/array.md)."""
    return {"type": kind, "data": data}


class FakeOneBot:
    """One fake QQ account. Use `start_server()` (forward) or `connect_to()` (reverse)."""

    def __init__(self, *, access_token: str | None = None, self_id: int = SELF_ID) -> None:
        self.access_token = access_token
        self.self_id = self_id
        self.calls: list[dict[str, Any]] = []  # every action frame received, in order
        self.refused: list[int] = []  # HTTP statuses of refused handshakes (server side)
        self.handshakes: list[Mapping[str, str]] = []  # headers of accepted handshakes
        self.group_names: dict[int, str] = {}
        self.members: dict[int, list[dict[str, Any]]] = {}  # get_group_member_list answers
        self.forwards: dict[str, list[dict[str, Any]]] = {}  # get_forward_msg id -> nodes
        # get_stranger_info's long_nick (NapCat's); empty: answered without it (go-cqhttp's)
        self.signatures: dict[int, str] = {}
        self.silent: set[str] = set()  # actions never answered
        self.held: set[str] = set()  # actions answered only once `release` is set
        self.release = asyncio.Event()
        self.latency: dict[str, float] = {}  # action -> seconds before its answer goes
        self._holding: set[asyncio.Task[None]] = set()
        self._failures: list[tuple[int, str, str]] = []
        self._message_ids = itertools.count(9000)
        self._server: Server | None = None
        self._connections: list[Connection] = []
        self._connected = asyncio.Event()
        self._call_seen = asyncio.Event()
        self._client_task: asyncio.Task[None] | None = None
        self._taken: set[int] = set()

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    # -- forward: we are the server ----------------------------------------------------------

    async def start_server(self) -> str:
        """Listen on a free loopback port; returns the URL the connector should use."""
        self._server = await serve(
            self._serve_connection, "127.0.0.1", 0, process_request=self._check
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if not self.access_token:
            return None
        token = None
        header = request.headers.get("Authorization")
        if header and header.startswith("Bearer "):
            token = header.removeprefix("Bearer ")
        elif not header:
            token = (parse_qs(urlsplit(request.path).query).get("access_token") or [None])[0]
        if token == self.access_token:
            return None
        status = HTTPStatus.UNAUTHORIZED if token is None else HTTPStatus.FORBIDDEN
        self.refused.append(int(status))
        return connection.respond(status, f"{status.phrase}\n")

    async def _serve_connection(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.handshakes.append(dict(ws.request.headers.raw_items()))
        await self._talk(ws)

    # -- reverse: we are the client ----------------------------------------------------------

    async def connect_to(
        self, url: str, *, token: str | None = None, role: str = "Universal"
    ) -> None:
        """Connect to the connector's reverse server; raises InvalidStatus when refused."""
        headers = {"X-Self-ID": str(self.self_id), "X-Client-Role": role}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        ws = await connect(url, additional_headers=headers, proxy=None, open_timeout=3)
        self._client_task = asyncio.create_task(self._talk(ws))

    # -- both --------------------------------------------------------------------------------

    async def _talk(self, ws: Connection) -> None:
        self._connections.append(ws)
        self._connected.set()
        try:
            await self.send(
                ws,
                {
                    "time": int(time.time()),
                    "self_id": self.self_id,
                    "post_type": "meta_event",
                    "meta_event_type": "lifecycle",
                    "sub_type": "connect",
                },
            )
            async for raw in ws:
                frame = orjson.loads(raw)
                self.calls.append(frame)
                self._call_seen.set()
                answer = self._answer(frame)
                delay = self.latency.get(frame["action"], 0.0)
                if answer is not None and (frame["action"] in self.held or delay):
                    later = asyncio.create_task(self._answer_later(ws, answer, delay))
                    self._holding.add(later)
                    later.add_done_callback(self._holding.discard)
                elif answer is not None:
                    await self.send(ws, answer)
        except ConnectionClosed:
            pass
        finally:
            self._connections.remove(ws)
            if not self._connections:
                self._connected.clear()

    async def _answer_later(
        self, ws: Connection, answer: Mapping[str, Any], delay: float = 0.0
    ) -> None:
        if delay:  # a platform that takes this long (a slow implementation, a far network)
            await asyncio.sleep(delay)
        else:
            await self.release.wait()
        with contextlib.suppress(ConnectionClosed):
            await self.send(ws, answer)

    def _answer(self, frame: Mapping[str, Any]) -> dict[str, Any] | None:
        action, params, echo = frame["action"], frame.get("params") or {}, frame.get("echo")
        if action in self.silent:
            return None
        if self._failures:
            retcode, status, said = self._failures.pop(0)
            return {
                "status": status,
                "retcode": retcode,
                "data": None,
                "message": said,
                "wording": said,
                "echo": echo,
            }
        data: Any = None
        if action == "get_group_info":
            group_id = int(params["group_id"])
            name = self.group_names.get(group_id)
            if name is None:
                return {"status": "failed", "retcode": 1404, "data": None, "echo": echo}
            data = {
                "group_id": group_id,
                "group_name": name,
                "member_count": 3,
                "max_member_count": 200,
            }
        elif action == "get_forward_msg":
            nodes = self.forwards.get(str(params["id"]))
            if nodes is None:
                return {"status": "failed", "retcode": 1404, "data": None, "echo": echo}
            data = {"message": nodes}
        elif action == "send_group_msg":
            data = {"message_id": next(self._message_ids)}
        elif action == "get_stranger_info" and self.signatures:
            user = int(params["user_id"])
            data = {"user_id": user, "nickname": f"u{user}", "long_nick": self.signatures.get(user)}
        elif action == "get_group_member_list":
            data = self.members.get(int(params["group_id"]), [])
        elif action == "get_group_member_info":
            listed = self.members.get(int(params["group_id"]), [])
            found = [m for m in listed if m.get("user_id") == int(params["user_id"])]
            if not found:
                return {"status": "failed", "retcode": 1404, "data": None, "echo": echo}
            data = found[0]
        return {"status": "ok", "retcode": 0, "data": data, "echo": echo}

    @staticmethod
    async def send(ws: Connection, frame: Mapping[str, Any]) -> None:
        await ws.send(orjson.dumps(frame).decode())

    async def push(self, event: Mapping[str, Any]) -> None:
        """Push one event to the connector (waits for a connection first)."""
        await self.wait_connected()
        for ws in list(self._connections):
            await self.send(ws, event)

    async def wait_connected(self, timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def wait_call(self, action: str, timeout: float = 3.0) -> dict[str, Any]:
        """The first recorded call of `action` not yet returned by an earlier wait_call."""
        async with asyncio.timeout(timeout):
            while True:
                for index, frame in enumerate(self.calls):
                    if frame["action"] == action and index not in self._taken:
                        self._taken.add(index)
                        return frame
                self._call_seen.clear()
                await self._call_seen.wait()

    def fail_next(self, retcode: int, status: str = "failed", message: str = "") -> None:
        """Answer the next call (whatever it is) with this failure."""
        self._failures.append((retcode, status, message))

    async def drop(self) -> None:
        """Close every connection, as a crashing or restarting implementation would."""
        for ws in list(self._connections):
            await ws.close(1011, "restarting")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                while self._connections:
                    await asyncio.sleep(0.01)

    async def close(self) -> None:
        await self.drop()
        if self._client_task is not None:
            self._client_task.cancel()
            await asyncio.gather(self._client_task, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
