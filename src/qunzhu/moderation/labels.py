"""The names people read for moderation's checks, in the console and in the notes admins are
sent (a group's admin chat, a WeCom group's owner): one list, so a check is called the same
everywhere, in Chinese first."""

from __future__ import annotations

from qunzhu import i18n
from qunzhu.i18n import tr

_ZH = {
    "Contacts and ad words": "联系方式与广告词",
    "Domain on the deny list": "禁止的域名",
    "QR code": "二维码",
    "Newcomer lock": "新成员限制",
    "Content model": "内容模型",
    "Known spam": "已知广告",
    "Contact from a confirmed ad": "已确认广告中的联系方式",
    "Short-message probing": "短消息试探",
    "Flood": "刷屏",
    "Repeated text": "重复发言",
    "Same text in several groups": "多群同文",
    "Earlier copy of an ad campaign": "同一广告此前发出的副本",
    "Ad in the display name": "昵称广告",
    "Ad in the profile bio": "个人简介广告",
    "Ad in the join request": "入群申请广告",
    "Many members mentioned": "大量@成员",
    "Insults or obscenities": "辱骂或脏话",
    "Same picture in several groups": "多群同图",
    "Newcomer with a contact": "新成员发联系方式",
    "First message after joining": "入群后第一条消息",
    "Trusted": "受信任",
    "Community blocklist": "社群黑名单",
    "Listed by CAS (cas.chat), powered by CAS": "CAS（cas.chat）列出的垃圾账号，Powered by CAS",
    "Reported by members": "成员举报",
    "Language model's reading": "大模型复核",
    "Looks like an ad or abuse": "疑似广告或违规",
    "Needs a look": "需要人工判断",
    "{looks} ({checks}): {text}": "{looks}（{checks}）：{text}",
}
i18n.register(_ZH)


def check_names() -> dict[str, str]:
    """What each check of a decision is called where people read it: the console, and the
    notes the admins are sent."""
    return {
        "contacts_and_words": tr("Contacts and ad words"),
        "domains": tr("Domain on the deny list"),
        "qr_code": tr("QR code"),
        "type_lock": tr("Newcomer lock"),
        "content_model": tr("Content model"),
        "spam_bank": tr("Known spam"),
        "known_contact": tr("Contact from a confirmed ad"),
        "short_probing": tr("Short-message probing"),
        "flood": tr("Flood"),
        "repeat": tr("Repeated text"),
        "cross_group": tr("Same text in several groups"),
        "earlier_copy": tr("Earlier copy of an ad campaign"),
        "display_name": tr("Ad in the display name"),
        "bio": tr("Ad in the profile bio"),
        "join_request": tr("Ad in the join request"),
        "mentions": tr("Many members mentioned"),
        "abuse": tr("Insults or obscenities"),
        "same_picture": tr("Same picture in several groups"),
        "newcomer_with_contact": tr("Newcomer with a contact"),
        "first_message_after_join": tr("First message after joining"),
        "trust": tr("Trusted"),
        "blocklist": tr("Community blocklist"),
        "cas": tr("Listed by CAS (cas.chat), powered by CAS"),
        "reports": tr("Reported by members"),
        "language_model": tr("Language model's reading"),
    }
