"""Chinese first: every sentence a user reads is looked up here, English is the fallback.

Templates are written in English in the code (so grep finds them) and translated in `ZH`;
a reader module may keep its own texts and `register` them when it is imported.
`QUNZHU_LANG=en` (or `--lang en`) switches to English; anything else means Chinese.
"""

from __future__ import annotations

import errno
import os
from contextvars import ContextVar

ZH: dict[str, str] = {
    # errors
    "no such file": "文件不存在",
    "permission denied": "没有权限",
    "it is a folder": "这是一个文件夹",
    "a part of the path is not a folder": "路径中有一部分不是文件夹",
    "the disk is full": "磁盘已满",
    "the file system is read-only": "文件系统只读",
    "it exists already": "已经存在",
    "the address is in use (is qunzhu or another program already running?)": (
        "地址已被占用（qunzhu 或别的程序是否已在运行？）"
    ),
    "this machine has no such address": "本机没有这个地址",
    "cannot listen on {host}:{port}: {why}": "无法在 {host}:{port} 上监听：{why}",
    "no such host name": "找不到这个主机名",
    "the folder {folder} does not exist": "文件夹 {folder} 不存在",
    "error": "错误",
    "unknown format {fmt!r}; supported: {formats}": "未知格式 {fmt!r}；支持：{formats}",
    "cannot tell the format from the content; supported: {formats}": (
        "无法从内容判断文件格式；支持：{formats}"
    ),
    "unknown time zone {name!r} (try Asia/Shanghai, UTC)": (
        "未知时区 {name!r}（例如 Asia/Shanghai、UTC）"
    ),
    "not a database URL: {url!r}": "不是有效的数据库地址：{url!r}",
    "cannot open the database {url}: {why}": "无法打开数据库 {url}：{why}",
    "nothing from this file was imported": "此文件的内容均未导入",
    "console": "控制台",
    # configuration, run, replay
    "{path}: OK, {c} connector(s), {g} group(s)": "{path}：没有问题，{c} 个连接器，{g} 个群",
    "Wrote {path}; try `qunzhu run`": "已写入 {path}；试试 `qunzhu run`",
    "qunzhu is running: {g} group(s) on {c}. Ctrl-C stops.": (
        "qunzhu 正在运行：{g} 个群，连接器 {c}。按 Ctrl-C 停止。"
    ),
    "Stopped. Actions still queued: {n}": "已停止。仍在队列中的动作：{n}",
    "{path} exists already; not overwritten": "{path} 已存在，未覆盖",
    "What qunzhu would have done": "qunzhu 本会怎么做",
    "group": "群",
    "deleted": "删除",
    "warned": "警告",
    "muted": "禁言",
    "kicked": "移出",
    "banned": "拉黑",
    "messages sent": "发出消息",
    "admins told": "通知管理员",
    "no policies": "没有策略",
    # console users
    "Console: http://127.0.0.1:{port}/  name: {name}  password: {password}": (
        "控制台：http://127.0.0.1:{port}/  用户名：{name}  密码：{password}"
    ),
    "Console: http://{host}:{port}/": "控制台：http://{host}:{port}/",
    "Password": "密码",
    "Password again": "再输一次密码",
    "the two passwords differ": "两次输入的密码不一致",
    "User {name} added ({role})": "已添加用户 {name}（{role}）",
    "Name": "名字",
    "Role": "角色",
    "Communities": "社群",
    "Password of {name} changed": "已修改 {name} 的密码",
    "Listening on {host}: anyone who reaches it sees the login; put HTTPS in front.": (
        "正在监听 {host}：能访问它的人都能看到登录页；请在前面加上 HTTPS。"
    ),
    "no user {name!r}": "没有用户 {name!r}",
    "a user name has 1 to 100 characters": "用户名需要 1 到 100 个字",
    "role must be one of {roles}": "角色只能是 {roles} 之一",
    "user {name!r} exists already": "用户 {name!r} 已存在",
    "a password needs at least {n} characters": "密码至少需要 {n} 个字符",
    "admin": "管理员",
    "operator": "运营",
    "viewer": "只读",
    "no community named {name!r}": "没有名为 {name!r} 的社群",
    "may have been sent: check by hand": "可能已经发出：请人工确认",
    "{n} labels from the console's queue": "来自控制台审核队列的标注：{n} 条",
    "the console's labels": "控制台的标注",
    "{n} of these are not waiting tasks": "其中 {n} 个不是待处理的任务",
    "{n} task(s) marked handled": "已将 {n} 个任务标为已处理",
    "Nothing waits for a person.": "没有需要人工处理的事项。",
    "not a tag: {tag!r} (1 to {n} characters)": "不是有效的标签：{tag!r}（1 到 {n} 个字）",
    "{ref}: {tags}": "{ref}：{tags}",
    "Waiting for a person": "等待人工处理",
    "status": "状态",
    "action": "动作",
    "what": "内容",
    "task": "人工任务",
    "uncertain": "不确定是否已发出",
    "failed": "平台拒绝",
    "{n} earlier file(s) were imported": "之前的 {n} 个文件已导入",
    "not valid JSON ({why}; truncated?)": "不是有效的 JSON（{why}；文件被截断？）",
    "top level": "顶层",
    "line {line} column {col}": "第 {line} 行第 {col} 列",
    "not a Telegram Desktop export: the top level is not an object": (
        "不是 Telegram Desktop 导出：顶层不是对象"
    ),
    "not a Telegram Desktop export: no 'messages' and no 'chats.list'": (
        "不是 Telegram Desktop 导出：没有 'messages' 也没有 'chats.list'"
    ),
    "a chat must be an object with a 'messages' list": "聊天必须是带 'messages' 列表的对象",
    "no group chat in this export (chat types: {kinds})": "此导出中没有群聊（聊天类型：{kinds}）",
    "'messages' is not a list": "'messages' 不是列表",
    "a message must be an object": "消息必须是对象",
    "bad or missing date ({value!r})": "日期缺失或无效（{value!r}）",
    "a text entity must be an object": "文本实体必须是对象",
    "'members' is not a list": "'members' 不是列表",
    "message {i}": "第 {i} 条消息",
    "line {n}": "第 {n} 行",
    "not valid JSON ({why})": "不是有效的 JSON（{why}）",
    "not a valid date or time ({value!r})": "日期或时间无效（{value!r}）",
    # skipped rows, shared by the readers
    "incomplete last line": "最后一行不完整",
    "text before the first message": "第一条消息之前的文字",
    # skipped rows
    "not a group chat ({kind})": "不是群聊（{kind}）",
    "unsupported message type {kind!r}": "不支持的消息类型 {kind!r}",
    "no sender": "没有发送者",
    "service action {action!r} is not a membership change": "服务消息 {action!r} 不是成员变动",
    "{action} without an actor": "{action} 缺少执行者",
    # import summary
    "Imported {path} as {fmt}": "已导入 {path}（格式：{fmt}）",
    "groups": "群",
    "messages added": "新增消息",
    "messages already present": "已有消息（跳过）",
    "membership events added": "新增成员事件",
    "members": "成员",
    "rows skipped": "跳过的行",
    "… and {n} more skipped rows": "……另有 {n} 行被跳过",
    "times read in {tz} (the export has local times without a zone)": (
        "时间按 {tz} 解读（导出文件中的本地时间不带时区）"
    ),
    "Reading": "读取中",
    # the blocklist
    "Blocklist": "黑名单",
    "member": "成员",
    "reason": "原因",
    "by": "加入者",
    "the engine": "系统",
    "no platform {name!r}": "没有 {name!r} 这个平台",
    "say why (1 to {n} characters)": "请写明原因（1 到 {n} 个字符）",
    "{n} added to the blocklist of {community}": "{n} 人已加入「{community}」的黑名单",
    "{n} taken off the blocklist of {community}": "{n} 人已移出「{community}」的黑名单",
    # groups table
    "Groups": "群列表",
    "id": "编号",
    "platform": "平台",
    "name": "群名",
    "community": "社群",
    "kind": "类型",
    "members now": "当前成员",
    "messages": "消息",
    "last message": "最后消息",
    "temporary": "临时群",
    "long_term": "长期群",
    "unknown": "未定",
    "No groups yet. Import an export: qunzhu import PATH": (
        "还没有群。先导入聊天记录：qunzhu import PATH"
    ),
    # forgetting a member
    "no member {ref!r}": "找不到成员 {ref!r}",
    "{n} members match {ref!r}; add --platform": "有 {n} 个成员匹配 {ref!r}；请加上 --platform",
    "Delete {ref} and all their messages?": "删除 {ref} 及其全部消息？",
    "They stay on {n} communities' blocklists as a digest of their id (no name, "
    "no reason); `qunzhu blocklist remove ID --platform P` lets them back": (
        "其仍在 {n} 个社群的黑名单上，只保留账号 ID 的摘要（没有名字和原因）；"
        "`qunzhu blocklist remove ID --platform P` 可解除"
    ),
    "blocked before their data was deleted": "数据删除前已被拉黑",
    "{n} members whose data was deleted are still kept out of {community}: only a digest of "
    "their id is kept, so they are not listed. `qunzhu blocklist remove ID --platform P` lets "
    "one back.": (
        "{community} 仍挡在门外的已删除数据的成员：{n} 人。只保留账号 ID 的摘要，所以不在列表中。"
        "`qunzhu blocklist remove ID --platform P` 可解除。"
    ),
    "Deleted {ref}: {messages} messages, {events} membership events, {decisions} decisions": (
        "已删除 {ref}：{messages} 条消息，{events} 条成员事件，{decisions} 条处理记录"
    ),
    "{n} of their messages were labelled for training: a model you trained on "
    "them keeps them until you train it again (qunzhu moderation train); the "
    "communities' learnt models are trained again by the running engine": (
        "其中 {n} 条消息曾被标注为训练数据：你用它们训练的模型在重新训练"
        "（qunzhu moderation train）之前仍保留所学；各社群自动学习的模型由运行中的引擎重新训练"
    ),
    # db and demo
    "Database is up to date: {url}": "数据库已是最新：{url}",
    "Demo community written to {path}": "演示社群已生成：{path}",
    "Demo community": "演示社群",
    "A day of moderation in the first groups: {n} decisions.": (
        "前几个群一天的审核演示：{n} 条处理。"
    ),
    # report
    "{flag}: not a date (YYYY-MM-DD): {value!r}": "{flag}：不是日期（YYYY-MM-DD）：{value!r}",
    "cannot write {path}: {why}": "无法写入 {path}：{why}",
    "Report written to {path}": "报告已写入 {path}",
    # live policies
    "the platform cannot do this: a person has to": "平台不支持此操作：需要人工处理",
    "interrupted while sending: check by hand": "发送时被中断：请人工确认是否已发出",
    "no such connector is running": "没有运行中的此连接器",
    "This bot keeps the group free of ads. If it removed your message, muted or removed you "
    "and that was a mistake, write here what happened: the group's admins will see it.": (
        "我是群里的反广告机器人。如果我删了你的消息、禁言或移出了你，而你认为是误判，"
        "请直接在这里写明情况，群管理员会看到。"
    ),
    "Nothing moderation did to you through this bot in the last 30 days is waiting for an "
    "answer; if something is wrong, ask the group's admins.": (
        "近 30 天内没有找到本机器人对你的待处理记录；如有问题，请联系群管理员。"
    ),
    "Your appeal about {group} has reached its admins; they will look at it soon.": (
        "你对「{group}」中处理的申诉已转给群管理员，他们会尽快处理。"
    ),
    "Your appeal about {group} was upheld: what was done to you is undone where it can be.": (
        "你对「{group}」中处理的申诉已通过，处罚已撤销（已删除的消息无法恢复）。"
    ),
    "Your appeal about {group} was looked at and not upheld.": (
        "你对「{group}」中处理的申诉经管理员复核，未予通过。"
    ),
    "Please do not post ads here. "
    "If we got it wrong, write to an admin or to this bot in private.": (
        "请勿在群内发布广告或违规内容。如被误判，请私信管理员或本机器人说明。"
    ),
    "Please keep it civil: no insults or obscenities here. "
    "If we got it wrong, write to an admin or to this bot in private.": (
        "请文明发言，勿辱骂他人或说脏话。如被误判，请私信管理员或本机器人说明。"
    ),
    "OneBot {name}: members' signatures are not given": "OneBot {name}：实现不提供成员的个性签名",
    # the language model's second opinion
    "the url must start with http:// or https://": "地址必须以 http:// 或 https:// 开头",
    "{where}.policies.moderation.second_opinion: no [language_model] to ask": (
        "{where}.policies.moderation.second_opinion：没有配置可询问的 [language_model]"
    ),
    "language_model: the environment variable {var} is not set": (
        "language_model：环境变量 {var} 没有设置"
    ),
    "the language model's {n} calls for today are spent": "大模型今天的 {n} 次调用已用完",
    "the language model gave no answer ({n} so far): {why}": (
        "大模型没有给出回答（累计 {n} 次）：{why}"
    ),
    "{path} names no [language_model]": "{path} 中没有配置 [language_model]",
    "language model: {model} at {url}, {n} calls a day": (
        "大模型：{model}（{url}），每天最多 {n} 次"
    ),
    "the language model gave no answer: {why}": "大模型没有给出回答：{why}",
    "{n} decision(s) waiting for the language model went to a person": (
        "{n} 条等待大模型复核的处理已转交给人工"
    ),
    "Welcome %NICKNAME%! Please introduce yourself: your city, your trade, and what you "
    "hope to find here.": "欢迎 %NICKNAME% 加入！请发一段自我介绍：城市、行业、想在群里收获什么。",
    "join request from {who}: {answer}": "入群申请：{who}：{answer}",
    "{member} is on the community's blocklist: {why}": "{member} 在本社群的黑名单上：{why}",
    "CAS gave no answer ({why}); nobody counts as listed": "CAS 没有回应（{why}）；暂不认定任何人",
    "{n} offense(s), listed since {day}": "{n} 次违规，{day} 起列入",
    "{n} offense(s)": "{n} 次违规",
    "{member} is listed as a spam account by CAS (cas.chat): {why}": (
        "{member} 被 CAS（cas.chat）列为垃圾账号：{why}"
    ),
    "{member}'s name looks like an ad: {name}": "{member} 的昵称像是广告：{name}",
    "(Counted across the community’s groups.)": "（按社群内所有群合计。）",
    "{member}'s name is an ad people confirmed: {name}": "{member} 的昵称是已确认的广告：{name}",
    "{member}'s bio looks like an ad: {bio}": "{member} 的个人简介像是广告：{bio}",
    "{member}'s bio is an ad people confirmed: {bio}": "{member} 的个人简介是已确认的广告：{bio}",
    "Thank you: the admins will look at it.": "收到，谢谢！管理员会处理。",
    "Noted ({n} of {needed}): the admins are asked once {needed} members report it.": (
        "收到（{n}/{needed}）：{needed} 人举报后会交给管理员处理。"
    ),
    "{n} members reported a message by {author}: {text}": (
        "{n} 位成员举报了 {author} 的消息：{text}"
    ),
    "@{name} welcome! To show you are not an ad bot, answer within {minutes} minutes "
    "(just send the answer): {question}": (
        "@{name} 欢迎！为确认你不是广告机器人，请在 {minutes} 分钟内直接发送答案：{question}"
    ),
    "What is {a} plus {b}?": "{zh_a}加{zh_b}等于几？",
    "Join raid: {n} newcomers within {s} s. Remove the newcomers of the next {m} minutes?": (
        "疑似刷群：{s} 秒内进来 {n} 位新人。接下来 {m} 分钟内的新人要移出吗？"
    ),
    "Join raid: {n} newcomers within {s} s. Newcomers are removed for the next {m} minutes.": (
        "疑似刷群：{s} 秒内进来 {n} 位新人。接下来 {m} 分钟内入群的新人将被移出。"
    ),
    "the group is muted: only admins may post; {name}'s message was not sent": (
        "全员禁言中，只有管理员可以发言；{name} 的消息未发出"
    ),
    "muted the whole group: only admins may post": "已全员禁言：只有管理员可以发言",
    "the whole group may post again": "已解除全员禁言",
    "Join raid: {n} newcomers within {s} s. Newcomers are removed and the group is muted for "
    "the next {m} minutes.": (
        "疑似刷群：{s} 秒内进来 {n} 位新人。接下来 {m} 分钟内入群的新人将被移出，并全员禁言。"
    ),
    "{name} did not pass the entry question: remove them?": (
        "{name} 没有答对入群验证问题：要移出群吗？"
    ),
    "@{name} please set your group nickname as {example}, so members know who you are.": (
        "@{name} 请把群昵称改为“{example}”的格式，方便大家认识你。"
    ),
    "The nickname pattern {pattern} took too long on a {n}-character name; such names are "
    "not checked. Simplify the pattern.": (
        "群昵称规则 {pattern} 在一个 {n} 字的昵称上耗时过长；这类昵称不再检查。请简化规则。"
    ),
    "other groups of {connector}": "{connector} 的其他群",
    "{name} ({id}) has not changed the group nickname after a reminder": (
        "{name}（{id}）被提醒后仍未修改群昵称"
    ),
    # moderation
    "ham": "正常",
    "review": "待审核",
    "spam": "垃圾/违规",
    "on top of the shared model {path}": "基于共享模型 {path}",
    "no shared model at {path}: trained alone": "{path} 处没有共享模型：单独训练",
    "cannot lock {kinds}: not a kind of message": "无法锁定 {kinds}：不是消息类型",
    "keyword {word!r}: expected a weight or {{weight, action}}": (
        "关键词 {word!r}：应为权重，或 {{weight, action}}"
    ),
    "keyword {word!r}: weight {weight} is outside 0..1": (
        "关键词 {word!r}：权重 {weight} 不在 0..1 之间"
    ),
    "keyword {word!r}: unknown action {action!r}": "关键词 {word!r}：未知的处理动作 {action!r}",
    "cannot read the content model {path}: {why}": "无法读取内容模型 {path}：{why}",
    "cannot read the picture {path}: {why}": "无法读取图片 {path}：{why}",
    "cannot load the picture reader: {why} (installed with pip: install opencv-python-headless "
    "in place of opencv-python)": (
        "无法加载图片文字识别：{why}"
        "（用 pip 安装时：请用 opencv-python-headless 替换 opencv-python）"
    ),
    "the picture reader's process ended on a picture (it failed, or took over {s} s); the "
    "next picture starts a new one": (
        "识别图片文字的进程在一张图片上中止了（出错，或超过 {s} 秒）；下一张图片会启动新的进程"
    ),
    "pictures not read so far: {n} ({backlog} were waiting)": (
        "累计未识别文字的图片：{n} 张（已有 {backlog} 张在等待）"
    ),
    "reading a picture failed": "识别图片文字失败",
    "cannot hand on the text of the pictures of message {id}": (
        "无法把消息 {id} 图片中的文字交给引擎"
    ),
    "not a picture": "不是图片",
    "Written in its pictures:": "图片里的文字：",
    "{path}: needs both labels, 0 and 1": "{path}：需要同时包含 0 和 1 两种标签",
    "Trained on {n} messages; saved {path}": "已用 {n} 条消息训练；已保存到 {path}",
    "spam from {spam:.3f}, review from {review:.3f}: at most {share:.1%} of your "
    "normal messages were called spam in cross-validation": "得分 {spam:.3f} 起判为垃圾，"
    "{review:.3f} 起送人工审核：交叉验证中，正常消息被判为垃圾的不超过 {share:.1%}",
    "fewer than {n} messages of a label: fixed thresholds": "某一类标注少于 {n} 条：使用固定阈值",
    "kept the nearest-message bank: your spam comes in campaigns": (
        "保留了相似消息库：你的广告成批出现，与已知广告相近的消息更容易识别"
    ),
    "{path}: line {n}: expected LABEL<TAB>TEXT with LABEL 0 or 1": (
        "{path}：第 {n} 行：应为“标签<TAB>文本”，标签为 0 或 1"
    ),
    "{path}: no labelled lines": "{path}：没有带标签的行",
    "Next: `qunzhu report` shows each group's stage, health and what to do next.": (
        "下一步：`qunzhu report` 显示每个群的阶段、健康度和下一步建议。"
    ),
    # telegram connector
    "Telegram connector {name}: mode must be polling or webhook, not {mode!r}": (
        "Telegram 连接器 {name}：mode 只能是 polling 或 webhook，而不是 {mode!r}"
    ),
    "Telegram connector {name}: webhook mode needs a webhook secret": (
        "Telegram 连接器 {name}：webhook 模式需要设置 webhook 密钥"
    ),
    "Telegram connector {name}: the bot token is malformed": (
        "Telegram 连接器 {name}：机器人 token 格式不正确"
    ),
    "Telegram {name}: too many requests; polling again in {delay}s": (
        "Telegram {name}：请求过于频繁；{delay} 秒后再拉取"
    ),
    "Telegram {name}: cannot get updates ({why}); retrying in {delay}s": (
        "Telegram {name}：无法获取更新（{why}）；{delay} 秒后重试"
    ),
    "Telegram {name}: cannot read update {id}; skipped": (
        "Telegram {name}：无法解析更新 {id}；已跳过"
    ),
    "Telegram {name}: storing update {id} failed ({why}); fetching it again in {delay}s": (
        "Telegram {name}：保存更新 {id} 失败（{why}）；{delay} 秒后重新获取"
    ),
    "Telegram {name}: storing update {id} failed ({why}); Telegram will resend it": (
        "Telegram {name}：保存更新 {id} 失败（{why}）；Telegram 会重新推送"
    ),
    "Telegram {name}: cannot download a picture ({why})": (
        "Telegram {name}：无法下载图片（{why}）"
    ),
    "Telegram cannot do {kind}: a task for a human": "Telegram 无法执行 {kind}：需人工处理",
    "Telegram refused to {kind}: {why}": "Telegram 拒绝执行 {kind}：{why}",
    "Telegram did not answer {kind}: {why}": "Telegram 未响应 {kind}：{why}",
    "{what} {value!r} is not a Telegram user id": "{what} {value!r} 不是 Telegram 用户 ID",
    "Telegram: nothing to send, the text is empty": "Telegram：没有可发送的内容，文本为空",
    "Telegram {name}: cannot answer {user} in private: {why}": (
        "Telegram {name}：无法私信回复 {user}：{why}"
    ),
    "Telegram {name}: cannot read the rights of chat {chat} before locking it": (
        "Telegram {name}：锁群前无法读取群 {chat} 的权限设置"
    ),
    # the log of `qunzhu run`: settings, rosters, labels, connectors
    "ignoring the console's settings: {why}": "忽略控制台中的设置：{why}",
    "group {platform}:{id}: stored settings are not a table": (
        "群 {platform}:{id}：保存的设置格式不对（不是表）"
    ),
    "settings reloaded": "已重新加载设置",
    "cannot read which members were forgotten": "无法读取哪些成员的数据刚被删除",
    "{n} events older than a week let go from the inbox": "收件箱中清理了 {n} 条一周前的事件",
    "cannot prune the inbox": "无法清理收件箱",
    "{what} ({why})": "{what}（{why}）",
    "event {id} of the inbox set aside until the next start: {why}": (
        "收件箱中的事件 {id} 已搁置，下次启动时重试：{why}"
    ),
    "cannot reload the settings": "无法重新加载设置",
    "cannot store the configured groups in their communities": "无法把配置中的群记入各自的社群",
    "roster of {group} not read yet: {why}": "还没读到「{group}」的成员名单：{why}",
    "cannot store the roster of {group}": "无法保存「{group}」的成员名单",
    "roster of {group}: {n} missed joins and leaves stored": (
        "「{group}」的成员名单：补记了 {n} 条错过的入群和退群"
    ),
    "roster of {group} leaves out {n} members the store has in it: their leaves are held "
    "until the next reading says the same": (
        "「{group}」的成员名单里缺少数据库中记着的 {n} 位成员：下次读取结果相同时才记为退群"
    ),
    "cannot keep the blocked members out after reading the rosters": (
        "读取成员名单后，无法把黑名单上的成员挡在群外"
    ),
    "cannot keep the newly blocked members out": "无法把新拉黑的成员挡在群外",
    "moderation recalled {n} messages of the last day": "审核已读回最近一天的 {n} 条消息",
    "raids recalled {n} newcomers of the last hour": "防刷群已读回最近一小时的 {n} 位新人",
    "cannot read back the last day's messages": "无法读回最近一天的消息",
    "{n} decision(s) on earlier copies of pictures people said were ads": (
        "对早先发出的、经人工标为广告的图片副本作出 {n} 条处理"
    ),
    "{n} decision(s) on earlier copies of texts people said were ads": (
        "对早先发出的、经人工标为广告的文字副本作出 {n} 条处理"
    ),
    "{n} decision(s) on members named like an ad name people confirmed": (
        "对昵称与已确认广告昵称相近的成员作出 {n} 条处理"
    ),
    "cannot read the moderation labels": "无法读取审核标注",
    "cannot train the communities' models or hand them over": "无法训练各社群的模型或将其交给引擎",
    "connector stopped": "连接器已停止",
    "cannot store the appeal of {member} through {connector}": (
        "无法保存 {member} 通过 {connector} 发来的申诉"
    ),
    "cannot write the status of connector {name}": "无法写入连接器 {name} 的状态",
    "connector {name} failed on action {id}": "连接器 {name} 执行动作 {id} 时出错",
    "snapshot of group {id} failed": "群 {id} 的概览快照计算失败",
    "cannot hand on the language model's answer on message {id}": (
        "无法把大模型对消息 {id} 的回答交给引擎"
    ),
    # the log of the communities' learnt models
    "cannot read the learnt model {path}: it is trained again": (
        "无法读取自动学习的模型 {path}：将重新训练"
    ),
    "cannot train the model of community {community!r}": "无法训练社群 {community!r} 的模型",
    "community {community!r}: {what} ({spam} spam, {normal} not spam, {ordinary} ordinary "
    "messages, {copies} copies of confirmed ads left out, {seconds:.1f} s)": (
        "社群 {community!r}：{what}（垃圾 {spam} 条，非垃圾 {normal} 条，普通消息 {ordinary} 条，"
        "排除已确认广告的副本 {copies} 条，用时 {seconds:.1f} 秒）"
    ),
    "model trained": "模型已训练",
    "model removed": "模型已移除",
}


