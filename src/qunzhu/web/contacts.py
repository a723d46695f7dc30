"""The known ad contacts in the console: the WeChat ids, QQ and phone numbers, Telegram handles
and links of the ads people confirmed (and the channels they were forwarded from), per
community, each with the answer that taught it.

A known contact is spam wherever it comes again (a message, a poster) and a question in a
display name, so a mistaken answer costs more than a mistaken word: the list shows what the
engine holds, worked out as it works it out (the answers in order, a "not spam" taking back
the contacts its message gave), and each entry's answer can be withdrawn from here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import Connection

from qunzhu import i18n
from qunzhu.moderation.feedback import HumanLabel, bank_of, labels_since
from qunzhu.store.accounts import User, visible_groups
from qunzhu.web import auth
from qunzhu.web.app import render
from qunzhu.web.moderation import contact_names, tab_counts

router = APIRouter()

i18n.register(
    {
        "Known contacts": "已知广告联系方式",
        "Contacts from the ads people confirmed": "已确认广告中的联系方式",
        "A WeChat id, QQ or phone number, Telegram handle or page link given by an ad people "
        "confirmed, or the Telegram channel it was forwarded from, is spam wherever it comes "
        "again in the community (a message, a poster, a forward from that channel; an id of 6 "
        "characters or a number of 8 digits or more written bare too), and a display name "
        "giving it is put to the admins. Not a link to a whole site, nor a 400 or 800 "
        "hotline. Withdrawing the "
        "answer that taught one takes it back; so does answering Not spam on a message giving "
        "it.": (
            "已确认广告里的微信号、QQ 号、手机号、Telegram 账号或网页链接，以及它转发自的 "
            "Telegram 频道，之后在本社群再出现（消息、图片、从该频道转发的内容；"
            "6 位以上的账号、8 位以上的号码不带标记也算）"
            "都判为广告，昵称里带它的成员交给管理员确认。整站地址和 400/800 热线不计入。"
            "撤回教会它的那条判断即可撤销；对含有它的消息回答“不是广告”也会撤销。"
        ),
        "No contact is known yet.": "还没有已知的广告联系方式。",
        "Contact": "联系方式",
        "From the ad": "来自广告",
        "Groups in no community": "未归入社群的群",
    }
)


class KnownContact(BaseModel):
    community: str | None  # None: the groups in no community, which share one bank
    kind: str  # wechat | qq | phone | telegram | url
    value: str
    ad: str  # the confirmed ad it was in (normalised, at most 80 characters)
    decision_id: int | None  # the decision whose answer taught it


def known(conn: Connection, user: User) -> list[KnownContact]:
    """What the running engine's banks hold for the user's groups, rebuilt from the answers
    (spam and not spam, oldest first) as `service.BankFeed` builds them."""
    per_community: dict[str | None, list[HumanLabel]] = {}
    for v in labels_since(conn, None, visible_groups(conn, user)):
        per_community.setdefault(v.community, []).append(v)
    banks = {community: bank_of(labels) for community, labels in per_community.items()}
    found = [
        KnownContact(
            community=community, kind=c.kind, value=c.value, ad=ad, decision_id=decision_id
        )
        for community, bank in banks.items()
        for c, ad, decision_id in bank.contacts()
    ]
    return sorted(found, key=lambda k: -(k.decision_id or 0))  # the newest answers first


@router.get("/moderation/contacts", response_class=HTMLResponse, include_in_schema=False)
def contacts_page(request: Request, user: auth.PageUser) -> HTMLResponse:
    with auth.engine_of(request).connect() as conn:
        found = known(conn, user)
    kinds = contact_names()
    rows: list[dict[str, Any]] = [
        {**k.model_dump(), "kind_name": kinds.get(k.kind, k.kind)} for k in found
    ]
    context = {"rows": rows, "waiting": tab_counts(request, user)}
    return render(request, "moderation_contacts.html", context, user)


@router.get(
    "/api/moderation/contacts",
    response_model=list[KnownContact],
    tags=["api"],
    responses=auth.API_RESPONSES,
)
def contacts_api(request: Request, user: auth.ApiUser) -> list[KnownContact]:
    """The contacts of the ads people confirmed in the user's groups, per community: spam
    wherever they come again (withdraw the answer, `POST /api/decisions/{id}/withdraw`, to
    take one back)."""
    with auth.engine_of(request).connect() as conn:
        return known(conn, user)
