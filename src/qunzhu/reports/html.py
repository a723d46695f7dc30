"""The report as one HTML file: opens offline, forwards as a single attachment, reads on a phone.

Why it is built the way it is:
- plotly.js is inlined from the installed `plotly` package, once per page, never fetched from a
  CDN: group owners open reports on trains and forward them by mail, and a page that needs the
  network shows empty boxes there. A Content-Security-Policy forbids every network load, so a
  stray URL cannot leak that the report was opened;
- group and member names come from chats and are hostile input: the page is rendered by Jinja2
  with autoescape, no user text goes into a chart (plotly renders labels as pseudo-HTML), and
  chart data sits in a JSON block whose `<`, `>` and `&` are escaped so nothing can close it;
- every label goes through `tr`, so the page is Chinese unless QUNZHU_LANG=en; numbers are
  formatted here, not in the template, so the template stays free of logic.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from qunzhu import i18n
from qunzhu.i18n import tr

if TYPE_CHECKING:
    from jinja2 import Environment

_ZH = {
    # page
    "qunzhu community report": "群主 · 社群报告",
    "Generated {at} ({tz})": "生成于 {at}（{tz}）",
    "Window: {since} – {until}": "统计区间：{since} – {until}",
    "whole history": "全部历史",
    "start": "开始",
    "now": "至今",
    "Contents": "目录",
    "Number of groups": "群数",
    "each person once": "每人只计一次",
    "weighted by members": "按成员数加权",
    "groups at this stage": "处于此阶段的群",
    "No groups in this report.": "本报告中没有群。",
    # group header
    "Kind": "类型",
    "Stage": "阶段",
    "Window of this group: {since} – {until}": "本群统计区间：{since} – {until}",
    # the same Chinese as analytics.diagnosis, under English words a reader understands
    "long-term": "长期群",
    "founding": "建群期",
    "early": "运营初期",
    "mid-to-late": "运营中后期",
    "over capacity": "超出容量",
    "declining": "衰退",
    "WeChat": "微信",
    "WeCom": "企业微信",
    # advice
    "What to do now": "现在该做什么",
    "Nothing needs attention now.": "目前没有需要处理的事项。",
    "Why: {reason}": "原因：{reason}",
    "Rule: {rule}": "依据：{rule}",
    # health
    "Health score": "健康度",
    "out of 100": "满分 100",
    "Metric": "指标",
    "Value": "数值",
    "Score (0–5)": "得分（0–5）",
    "monthly active share": "月活跃占比",
    "weekly retention": "周留存率",
    "stickiness": "黏性（日活/月活）",
    "absence factor share": "缺席因子占比",
    "median response time": "回复时间中位数",
    "monthly growth": "月增长率",
    "member-to-member share": "成员互动占比",
    # key figures
    "Key figures": "关键数字",
    "Members": "成员数",
    "Messages": "消息数",
    "Active members": "活跃成员",
    "Joins": "加入",
    "Leaves": "退出",
    "Kicks": "被移出",
    "Net growth": "净增长",
    "Messages per day": "日均消息",
    "DAU": "日活（DAU）",
    "WAU": "周活（WAU）",
    "MAU": "月活（MAU）",
    "Stickiness (DAU/MAU)": "黏性（DAU/MAU）",
    "Lurker ratio": "潜水率",
    "unknown: no roster": "未知：没有成员名单",
    "members are only known from who spoke": "成员只能从发言者得知",
    # charts
    "Daily activity": "每日活跃",
    "When the group talks": "群在什么时候聊天",
    "Weekly cohort retention": "按周新人留存",
    "Member levels": "成员分层",
    "Hour": "小时",
    "Weekday": "星期",
    "Joined in week (members)": "加入周（人数）",
    "Weeks after joining": "加入后第几周",
    "week {n}": "第 {n} 周",
    "Members (active)": "活跃成员",
    "Joins / leaves": "加入 / 退出",
    "Share still active": "仍活跃比例",
    "Mon": "周一",
    "Tue": "周二",
    "Wed": "周三",
    "Thu": "周四",
    "Fri": "周五",
    "Sat": "周六",
    "Sun": "周日",
    "silent": "沉默",
    "quiet": "偶尔发言",
    "engaged": "参与",
    "fan": "粉丝",
    "ultra": "核心",
    "No data in this window.": "此区间内没有数据。",
    # members
    "Top members": "最活跃成员",
    "KOL candidates": "KOL 候选人",
    "Member": "成员",
    "Level": "层级",
    "Score": "得分",
    "Influence": "影响力",
    "Reach": "覆盖",
    "Replies received": "被回复",
    "Mentions received": "被@",
    "Nobody yet.": "暂无。",
    # conversation figures
    "Conversations and answers": "对话与回复",
    "Conversations": "对话数",
    "Conversations per day": "日均对话",
    "Questions": "提问",
    "Answered": "已回答",
    "Answer rate": "回答率",
    "Median time to answer": "回复时间中位数",
    "90% answered within": "90% 的提问在此时间内得到回复",
    "no answered questions": "没有已回答的提问",
    "{n} min": "{n} 分钟",
    "{n} h": "{n} 小时",
    "Who holds the group together": "谁在撑起这个群",
    "Absence factor": "缺席因子",
    "members whose absence would halve the talk": "缺席后会让聊天量减半的成员数",
    "Gini of messages": "消息基尼系数",
    "Top 10 share of messages": "前 10 名消息占比",
    "Broadcast share": "广播消息占比",
    "Member-to-member share": "成员互动占比",
    "Graph density": "互动网络密度",
    "Newcomers and churn": "新人与流失",
    "Joined": "新加入",
    "Never spoke": "从未发言",
    "Not welcomed": "未被欢迎",
    "No introduction": "未自我介绍",
    "Churned": "已流失",
    "Slipping away": "正在流失",
    ": ": "：",
    ", ": "、",
}
i18n.register(_ZH)

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LEVELS = ("silent", "quiet", "engaged", "fan", "ultra")
_FONT = (
    'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", '
    '"Microsoft YaHei", "Noto Sans CJK SC", "Noto Sans SC", sans-serif'
)


def render_html(report: dict[str, Any]) -> str:
    """The whole report as one page; the caller only writes it to a file or attaches it."""
    charts: list[dict[str, Any]] = []
    groups = [group_view(group, i, charts) for i, group in enumerate(report.get("groups") or [])]
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            html_lang="zh-CN" if i18n.lang() == "zh" else "en",
            font=Markup(_FONT),  # a constant; escaping would turn its quotes into &#34; in CSS
            t=page_labels(),
            title=tr("qunzhu community report"),
            generated=tr(
                "Generated {at} ({tz})",
                at=report.get("generated_at") or "",
                tz=report.get("tz") or "",
            ),
            window=_window(report.get("since"), report.get("until")),
            groups=groups,
            community=_community_figures(report.get("community"), len(groups)),
            plotly_js=Markup(plotly_js()),
            charts_json=Markup(script_json(charts)),
        )
    )


def script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no `</script>` or `<!--` can be spelled."""
    text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@lru_cache(maxsize=1)
