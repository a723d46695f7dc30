"""The report for a terminal: what an operator reads first (advice), then the figures behind it."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from qunzhu import i18n
from qunzhu.i18n import tr

i18n.register(
    {
        "{since} to {until}": "{since} 至 {until}",
        "health": "健康度",
        "kind": "类型",
        "stage": "阶段",
        "What to do next": "下一步建议",
        "No advice: nothing the playbook flags.": "暂无建议：没有触发运营手册中的规则。",
        "Figures": "数据",
        "members now": "当前成员",
        "messages": "消息",
        "active members": "活跃成员",
        "joins / leaves / kicks": "入群 / 退群 / 被移出",
        "net growth": "净增长",
        "messages per day": "日均消息",
        "DAU / WAU / MAU": "日活 / 周活 / 月活",
        "stickiness": "黏性（日活/月活）",
        "lurker ratio": "潜水率",
        "unknown: no join events, only speakers are known": "未知：无入群记录，只知道发言者",
        "newcomers: joined / never spoke / not welcomed / no introduction": (
            "新成员：入群 / 从未发言 / 未被欢迎 / 未自我介绍"
        ),
        "conversations (per day)": "对话数（每天）",
        "questions answered; median / P90 wait": "已回答问题；等待时间中位数 / P90",
        "half the messages come from": "一半消息来自",
        "{n} members": "{n} 人",
        "Gini": "基尼系数",
        "owner and admins' share / member-to-member share": "群主和管理员占比 / 成员互动占比",
        "churned / slipping": "已流失 / 流失中",
        "levels": "活跃层级",
        "Top members": "最活跃成员",
        "KOL candidates": "KOL 候选人",
        "member": "成员",
        "active members (distinct)": "活跃成员（去重）",
        "advice (groups)": "建议（涉及群数）",
        "All groups in this report": "本报告中的全部群",
        "level": "层级",
        "influence": "影响力",
        "replies received": "被回复",
        "mentions received": "被@",
        "silent": "沉默",
        "quiet": "偶尔发言",
        "engaged": "参与",
        "fan": "粉丝",
        "ultra": "核心",
        "min": "分钟",
        "No group has any messages in this range.": "此时间范围内没有任何群有消息。",
    }
)


def render_text(report: dict[str, Any], console: Console) -> None:
    groups = report["groups"]
    if not groups:
        console.print(tr("No group has any messages in this range."))
        return
    if len(groups) > 1 and report.get("community"):
        console.print(_community(report["community"]))
    for group in groups:
        console.print(_group(group))


def _community(c: dict[str, Any]) -> Panel:
    table = Table(show_header=False, box=None)
    table.add_column(style="dim")
    table.add_column(overflow="fold")
    table.add_row(tr("groups"), str(c["groups"]))
    table.add_row(tr("members now"), f"{c['members']:,}")
    table.add_row(tr("messages"), f"{c['messages']:,}")
    table.add_row(tr("active members (distinct)"), f"{c['active_members']:,}")
    table.add_row(tr("joins / leaves / kicks"), f"{c['joins']} / {c['leaves']} / {c['kicks']}")
    table.add_row(tr("messages per day"), f"{c['messages_per_day']:.1f}")
    table.add_row(tr("health"), Text(str(c["health"]), _health_style(c["health"])))
    table.add_row(tr("stage"), "  ".join(f"{tr(k)} {v}" for k, v in c["stages"].items()))
    table.add_row(
        tr("advice (groups)"), "  ".join(f"{k} {v}" for k, v in c["advice"].items()) or "-"
    )
    return Panel(table, title=tr("All groups in this report"), title_align="left")


def _group(g: dict[str, Any]) -> Panel:
    title = Text.assemble(
        (g["name"], "bold"),
        f"  {g['platform']}  ·  {tr('kind')}: {tr(g['kind'])}  ·  {tr('stage')}: {tr(g['stage'])}"
        f"  ·  {tr('health')}: ",
        (str(g["health"]), _health_style(g["health"])),
    )
    return Panel(
        Group(_advice(g), _figures(g), _people(g, "top_members"), _people(g, "kol_candidates")),
        title=title,
        subtitle=tr("{since} to {until}", since=g["since"], until=g["until"]),
        title_align="left",
    )


def _health_style(score: int) -> str:
    return "bold green" if score >= 70 else "bold yellow" if score >= 40 else "bold red"


def _advice(g: dict[str, Any]) -> Table:
    table = Table(title=tr("What to do next"), title_justify="left", show_header=False, box=None)
    table.add_column(no_wrap=True, style="bold cyan")
    table.add_column(overflow="fold")
    if not g["advice"]:
        table.add_row("", tr("No advice: nothing the playbook flags."))
    for item in g["advice"]:
        table.add_row(
            item["code"],
            Text.assemble(item["text"], "\n", (f"{item['reason']} · {item['rule']}", "dim")),
        )
    return table


def _figures(g: dict[str, Any]) -> Table:
    table = Table(title=tr("Figures"), title_justify="left", show_header=False, box=None)
    table.add_column(style="dim")
    table.add_column(overflow="fold")
    n, rt, c = g["newcomers"], g["response_time"], g["concentration"]
    lurkers = (
        _pct(g["lurker_ratio"])
        if g["lurker_ratio"] is not None
        else tr("unknown: no join events, only speakers are known")
    )
    rows = [
        (tr("members now"), f"{g['members']:,}"),
        (tr("messages"), f"{g['messages']:,}"),
        (tr("active members"), f"{g['active_members']:,}"),
        (tr("joins / leaves / kicks"), f"{g['joins']} / {g['leaves']} / {g['kicks']}"),
        (tr("net growth"), f"{g['net_growth']:+d}"),
        (tr("messages per day"), f"{g['messages_per_day']:.1f}"),
        (tr("DAU / WAU / MAU"), f"{g['dau']:.1f} / {g['wau']:.1f} / {g['mau']:.1f}"),
        (tr("stickiness"), _pct(g["stickiness"])),
        (tr("lurker ratio"), lurkers),
        (
            tr("newcomers: joined / never spoke / not welcomed / no introduction"),
            f"{n['joined']} / {n['never_spoke']} / {n['not_welcomed']} / {n['no_introduction']}",
        ),
        (
            tr("conversations (per day)"),
            f"{g['conversations']['count']:,} ({g['conversations']['per_day']:.1f})",
        ),
        (
            tr("questions answered; median / P90 wait"),
            f"{rt['answered']:,}/{rt['questions']:,}; "
            f"{_minutes(rt['median_min'])} / {_minutes(rt['p90_min'])}",
        ),
        (tr("half the messages come from"), tr("{n} members", n=c["absence_factor"])),
        (tr("Gini"), f"{c['gini']:.2f}" if c["gini"] is not None else "-"),
        (
            tr("owner and admins' share / member-to-member share"),
            f"{_pct(g['broadcast_share'])} / {_pct(g['member_to_member_share'])}",
        ),
        (tr("churned / slipping"), f"{g['churned']} / {len(g['slipping'])}"),
        (tr("levels"), "  ".join(f"{tr(k)} {v}" for k, v in g["levels"].items())),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _people(g: dict[str, Any], key: str) -> Table:
    title = tr("Top members") if key == "top_members" else tr("KOL candidates")
    table = Table(title=title, title_justify="left")
    for header in (
        "name",
        "messages",
        "level",
        "influence",
        "replies received",
        "mentions received",
    ):
        table.add_column(tr(header), justify="left" if header in ("name", "level") else "right")
    for m in g[key]:
        table.add_row(
            Text(m["name"]),
            f"{m['messages']:,}",
            tr(m["level"]),
            f"{m['influence']:.3f}",
            str(m["replies_received"]),
            str(m["mentions_received"]),
        )
    return table


def _pct(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "-"


def _minutes(value: float | None) -> str:
    return f"{value:.1f} {tr('min')}" if value is not None else "-"
