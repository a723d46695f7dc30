"""What the command line says about its own use, in the reader's language: help, and
mistakes in the arguments.

Typer reads the help of every command and option once, when it builds the commands, in the
English the code is written in; which language the reader wants is known only at the run, from
`--lang` or $QUNZHU_LANG. `Bilingual` is the root command's class: each run it puts the whole
tree's help, and the titles Typer draws around it, into that language before the arguments are
parsed, so `qunzhu --help` and `qunzhu demo --help` read in Chinese by default. A mistake in
the arguments ("no such option", "not a number") is said in that language too.
"""

from __future__ import annotations

import os
import re
import sys
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperArgument, TyperGroup, TyperOption

from qunzhu.i18n import register, tr

# Typer's own words around the help (module constants it reads when it draws the help)
_TITLES = {
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commands",
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "ERRORS_PANEL_TITLE": "Error",
    "DEFAULT_STRING": "[default: {}]",
    "REQUIRED_LONG_STRING": "[required]",
    "ENVVAR_STRING": "[env var: {}]",
    "ABORTED_TEXT": "Aborted.",
    "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help.",
}
_HELP_OPTION = "Show this message and exit."
# Rich wraps lines only at spaces, and Chinese has none: a line of it that does not fit its
# column is cut off with "…". A space after Chinese punctuation lets it wrap there.
_BREAKS = re.compile("(?<=[，。；：])(?=[^\\s，。；：）])|(?<=\\S)(?=（)")
# what each command and option said in English, kept across runs that switch languages
_ENGLISH: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


class Bilingual(TyperGroup):
    def main(self, args: Sequence[str] | None = None, *rest: Any, **options: Any) -> Any:
        chosen = _lang_given(list(sys.argv[1:] if args is None else args))
        if chosen:
            os.environ["QUNZHU_LANG"] = chosen
        _translate(self)
        return super().main(args, *rest, **options)

    # A mistake in the arguments is found while the root's context is made (its own options)
    # or while it invokes a command (the command's name, then the command's arguments).
    def make_context(self, *args: Any, **options: Any) -> Any:
        with _mistakes_in_language():
            return super().make_context(*args, **options)

    def invoke(self, ctx: Any) -> Any:
        with _mistakes_in_language():
            return super().invoke(ctx)


@contextmanager
def _mistakes_in_language() -> Iterator[None]:
    """Typer says what was wrong with the arguments in English, in a frame it draws itself:
    both are put into the reader's language (the frame's titles, then the sentence)."""
    try:
        yield
    except typer.TyperException as exc:
        if getattr(exc, "exit_code", None) != USAGE or not hasattr(exc, "format_message"):
            raise
        _set_titles()
        said = _usage_mistake(exc.format_message())
        exc.format_message = lambda: said  # type: ignore[method-assign]
        raise


def _lang_given(args: list[str]) -> str | None:
    """The value of the root's `--lang`, which comes before the command's name."""
    for i, arg in enumerate(args):
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
        if arg == "--lang":
            return args[i + 1] if i + 1 < len(args) else None
        if not arg.startswith("-"):
            return None
    return None


def _translate(command: Any) -> None:
    command.help = _said(command)
    command.short_help = _BREAKS.sub(" ", command.help)  # in its group's list of commands
    if "format_help" not in vars(command):  # once per command object
        command.format_help = _titled(command.format_help)
        command.format_usage = _usage_line(command)
    for param in [*command.params, command.get_help_option(typer.Context(command))]:
        if param is not None:
            param.help = _BREAKS.sub(" ", _said(param))  # an option's help sits in a column
    for sub in getattr(command, "commands", {}).values():
        _translate(sub)