def _env() -> Environment:
    """jinja2 is imported on the first report, not with the CLI."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("qunzhu.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The bundle of the installed plotly, read once per process (it is about 4.8 MB)."""
    from plotly.offline import get_plotlyjs

    # The bundle never spells it today; if a release ever does, the page must not break.
    return get_plotlyjs().replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON; plotly reads null as a gap, which is what they mean."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# -- formatting: one place decides how a number looks, so the page reads consistently ---------

DASH = "—"


def _int(value: Any) -> str:
    if not _is_num(value):
        return DASH
    return f"{round(value):,}"


def _signed(value: Any) -> str:
    if not _is_num(value):
        return DASH
    return f"{round(value):+,}"


def _num(value: Any, digits: int = 1) -> str:
    if not _is_num(value):
        return DASH
    if float(value).is_integer() and abs(value) >= 100:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


def _pct(value: Any) -> str:
    if not _is_num(value):
        return DASH
    digits = 1 if 0 < abs(value) < 0.1 else 0
    return f"{value * 100:.{digits}f}%"


def _signed_pct(value: Any) -> str:
    text = _pct(value)
    return "+" + text if _is_num(value) and value > 0 else text


def _auto(value: Any) -> str:
    """Health metrics come in mixed units; show ints as counts and small floats with 2 places."""
    if isinstance(value, bool) or not _is_num(value):
        return DASH if value is None else str(value)
    if isinstance(value, int):
        return _int(value)
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def _minutes(value: Any) -> str:
    if not _is_num(value):
        return DASH
    if value >= 90:
        return tr("{n} h", n=f"{value / 60:.1f}")
    return tr("{n} min", n=f"{value:.1f}".removesuffix(".0"))


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _window(since: str | None, until: str | None) -> str:
    if not since and not until:
        return tr("whole history")
    return tr("Window: {since} – {until}", since=since or tr("start"), until=until or tr("now"))


