"""A stand-in for WeCom: archive lines as the puller writes them, the API's answers, and
callbacks signed and encrypted as WeCom's are."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qunzhu.connectors.wecom import WeComConnector

ROOM = "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAAA"
AT_MS = 1767225600000
AT_S = AT_MS // 1000
MEMBERS = [  # groupchat/get's member_list, with need_name
    {"userid": "wmCustomer", "type": 2, "join_time": AT_S - 600, "join_scene": 3,
     "name": "兼职日结加V", "group_nickname": ""},
    {"userid": "wmOld", "type": 2, "join_time": AT_S - 30 * 86400, "join_scene": 1,
     "invitor": {"userid": "zhangsan"}, "name": "老王", "group_nickname": "上海-跑步-老王"},
    {"userid": "lisi", "type": 1, "join_time": AT_S - 90 * 86400, "join_scene": 1, "name": "李四"},
]  # fmt: skip


def line(msgid: str, sender: str, msgtype: str = "text", room: str = ROOM, **payload: Any) -> bytes:
    obj: dict[str, Any] = {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": ["zhangsan"],
        "roomid": room,
        "msgtime": AT_MS,
        "msgtype": msgtype,
    }
    obj[msgtype] = payload or {"content": f"消息{msgid}"}
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"


class FakeWeCom:
    """The API calls the connector makes, answered as WeCom does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.tokens = 0
        self.send_errors: list[int] = []
        self.members = list(MEMBERS)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        self.calls.append((path, body))
        if path == "/cgi-bin/gettoken":
            assert request.url.params["corpid"] == "ww1234"
            self.tokens += 1
            return httpx.Response(
                200, json={"errcode": 0, "access_token": f"t{self.tokens}", "expires_in": 7200}
            )
        if path == "/cgi-bin/externalcontact/groupchat/get":
            if body["chat_id"] != ROOM:
                return httpx.Response(200, json={"errcode": 40050, "errmsg": "chatid not exist"})
            assert body["need_name"] == 1
            chat = {
                "chat_id": ROOM,
                "name": "跑团客户群",
                "owner": "lisi",
                "member_list": self.members,
            }
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "group_chat": chat})
        if path == "/cgi-bin/message/send":
            if self.send_errors:
                code = self.send_errors.pop(0)
                return httpx.Response(200, json={"errcode": code, "errmsg": "no"})
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
        return httpx.Response(404, text="<html>not found</html>")


AES_KEY = bytes(range(32))
ENCODING_AES_KEY = base64.b64encode(AES_KEY).decode().rstrip("=")  # 43 characters
TOKEN = "callback-token"


def encrypt(message: bytes, corp: str = "ww1234") -> str:
    """What WeCom sends: random, length, message, corp id, padded to 32 bytes, AES-CBC."""
    plain = os.urandom(16) + len(message).to_bytes(4, "big") + message + corp.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(AES_KEY), modes.CBC(AES_KEY[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def signed(encrypted: str, **extra: str) -> dict[str, str]:
    stamp, nonce = "1767225600", "n0nce"
    parts = "".join(sorted((TOKEN, stamp, nonce, encrypted)))
    digest = hashlib.sha1(parts.encode()).hexdigest()
    return {"msg_signature": digest, "timestamp": stamp, "nonce": nonce, **extra}


def change(detail: str, *members: str, quit_scene: int = 0) -> bytes:
    listed = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members)
    inner = (
        "<xml><ToUserName><![CDATA[ww1234]]></ToUserName><FromUserName><![CDATA[sys]]>"
        "</FromUserName><CreateTime>1767225700</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{ROOM}]]></ChatId><ChangeType><![CDATA[update]]></ChangeType>"
        f"<UpdateDetail><![CDATA[{detail}]]></UpdateDetail><JoinScene>3</JoinScene>"
        f"<QuitScene>{quit_scene}</QuitScene><MemChangeCnt>{len(members)}</MemChangeCnt>"
        + (f"<MemChangeList>{listed}</MemChangeList>" if members else "")
        + "</xml>"
    )
    return inner.encode()


def post(encrypted: str) -> bytes:
    return f"<xml><ToUserName>ww1234</ToUserName><Encrypt>{encrypted}</Encrypt></xml>".encode()


def app(fake: FakeWeCom, path: Path, **kw: Any) -> WeComConnector:
    """A connector following `path` with the corp's app, its API answered by `fake`."""
    return WeComConnector(
        "wecom",
        path,
        corp_id="ww1234",
        agent_id=1000002,
        secret="app-secret",
        transport=httpx.MockTransport(fake),
        **kw,
    )
