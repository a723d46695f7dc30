"""The console's sentences in Chinese (templates and code call `tr` with the English)."""

from __future__ import annotations

from qunzhu import i18n

i18n.register(
    {
        "log in or send a token": "请先登录，或提供令牌",
        "a viewer cannot change anything": "只读用户不能修改任何内容",
        "the form is stale or forged: reload the page": "表单已过期或被伪造：请刷新页面",
        "The qunzhu console's API: groups, reports, members, decisions, policies.": (
            "qunzhu 控制台的 API：群、报告、成员、处理记录、策略。"
        ),
        "no such group": "没有这个群",
        "Too many failed logins: wait a few minutes.": "登录失败次数过多：请几分钟后再试。",
        "Wrong name or password.": "用户名或密码错误。",
        "Overview": "总览",
        "Every group at a glance": "所有群一览",
        "{n} groups, {m} members; last 7 days: {k} messages, {a} ads removed.": (
            "{n} 个群，{m} 位成员；最近 7 天：{k} 条消息，删除 {a} 条广告。"
        ),
        "Window ends {date}.": "统计截至 {date}。",
        "{n} moderation questions wait for a decision": "{n} 条审核疑问等待处理",
        "{n} members' appeals wait for an answer": "{n} 条成员申诉等待处理",
        "{n} messages the language model let through are worth a second look": (
            "{n} 条大模型放行的消息待复查"
        ),
        "No group to show yet: import an export or connect a group.": (
            "还没有可显示的群：导入聊天记录，或连接一个群。"
        ),
        "Group": "群",
        "Platform": "平台",
        "Messages (7 d)": "消息（7 天）",
        "Active (7 d)": "活跃（7 天）",
        "14 days": "14 天",
        "Health": "健康度",
        "Open advice": "待办建议",
        "Ads removed (7 d)": "删除广告（7 天）",
        "Stage, health and advice come from each group's last full report, "
        "refreshed in the background and when its page is opened.": (
            "阶段、健康度和建议来自每个群最近一次完整报告，后台定期刷新，打开群页面时也会刷新。"
        ),
        "Log in": "登录",
        "This group has no history yet.": "这个群还没有记录。",
        "Next steps": "下一步",
        "Nothing to fix right now.": "目前没有需要处理的问题。",
        "Slipping members": "正在流失的成员",
        "Recent moderation decisions": "最近的审核处理",
        "Day": "日期",
        "Verdict": "判定",
        "Step": "处理",
        "Checks": "命中的检查",
        "No moderation decision in this group yet.": "这个群还没有审核处理记录。",
        "wrong answers to the entry question": "入群验证答错",
        "no answer to the entry question in time": "入群验证超时未答",
        "joined during a raid": "刷群期间入群",
        "Back to the overview": "返回总览",
        "The database cannot be reached just now; try again in a moment.": (
            "暂时无法连接数据库，请稍后再试。"
        ),
        "console: the store cannot be reached ({why})": "控制台：无法连接数据库（{why}）",
        "qunzhu console": "群主控制台",
        "People": "成员",
        "Moderation": "审核",
        "Settings": "设置",
        "Import": "导入",
        "Log out": "退出登录",
    }
)