# -- translations of the codes the analytics use --------------------------------------------


def kind_names() -> dict[str, str]:
    return {"long_term": tr("long-term"), "temporary": tr("temporary")}


def stage_names() -> dict[str, str]:
    return {
        "founding": tr("founding"),
        "early": tr("early"),
        "mid_late": tr("mid-to-late"),
        "over_capacity": tr("over capacity"),
        "declining": tr("declining"),
    }


def platform_names() -> dict[str, str]:
    # Brand names stay as they are, except the two that have Chinese names of their own.
    return {
        "telegram": "Telegram",
        "wechat": tr("WeChat"),
        "wecom": tr("WeCom"),
        "qq": "QQ",
        "discord": "Discord",
        "whatsapp": "WhatsApp",
        "console": tr("console"),
    }


def _level_names() -> dict[str, str]:
    return {
        "silent": tr("silent"),
        "quiet": tr("quiet"),
        "engaged": tr("engaged"),
        "fan": tr("fan"),
        "ultra": tr("ultra"),
    }


def _health_row(row: dict[str, Any]) -> dict[str, Any]:
    """A health input (analytics.diagnosis.HEALTH_CUTS) in its own unit.

    A metric this page does not know yet shows its code and a plain number rather than break.
    """
    metric, value, score = str(row.get("metric", "")), row.get("value"), row.get("score")
    known = {
        "monthly_active_share": (tr("monthly active share"), _pct),
        "weekly_retention": (tr("weekly retention"), _pct),
        "stickiness": (tr("stickiness"), _pct),
        "absence_factor_share": (tr("absence factor share"), _pct),
        "response_median_min": (tr("median response time"), _minutes),
        "monthly_growth": (tr("monthly growth"), _signed_pct),
        "member_to_member_share": (tr("member-to-member share"), _pct),
    }
    name, fmt = known.get(metric, (metric, _auto))
    return {
        "metric": name,
        "value": fmt(value),
        "score": score if _is_num(score) else None,
        "score_text": _int(score),
    }


def _weekday_names() -> list[str]:
    return [tr("Mon"), tr("Tue"), tr("Wed"), tr("Thu"), tr("Fri"), tr("Sat"), tr("Sun")]