def _titled(format_help: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """Typer's titles put into the reader's language when a help is drawn: Typer's drawing
    module (it brings Rich's Markdown) costs 0.2 s to import, which a run that draws no help
    should not pay."""

    def drawn(ctx: Any, formatter: Any) -> None:
        _set_titles()
        format_help(ctx, formatter)

    return drawn


def _usage_line(command: Any) -> Callable[[Any, Any], None]:
    """The "Usage:" line in the reader's language (as Click writes it): its first word and
    the placeholders for options and commands; arguments keep their names."""

    def written(ctx: Any, formatter: Any) -> None:
        pieces = [tr(piece) for piece in command.collect_usage_pieces(ctx)]
        formatter.write_usage(ctx.command_path, " ".join(pieces), prefix=tr("Usage: "))

    return written


# The kind of value an option or argument takes, as Typer names it in its help ("<int>",
# "<list[Path]>"), in words; a flag takes none, though Typer shows "<bool>" beside it.
_KIND = re.compile(r"<(?:list\[(?P<listed>\w+)\]|(?P<one>\w+)(?: range)?)>")
_KINDS = {"str": "<text>", "path": "<path>", "int": "<number>", "float": "<decimal>"}


def _kind_shown(show: Callable[[Any, Any], str | None]) -> Callable[[Any, Any], str | None]:
    def shown(param: Any, ctx: Any) -> str | None:
        if getattr(param, "is_flag", False) and param.metavar is None:
            return None
        said = show(param, ctx)
        found = _KIND.fullmatch(said or "")
        if found is None:  # a metavar the code gave, or the choices ("text|json|html")
            return said
        kind = (found["listed"] or found["one"]).lower()
        word = tr(_KINDS[kind]) if kind in _KINDS else f"<{kind}>"
        return f"{word}..." if found["listed"] else word

    return shown


for _param_class in (TyperOption, TyperArgument):
    _param_class.display_type_rich = _kind_shown(_param_class.display_type_rich)  # type: ignore[method-assign]


def _set_titles() -> None:
    import typer.rich_utils

    for name, english in _TITLES.items():
        setattr(typer.rich_utils, name, tr(english))


USAGE = 2  # the exit code of a mistake in the arguments
# What Typer says of a mistake in the arguments, and what the reader reads. The names it quotes
# ('--port', 'demo') stay as they are; a why that no pattern knows is kept in English.
_MISTAKES = (
    (r"No such command (?P<name>'.*?')\. Did you mean (?P<like>.*)\?", "no such command"),
    (r"No such command (?P<name>'.*?')\.", "no such command, no suggestion"),
    (r"No such option: (?P<name>\S+) \(Possible options: (?P<like>.*)\)", "no such option"),
    (r"No such option: (?P<name>\S+)", "no such option, no suggestion"),
    (r"Missing argument (?P<name>.*?)\.(?: .*)?", "missing argument"),
    (r"Missing option (?P<name>.*?)\.(?: .*)?", "missing option"),
    (r"Missing command\.", "missing command"),
    (r"Option (?P<name>'.*?') requires an argument\.", "option needs a value"),
    (r"Option (?P<name>'.*?') requires (?P<n>\d+) arguments\.", "option needs values"),
    (r"Option (?P<name>'.*?') does not take a value\.", "option takes no value"),
    (r"Got unexpected extra argument\(s\) \((?P<args>.*)\)", "extra arguments"),
    (r"Invalid value for (?P<name>.+?): (?P<why>.*)", "invalid value"),
)
_SAID = {
    "no such command": "No such command {name}. Did you mean {like}?",
    "no such command, no suggestion": "No such command {name}.",
    "no such option": "No such option: {name} (possible options: {like})",
    "no such option, no suggestion": "No such option: {name}",
    "missing argument": "Missing argument {name}.",
    "missing option": "Missing option {name}.",
    "missing command": "Missing command.",
    "option needs a value": "Option {name} needs a value.",
    "option needs values": "Option {name} needs {n} values.",
    "option takes no value": "Option {name} takes no value.",
    "extra arguments": "Unexpected extra argument(s): {args}",
    "invalid value": "Invalid value for {name}: {why}",
}
_WHYS = (
    (r"Input should be a valid integer.*", "a whole number is expected"),
    (r"Input should be a valid number.*", "a number is expected"),
    (r"Input should be greater than or equal to (?P<n>\S+)", "at least {n} is expected"),
    (r"Input should be less than or equal to (?P<n>\S+)", "at most {n} is expected"),
    (r"Input should be greater than (?P<n>\S+)", "more than {n} is expected"),
    (r"Input should be less than (?P<n>\S+)", "less than {n} is expected"),
    (r"(?:Value error, )?(?P<value>'.*?') is not one of (?P<choices>.*)\.", "not one of"),
)


def _usage_mistake(english: str) -> str:
    for pattern, key in _MISTAKES:
        found = re.fullmatch(pattern, english, re.DOTALL)
        if found:
            words = found.groupdict()
            if "why" in words:
                words["why"] = _why(words["why"])
            return tr(_SAID[key], **words)
    return english


def _why(english: str) -> str:
    for pattern, said in _WHYS:
        found = re.fullmatch(pattern, english, re.DOTALL)
        if found:
            if said == "not one of":
                return tr("{value} is not one of {choices}", **found.groupdict())
            return tr(said, **found.groupdict())
    return english


def _said(item: Any) -> str:
    """`item`'s help in the reader's language, as plain text: Typer reads help as Rich markup,
    which took "[language_model]" for a style and left it out."""
    english = _ENGLISH.setdefault(item, item.help or "")
    return escape(tr(" ".join(english.split()))) if english else ""  # docstrings: one line


register(
    {
        "Options": "选项",
        "Commands": "命令",
        "Arguments": "参数",
        "Error": "错误",
        "[default: {}]": "[默认：{}]",
        "[required]": "[必填]",
        "[env var: {}]": "[环境变量：{}]",
        "Aborted.": "已中止。",
        "Try [blue]'{command_path} {help_option}'[/] for help.": (
            "运行 [blue]'{command_path} {help_option}'[/] 查看帮助。"
        ),
        _HELP_OPTION: "显示此帮助并退出。",
        "Usage: ": "用法：",
        "[OPTIONS]": "[选项]",
        "COMMAND [ARGS]...": "命令 [参数]...",
        "<text>": "<文本>",
        "<path>": "<路径>",
        "<number>": "<整数>",
        "<decimal>": "<小数>",
        # mistakes in the arguments
        "No such command {name}. Did you mean {like}?": "没有命令 {name}。你是不是想用 {like}？",
        "No such command {name}.": "没有命令 {name}。",
        "No such option: {name} (possible options: {like})": "没有选项 {name}（可用：{like}）",
        "No such option: {name}": "没有选项 {name}",
        "Missing argument {name}.": "缺少参数 {name}。",
        "Missing option {name}.": "缺少选项 {name}。",
        "Missing command.": "缺少命令。",
        "Option {name} needs a value.": "选项 {name} 需要一个值。",
        "Option {name} needs {n} values.": "选项 {name} 需要 {n} 个值。",
        "Option {name} takes no value.": "选项 {name} 不带值。",
        "Unexpected extra argument(s): {args}": "多余的参数：{args}",
        "Invalid value for {name}: {why}": "{name} 的值无效：{why}",
        "a whole number is expected": "应为整数",
        "a number is expected": "应为数字",
        "at least {n} is expected": "应不小于 {n}",
        "at most {n} is expected": "应不大于 {n}",
        "more than {n} is expected": "应大于 {n}",
        "less than {n} is expected": "应小于 {n}",
        "{value} is not one of {choices}": "{value} 不在可选值 {choices} 中",
        # the commands and their options
        "群主 qunzhu: run group-chat communities.": "群主 qunzhu：运营你的群。",
        "zh (default) or en; also $QUNZHU_LANG.": "zh（默认）或 en；也可用 $QUNZHU_LANG。",
        "Import chat exports into the store. Importing the same file again adds nothing.": (
            "把聊天导出文件导入数据库。同一文件再导入一次不会重复添加。"
        ),
        "Export files to import.": "要导入的导出文件。",
        "Put the groups in this community.": "把这些群放进这个社群。",
        "Zone of naive local times in the export.": "导出文件中不带时区的本地时间所属的时区。",
        "Database URL (default: $QUNZHU_DATABASE_URL or ./qunzhu.db).": (
            "数据库地址（默认：$QUNZHU_DATABASE_URL 或 ./qunzhu.db）。"
        ),
        "Machine-readable output.": "输出机器可读的格式。",
        "List every skipped row.": "列出每一条跳过的记录。",
        "List the groups in the store with their members and messages.": (
            "列出数据库中的群，以及成员数和消息数。"
        ),
        "Delete a member and everything they wrote (a member's right to be forgotten).": (
            "删除一位成员及其发过的全部内容（成员的被遗忘权）。"
        ),
        "The member's platform id (or display name).": "成员的平台 ID（或显示名）。",
        "Only members of this platform.": "只找这个平台的成员。",
        "Do not ask for confirmation.": "不再询问确认。",
        "Generate a demo community, import it, and open the console on it (log in as `demo`).": (
            "生成演示社群并导入，然后打开控制台（用 `demo` 登录）。"
        ),
        "Where to write the demo export.": "演示导出文件写到哪里。",
        "Messages in the whole community.": "整个社群的消息数。",
        "Number of groups.": "群的数量。",
        "Same seed on the same day, same community.": "同一天用同一个种子，生成的社群相同。",
        "Start the console afterwards.": "生成后启动控制台。",
        "The console's port.": "控制台的端口。",
        "How every group is doing and what to do next, with the numbers and the playbook rule.": (
            "每个群的情况和下一步该做什么，附数字和运营手册的规则。"
        ),
        "A group's name, id or platform id.": "群名、群编号或平台群 ID。",
        "Only this community's groups.": "只看这个社群的群。",
        "First day, YYYY-MM-DD (local).": "第一天，YYYY-MM-DD（本地时间）。",
        "Last day, YYYY-MM-DD (local).": "最后一天，YYYY-MM-DD（本地时间）。",
        "Time zone (default: each group's).": "时区（默认：各群自己的时区）。",
        "text, json or html.": "text、json 或 html。",
        "Write to a file.": "写入文件。",
        "Run the connectors and policies of qunzhu.toml until Ctrl-C; then finish what was "
        "received and send what is due before exiting.": (
            "运行 qunzhu.toml 中的连接器和策略，直到按下 Ctrl-C；退出前处理完已收到的事件，"
            "并发出到期的动作。"
        ),
        "The configuration file (default ./qunzhu.toml).": "配置文件（默认 ./qunzhu.toml）。",
        "Run stored history through the policies, sending nothing: what qunzhu would have "
        "deleted, warned, kicked and welcomed. Groups not in qunzhu.toml (or without one) get "
        "moderation in enforce mode and a welcome.": (
            "用策略回放已存的历史，不发出任何动作：看 qunzhu 本会删除、警告、移出和欢迎什么。"
            "不在 qunzhu.toml 中的群（或没有配置文件时）按执行模式审核，并有欢迎语。"
        ),
        "The content model file (made by `moderation train`).": (
            "内容模型文件（由 `moderation train` 生成）。"
        ),
        "Write one JSON line per message that got a decision.": ("每条有决定的消息写一行 JSON。"),
        "What waits for a person: actions a platform cannot do, messages that may or may not "
        "have gone out, actions the platform refused.": (
            "等人处理的事：平台做不到的动作、不确定是否已发出的消息、平台拒绝的动作。"
        ),
        "Mark this task handled (repeatable).": "把这项任务标为已处理（可重复）。",
        "Run the console (and, when qunzhu.toml names connectors, the engine with them).": (
            "运行控制台（qunzhu.toml 配置了连接器时，也一起运行引擎）。"
        ),
        "Address to bind (loopback by default).": "绑定的地址（默认只绑定本机回环地址）。",
        "Port.": "端口。",
        "Database maintenance.": "数据库维护。",
        "Bring the database schema up to date (also done automatically on first use).": (
            "把数据库结构升级到最新（首次使用时也会自动升级）。"
        ),
        "Catch ads and abuse, and say why.": "识别广告和辱骂，并说明理由。",
        "Judge one message: the verdict, its score and every check's result. With "
        "--community, as that community's groups judge it: its model, and the ads and "
        "contacts people confirmed in its groups (the store's answers).": (
            "判断一条消息：结论、分数和每项检查的结果。带 --community 时，按该社群的群来判断："
            "用它的模型，以及在它的群里经人确认过的广告和联系方式（数据库中的答复）。"
        ),
        "The message to judge.": "要判断的消息。",
        "A picture sent with it (repeatable): its QR codes and the text written in it are "
        "judged too.": "随消息发出的图片（可重复）：图中的二维码和文字也一起判断。",
        "The sender's display name, checked as at a join: an ad for a name (兼职日结 加V "
        "abc12345) makes the message a question at least.": (
            "发送者的显示名，按入群时的方式检查：名字是广告（兼职日结 加V abc12345）时，"
            "这条消息至少要交人确认。"
        ),
        "The sender's profile bio, checked as the name is.": "发送者的个人简介，和名字一样检查。",
        "Also ask the [language_model] of --config, as a group with second_opinion does, "
        "and show how its reading settles the decision (tries your setup).": (
            "像开启 second_opinion 的群一样，也询问 --config 的 [language_model]，"
            "并显示它的判断如何定下结论（用来试你的设置）。"
        ),
        "The community's name.": "社群名。",
        "Train the content model on labelled messages and save it: the file's, and those "
        "people labelled in the console's moderation queue (of --community's groups, when "
        "given); with --community, that community's own model on top of the shared one.": (
            "用已标注的消息训练内容模型并保存：文件中的，以及在控制台审核队列中由人标注的"
            "（给了 --community 时只取该社群的群）；带 --community 时，在共享模型之上训练"
            "该社群自己的模型。"
        ),
        "LABEL<TAB>TEXT file (1 remove, 0 keep).": "LABEL<TAB>TEXT 文件（1 删除，0 保留）。",
        "Precision, recall, F1, false-positive rate and speed on a labelled file.": (
            "在已标注文件上计算精确率、召回率、F1、误判率和速度。"
        ),
        "LABEL<TAB>TEXT file to measure on.": "用来测量的 LABEL<TAB>TEXT 文件。",
        "Train the content model on this file first.": "先用这个文件训练内容模型。",
        "Also ask the [language_model] of --config about what a group with second_opinion = "
        '"questions" would (with --veto, "veto"), and give the figures with and without it: '
        "what the model would change on your labelled messages.": (
            "也询问 --config 的 [language_model]："
            '问 second_opinion = "questions" 的群会问的消息（带 --veto 时按 "veto"），'
            "并给出有它和没有它的数字：看语言模型会在你的已标注消息上改变什么。"
        ),
        "With --ask-model: the content model's removals too.": (
            "与 --ask-model 一起用：内容模型要删除的消息也去问。"
        ),
        "The qunzhu.toml file: communities, groups, connectors, policies.": (
            "qunzhu.toml 配置文件：社群、群、连接器、策略。"
        ),
        "Check the file, the secrets it names in the environment and the models it points "
        "to.": "检查配置文件、它在环境变量中引用的密钥，以及它指向的模型。",
        "Write a starting qunzhu.toml: the console connector and a trial group with every "
        "policy on (`qunzhu run` then lets you try them in the terminal).": (
            "写一份起步用的 qunzhu.toml：控制台连接器和一个开启全部策略的试用群"
            "（之后用 `qunzhu run` 在终端里试用）。"
        ),
        "Tags operators give members.": "运营给成员打的标签。",
        "Give a member tags (admission rules can approve or reject by them).": (
            "给成员打标签（入群规则可以按标签通过或拒绝）。"
        ),
        "Tags to give.": "要打的标签。",
        "Take tags away from a member.": "去掉成员的标签。",
        "Tags to take away.": "要去掉的标签。",
        "A member's tags.": "成员的标签。",
        "Who is kept out of a community's groups.": "社群黑名单：不许进入社群各群的人。",
        "Keep members out of every group of a community (all or none are added).": (
            "不许这些成员进入社群的任何群（要么全部加入，要么一个都不加）。"
        ),
        "Platform ids (or display names).": "平台 ID（或显示名）。",
        "Why they are kept out.": "拉黑的原因。",
        "Their platform; with it, ids the store has not met are blocked too.": (
            "他们所在的平台；指定后，数据库里还没见过的 ID 也会被拉黑。"
        ),
        "Let members back into a community's groups.": "允许成员重新进入社群的群。",
        "Who is on the blocklists, why, since when and on whose word (newest first).": (
            "黑名单上有谁、原因、时间和由谁决定（最新的在前）。"
        ),
        "Only this community.": "只看这个社群。",
        "Who may log in to the console.": "可以登录控制台的用户。",
        "Let someone log in to the console.": "允许某人登录控制台。",
        "The login name.": "登录名。",
        "admin, operator or viewer.": "admin（管理员）、operator（运营）或 viewer（只读）。",
        "A community they work in (repeat).": "其负责的社群（可重复）。",
        "Read the password from standard input.": "从标准输入读取密码。",
        "Everyone who may log in, with their role and communities.": (
            "所有可以登录的用户，及其角色和社群。"
        ),
        "Set a new password; the user's open sessions end.": (
            "设置新密码；该用户已登录的会话随之结束。"
        ),
        "A personal API token (Authorization: Bearer ...); shown once.": (
            "个人 API 令牌（Authorization: Bearer ...）；只显示一次。"
        ),
        "What the token is for.": "令牌的用途。",
    }
)
