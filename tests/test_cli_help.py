"""The command line's help reads in Chinese by default and in English when asked, whole."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from qunzhu import i18n
from qunzhu.cli import app

runner = CliRunner()
_NAMES_ONLY = re.compile(r"[a-z0-9-]+(?:, [a-z0-9-]+)+")  # "auto, telegram, …": said as is


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def _helps(command: Any) -> list[str]:
    found = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
    for sub in getattr(command, "commands", {}).values():
        found += _helps(sub)
    return [" ".join(h.split()) for h in found if h]


COMMANDS = _commands(typer.main.get_command(app))


def test_every_help_text_has_chinese() -> None:
    helps = _helps(typer.main.get_command(app))  # English: as written, before a run
    assert len(helps) > 80
    missing = [h for h in helps if h not in i18n.ZH and not _NAMES_ONLY.fullmatch(h)]
    assert missing == []


def test_chinese_by_default_english_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUNZHU_LANG")
    zh = runner.invoke(app, ["demo", "--help"])
    assert zh.exit_code == 0, zh.output
    assert "生成演示社群并导入" in zh.output
    assert "演示导出文件写到哪里" in zh.output  # an option's help
    assert "选项" in zh.output and "显示此帮助并退出" in zh.output  # Typer's own words
    assert "用法：" in zh.output and "Usage:" not in zh.output
    assert "Where to write" not in zh.output
    en = runner.invoke(app, ["--lang", "en", "demo", "--help"])
    assert "Generate a demo community" in en.output
    assert "Where to write" in en.output
    assert "Options" in en.output and "Show this message and" in en.output
    assert "Usage: " in en.output
    assert "演示" not in en.output
    again = runner.invoke(app, ["--lang=zh", "--help"])  # the root's own help, either spelling
    assert "运营你的群" in again.output and "命令" in again.output


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "qunzhu")
def test_no_help_line_is_cut_short(
    path: tuple[str, ...], lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rich wraps only at spaces and cuts a longer run with "…": Chinese, which has no
    spaces, must still wrap in an 80-column terminal."""
    monkeypatch.setenv("QUNZHU_LANG", lang)
    result = runner.invoke(app, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "…" not in result.output


def test_brackets_in_help_are_shown_not_read_as_styles() -> None:
    result = runner.invoke(app, ["moderation", "check", "--help"])
    assert "[language_model]" in result.output


@pytest.mark.parametrize(
    ("args", "chinese", "english"),
    [
        (["demoo"], "没有命令 'demoo'。你是不是想用 'demo'？", "Did you mean 'demo'?"),
        (["demo", "--nope"], "没有选项 --nope", "No such option: --nope"),
        (["demo", "--messages", "abc"], "'--messages' 的值无效：应为整数", "a whole number"),
        (["demo", "--messages", "-1"], "应不小于 0", "at least 0 is expected"),
        (["report", "--format", "xyz"], "'xyz' 不在可选值", "'xyz' is not one of"),
        (["demo", "--port"], "选项 '--port' 需要一个值。", "Option '--port' needs a value."),
        (["groups", "extra"], "多余的参数：extra", "Unexpected extra argument(s): extra"),
        (["tags", "add"], "缺少参数 'member'。", "Missing argument 'member'."),
        (["groups", "--json=1"], "选项 '--json' 不带值。", "Option '--json' takes no value."),
    ],
)
def test_mistakes_in_the_arguments_are_said_in_the_readers_language(
    args: list[str], chinese: str, english: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    said = runner.invoke(app, args, terminal_width=200)
    assert said.exit_code == 2
    assert chinese in said.output and "错误" in said.output
    monkeypatch.setenv("QUNZHU_LANG", "en")
    said = runner.invoke(app, args, terminal_width=200)
    assert said.exit_code == 2
    assert english in said.output and "Error" in said.output


def _row(output: str, option: str) -> str:
    """The help's line for `option`, its frame and spacing left out."""
    line = next(line for line in output.splitlines() if f" {option} " in line)
    return " ".join(line.strip("│ ").split())


def test_what_each_option_takes_is_said_in_the_readers_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Typer names the kind of value in Python's words ("<str>", "<list[Path]>") and shows
    "<bool>" beside a flag, which takes no value: "--help <bool>" reads as if it took one."""
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    zh = runner.invoke(app, ["moderation", "check", "--help"], terminal_width=200).output
    assert _row(zh, "--picture").startswith("--picture <路径>... 随消息发出的图片")
    assert _row(zh, "--name").startswith("--name <文本> 发送者的显示名")
    assert _row(zh, "--json") == "--json 输出机器可读的格式。"
    assert _row(zh, "--help") == "--help 显示此帮助并退出。"
    assert "moderation check [选项] [text]" in zh and "用法：" in zh
    assert "<bool>" not in zh and "<str>" not in zh
    demo = runner.invoke(app, ["demo", "--help"], terminal_width=200).output
    assert _row(demo, "--port").startswith("--port <整数> [1<=x<=65535] 控制台的端口")
    assert " [选项] 命令 [参数]..." in runner.invoke(app, ["--help"]).output
    monkeypatch.setenv("QUNZHU_LANG", "en")
    en = runner.invoke(app, ["moderation", "check", "--help"], terminal_width=200).output
    assert _row(en, "--picture").startswith("--picture <path>... A picture sent with it")
    assert _row(en, "--json") == "--json Machine-readable output."
    assert "moderation check [OPTIONS] [text]" in en