def page_labels() -> dict[str, str]:
    return {
        "contents": tr("Contents"),
        "community": tr("All groups in this report"),
        "no_groups": tr("No groups in this report."),
        "kind": tr("Kind"),
        "stage": tr("Stage"),
        "advice": tr("What to do now"),
        "no_advice": tr("Nothing needs attention now."),
        "health": tr("Health score"),
        "out_of": tr("out of 100"),
        "metric": tr("Metric"),
        "value": tr("Value"),
        "score05": tr("Score (0–5)"),
        "key_figures": tr("Key figures"),
        "daily": tr("Daily activity"),
        "hours": tr("When the group talks"),
        "cohorts": tr("Weekly cohort retention"),
        "levels": tr("Member levels"),
        "no_data": tr("No data in this window."),
        "top_members": tr("Top members"),
        "kols": tr("KOL candidates"),
        "member": tr("Member"),
        "messages": tr("Messages"),
        "level": tr("Level"),
        "score": tr("Score"),
        "influence": tr("Influence"),
        "reach": tr("Reach"),
        "replies": tr("Replies received"),
        "mentions": tr("Mentions received"),
        "nobody": tr("Nobody yet."),
        "conversations": tr("Conversations and answers"),
        "concentration": tr("Who holds the group together"),
        "newcomers": tr("Newcomers and churn"),
        "slipping": tr("Slipping away"),
        "colon": tr(": "),
        "list_sep": tr(", "),
    }


# -- one group ------------------------------------------------------------------------------