CONFLICTS: list[str] = []  # texts two modules translate differently (a test keeps it empty)


def register(catalog: dict[str, str]) -> None:
    """Add a module's own Chinese texts (readers keep theirs beside their code)."""
    for text, chinese in catalog.items():
        if ZH.get(text, chinese) != chinese:
            CONFLICTS.append(f"{text!r}: {ZH[text]!r} / {chinese!r}")
    ZH.update(catalog)


# The console sets the language per request (a cookie); the command line by environment.
REQUEST_LANG: ContextVar[str | None] = ContextVar("qunzhu_lang", default=None)


def lang() -> str:
    chosen = REQUEST_LANG.get() or os.environ.get("QUNZHU_LANG", "zh")
    return "en" if chosen.lower().startswith("en") else "zh"


def tr(template: str, /, **values: object) -> str:
    """`template` in the user's language, filled with `values`."""
    chosen = ZH.get(template, template) if lang() == "zh" else template
    return chosen.format(**values) if values else chosen


# What the system says of a failed file or network call, by its errno: its own words
# (`strerror`) are English whatever the reader's language.
_OS_REASONS = {
    errno.ENOENT: "no such file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "it is a folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the file system is read-only",
    errno.EEXIST: "it exists already",
    errno.EADDRINUSE: "the address is in use (is qunzhu or another program already running?)",
    errno.EADDRNOTAVAIL: "this machine has no such address",
}


def os_reason(exc: OSError) -> str:
    """Why a file or network call failed, in the reader's language."""
    known = _OS_REASONS.get(exc.errno) if exc.errno is not None else None
    if known is not None:
        return tr(known)
    return exc.strerror or str(exc) or type(exc).__name__


def told(template: str, /, **values: object) -> str:
    """`template` in the language members are told things (the engine's: QUNZHU_LANG, else
    Chinese), whichever console reader's request has it sent."""
    token = REQUEST_LANG.set(None)
    try:
        return tr(template, **values)
    finally:
        REQUEST_LANG.reset(token)