def group_view(group: dict[str, Any], index: int, charts: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the template shows for a group, already formatted; charts go to `charts`."""
    anchor = f"g{index}"
    kind = group.get("kind") or ""
    stage = group.get("stage") or ""
    chart_ids: dict[str, str | None] = {}
    for name, spec in _group_charts(group).items():
        if spec is None:
            chart_ids[name] = None
        else:
            chart_ids[name] = f"{anchor}-{name}"
            layout = {**spec["layout"], "height": spec["height"]}
            charts.append({"id": chart_ids[name], "data": spec["data"], "layout": layout})
    health = group.get("health")
    return {
        "anchor": anchor,
        "name": group.get("name") or f"#{group.get('id', index + 1)}",
        "platform": platform_names().get(group.get("platform") or "", group.get("platform")),
        "kind": kind_names().get(kind, kind),
        "kind_reason": group.get("kind_reason") or "",
        "stage": stage_names().get(stage, stage),
        "stage_class": f"stage-{stage}" if stage in stage_names() else "",
        "stage_reason": group.get("stage_reason") or "",
        "window": tr(
            "Window of this group: {since} – {until}",
            since=group.get("since") or tr("start"),
            until=group.get("until") or tr("now"),
        ),
        "health": _int(health),
        "health_class": _health_class(health),
        "health_detail": [_health_row(row) for row in group.get("health_detail") or []],
        "advice": [
            {
                "code": str(item.get("code", "")),
                "text": item.get("text") or "",
                "reason": tr("Why: {reason}", reason=item["reason"]) if item.get("reason") else "",
                "rule": tr("Rule: {rule}", rule=item["rule"]) if item.get("rule") else "",
            }
            for item in group.get("advice") or []
        ],
        "figures": _key_figures(group),
        "charts": chart_ids,
        "top_members": _members(group.get("top_members")),
        "kols": _members(group.get("kol_candidates")),
        "conversation_figures": _conversation_figures(group),
        "concentration_figures": _concentration_figures(group),
        "newcomer_figures": _newcomer_figures(group),
        "slipping": [_member_name(m) for m in group.get("slipping") or []],
    }


def _health_class(health: Any) -> str:
    if not _is_num(health):
        return "health-unknown"
    return "health-good" if health >= 70 else "health-fair" if health >= 40 else "health-poor"


def _key_figures(group: dict[str, Any]) -> list[dict[str, Any]]:
    lurkers = group.get("lurker_ratio")
    if lurkers is None or group.get("roster") == "speakers":
        lurker_text, lurker_note = (
            tr("unknown: no roster"),
            tr("members are only known from who spoke"),
        )
    else:
        lurker_text, lurker_note = _pct(lurkers), ""
    figures = [
        (tr("Members"), _int(group.get("members")), ""),
        (tr("Messages"), _int(group.get("messages")), ""),
        (tr("Active members"), _int(group.get("active_members")), ""),
        (tr("Messages per day"), _num(group.get("messages_per_day")), ""),
        (tr("Joins"), _int(group.get("joins")), ""),
        (tr("Leaves"), _int(group.get("leaves")), ""),
        (tr("Kicks"), _int(group.get("kicks")), ""),
        (tr("Net growth"), _signed(group.get("net_growth")), ""),
        (tr("DAU"), _num(group.get("dau")), ""),
        (tr("WAU"), _num(group.get("wau")), ""),
        (tr("MAU"), _num(group.get("mau")), ""),
        (tr("Stickiness (DAU/MAU)"), _pct(group.get("stickiness")), ""),
        (tr("Lurker ratio"), lurker_text, lurker_note),
    ]
    return _figures(*figures)


def _community_figures(summary: dict[str, Any] | None, groups: int) -> list[dict[str, Any]]:
    """All groups of the report at once; shown only when there is more than one."""
    if not summary or groups < 2:
        return []
    stages = stage_names()
    return _figures(
        (tr("Number of groups"), _int(summary.get("groups")), ""),
        (tr("Members"), _int(summary.get("members")), ""),
        (tr("Messages"), _int(summary.get("messages")), ""),
        (tr("Active members"), _int(summary.get("active_members")), tr("each person once")),
        (tr("Messages per day"), _num(summary.get("messages_per_day")), ""),
        (tr("Net growth"), _signed(summary.get("net_growth")), ""),
        (tr("Health score"), _int(summary.get("health")), tr("weighted by members")),
        *(
            (stages.get(stage, stage), _int(n), tr("groups at this stage"))
            for stage, n in (summary.get("stages") or {}).items()
        ),
    )


def _conversation_figures(group: dict[str, Any]) -> list[dict[str, Any]]:
    conv = group.get("conversations") or {}
    resp = group.get("response_time") or {}
    questions, answered = resp.get("questions"), resp.get("answered")
    rate = answered / questions if _is_num(questions) and questions and _is_num(answered) else None
    no_answer = tr("no answered questions")
    return _figures(
        (tr("Conversations"), _int(conv.get("count")), ""),
        (tr("Conversations per day"), _num(conv.get("per_day")), ""),
        (tr("Questions"), _int(questions), ""),
        (tr("Answered"), _int(answered), ""),
        (tr("Answer rate"), _pct(rate), ""),
        (
            tr("Median time to answer"),
            _minutes(resp.get("median_min")),
            "" if _is_num(resp.get("median_min")) else no_answer,
        ),
        (
            tr("90% answered within"),
            _minutes(resp.get("p90_min")),
            "" if _is_num(resp.get("p90_min")) else no_answer,
        ),
    )


def _concentration_figures(group: dict[str, Any]) -> list[dict[str, Any]]:
    conc = group.get("concentration") or {}
    return _figures(
        (
            tr("Absence factor"),
            _int(conc.get("absence_factor")),
            tr("members whose absence would halve the talk"),
        ),
        (tr("Gini of messages"), _auto(conc.get("gini")), ""),
        (tr("Top 10 share of messages"), _pct(conc.get("top10_share")), ""),
        (tr("Broadcast share"), _pct(group.get("broadcast_share")), ""),
        (tr("Member-to-member share"), _pct(group.get("member_to_member_share")), ""),
        (tr("Graph density"), _auto(group.get("graph_density")), ""),
    )


def _newcomer_figures(group: dict[str, Any]) -> list[dict[str, Any]]:
    new = group.get("newcomers") or {}
    return _figures(
        (tr("Joined"), _int(new.get("joined")), ""),
        (tr("Never spoke"), _int(new.get("never_spoke")), ""),
        (tr("Not welcomed"), _int(new.get("not_welcomed")), ""),
        (tr("No introduction"), _int(new.get("no_introduction")), ""),
        (tr("Churned"), _int(group.get("churned")), ""),
    )


def _figures(*rows: tuple[str, str, str]) -> list[dict[str, Any]]:
    # Words in place of a number ("unknown: no roster") get a smaller type so the card keeps
    # its size; Chinese characters are twice as wide as digits.
    return [
        {
            "label": label,
            "value": value,
            "note": note,
            "long": sum(2 if ord(ch) > 0x2E80 else 1 for ch in value) > 12,
        }
        for label, value, note in rows
    ]


def _member_name(member: dict[str, Any]) -> str:
    return str(member.get("name") or f"#{member.get('member_id', '?')}")


def _members(members: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    levels = _level_names()
    return [
        {
            "name": _member_name(m),
            "messages": _int(m.get("messages")),
            "level": levels.get(m.get("level") or "", m.get("level") or DASH),
            "score": _num(m.get("score")),
            "influence": _pct(m.get("influence")),
            "reach": _num(m.get("reach"), 0),
            "replies": _int(m.get("replies_received")),
            "mentions": _int(m.get("mentions_received")),
        }
        for m in members or []
    ]


# -- charts: plain plotly specs, no user text in them (plotly renders labels as pseudo-HTML) --


def _layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "font": {"family": _FONT, "size": 12, "color": "#1f2933"},
        "margin": {"l": 56, "r": 56, "t": 16, "b": 48},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.18},
    }
    layout.update(extra)
    return layout


def _group_charts(group: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    return {
        "daily": _daily_chart(group.get("daily") or []),
        "hours": _hours_chart(group.get("hours") or []),
        "cohorts": _cohort_chart(((group.get("retention") or {}).get("cohorts")) or []),
        "levels": _levels_chart(group.get("levels") or {}),
    }


def _daily_chart(daily: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not daily:
        return None
    dates = [day.get("date") for day in daily]
    leaves = [-(day.get("leaves") or 0) for day in daily]
    data = [
        {
            "type": "bar",
            "name": tr("Messages"),
            "x": dates,
            "y": [day.get("messages") for day in daily],
            "marker": {"color": "#9ec5fe"},
            "hovertemplate": "%{x}<br>%{y:,}<extra>" + tr("Messages") + "</extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": tr("Members (active)"),
            "x": dates,
            "y": [day.get("active_members") for day in daily],
            "yaxis": "y2",
            "line": {"color": "#d9480f", "width": 2},
            "hovertemplate": "%{x}<br>%{y:,}<extra>" + tr("Active members") + "</extra>",
        },
        {
            "type": "bar",
            "name": tr("Joins"),
            "x": dates,
            "y": [day.get("joins") or 0 for day in daily],
            "yaxis": "y3",
            "marker": {"color": "#2f9e44"},
            "hovertemplate": "%{x}<br>%{y:,}<extra>" + tr("Joins") + "</extra>",
        },
        {
            "type": "bar",
            "name": tr("Leaves"),
            "x": dates,
            "y": leaves,
            "customdata": [-v for v in leaves],
            "yaxis": "y3",
            "marker": {"color": "#e03131"},
            "hovertemplate": "%{x}<br>%{customdata:,}<extra>" + tr("Leaves") + "</extra>",
        },
    ]
    layout = _layout(
        barmode="relative",
        # Month names would stay English on a Chinese page; numeric dates read the same in both.
        xaxis={"type": "date", "anchor": "y3", "tickformat": "%m-%d", "hoverformat": "%Y-%m-%d"},
        yaxis={"domain": [0.34, 1], "title": {"text": tr("Messages")}, "rangemode": "tozero"},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "title": {"text": tr("Active members")},
            "rangemode": "tozero",
            "showgrid": False,
            "tickformat": ",.0f",
        },
        yaxis3={"domain": [0, 0.24], "title": {"text": tr("Joins / leaves")}, "zeroline": True},
        hovermode="x unified",
    )
    return {"data": data, "layout": layout, "height": 420}


def _hours_chart(hours: list[list[Any]]) -> dict[str, Any] | None:
    rows = [[v or 0 for v in (list(row) + [0] * 24)[:24]] for row in hours[:7]]
    if not any(any(row) for row in rows):
        return None
    rows += [[0] * 24 for _ in range(7 - len(rows))]
    data = [
        {
            "type": "heatmap",
            "z": rows,
            "x": list(range(24)),
            "y": _weekday_names(),
            "colorscale": [[0, "#f4f8fd"], [0.5, "#6baed6"], [1, "#08306b"]],
            "xgap": 1,
            "ygap": 1,
            "hovertemplate": "%{y} %{x}:00<br>%{z:,}<extra>" + tr("Messages") + "</extra>",
            "colorbar": {"thickness": 10},
        }
    ]
    layout = _layout(
        xaxis={"title": {"text": tr("Hour")}, "dtick": 3, "tickangle": 0},
        yaxis={"autorange": "reversed"},
        margin={"l": 56, "r": 16, "t": 16, "b": 48},
    )
    return {"data": data, "layout": layout, "height": 300}


def _cohort_chart(cohorts: list[dict[str, Any]]) -> dict[str, Any] | None:
    cohorts = [c for c in cohorts if c.get("active")]
    if not cohorts:
        return None
    width = max(len(c["active"]) for c in cohorts)
    z = [list(c["active"]) + [None] * (width - len(c["active"])) for c in cohorts]
    labels = [f"{c.get('week', '')} ({_int(c.get('size'))})" for c in cohorts]
    text = [["" if v is None else _pct(v) for v in row] for row in z]
    data = [
        {
            "type": "heatmap",
            "z": z,
            "x": [str(n) for n in range(width)],
            "customdata": [[tr("week {n}", n=n) for n in range(width)] for _ in z],
            "y": labels,
            "text": text,
            "texttemplate": "%{text}",
            "zmin": 0,
            "zmax": 1,
            "colorscale": [[0, "#f1faf2"], [0.5, "#74c476"], [1, "#00441b"]],
            "xgap": 1,
            "ygap": 1,
            "hovertemplate": tr("Joined in week (members)")
            + ": %{y}<br>%{customdata}: %{text}<extra></extra>",
            "colorbar": {"thickness": 10, "tickformat": ".0%"},
        }
    ]
    layout = _layout(
        xaxis={"title": {"text": tr("Weeks after joining")}, "side": "top", "dtick": 1},
        yaxis={"autorange": "reversed", "type": "category", "automargin": True},
        margin={"l": 16, "r": 16, "t": 48, "b": 16},
    )
    return {"data": data, "layout": layout, "height": max(220, 60 + 28 * len(cohorts))}


def _levels_chart(levels: dict[str, Any]) -> dict[str, Any] | None:
    order = [name for name in _LEVELS if name in levels] + [n for n in levels if n not in _LEVELS]
    if not any(_is_num(levels[n]) and levels[n] for n in order):
        return None
    names = _level_names()
    data = [
        {
            "type": "bar",
            "x": [names.get(n, n) for n in order],
            "y": [levels[n] or 0 for n in order],
            "marker": {"color": ["#ced4da", "#a5d8ff", "#4dabf7", "#1c7ed6", "#0b3d91"]},
            "text": [_int(levels[n]) for n in order],
            "textposition": "auto",
            "hovertemplate": "%{x}: %{y:,}<extra></extra>",
        }
    ]
    layout = _layout(
        yaxis={"title": {"text": tr("Members")}, "rangemode": "tozero"},
        margin={"l": 56, "r": 16, "t": 16, "b": 40},
        showlegend=False,
    )
    return {"data": data, "layout": layout, "height": 300}
