"""Chinese first: every sentence passed to tr() in the code has a Chinese translation."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import qunzhu
from qunzhu import i18n
from qunzhu.i18n import tr

SRC = Path(qunzhu.__file__).parent


def templates() -> list[tuple[str, str]]:
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "tr"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.append((f"{path.relative_to(SRC)}:{node.lineno}", node.args[0].value))
    for path in SRC.rglob("templates/*.html"):  # the console's pages call tr() too
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r'\btr\(\s*"([^"]+)"', text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(SRC)}:{line}", match.group(1)))
    return found


def import_all() -> None:
    """Modules register their own texts on import: load every one of them."""
    for info in pkgutil.walk_packages(qunzhu.__path__, "qunzhu."):
        importlib.import_module(info.name)


def test_every_template_has_chinese() -> None:
    import_all()
    found = templates()
    assert len(found) > 30
    missing = [f"{where}: {text}" for where, text in found if text not in i18n.ZH]
    assert missing == []


def test_sentences_kept_in_constants_have_chinese() -> None:
    """What members are told is kept in constants, which the scan above cannot see."""
    from qunzhu.connectors import APPEAL_HOW
    from qunzhu.engine.policies import CIVIL, NO_ADS
    from qunzhu.web.moderation import APPEAL_ANSWERS

    import_all()
    for text in (APPEAL_HOW, CIVIL, NO_ADS, *APPEAL_ANSWERS.values()):
        assert text in i18n.ZH, text


def test_no_two_modules_translate_one_text_differently() -> None:
    import_all()
    assert i18n.CONFLICTS == []


def test_language_switch(monkeypatch) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    assert tr("no such file") == "文件不存在"
    monkeypatch.setenv("QUNZHU_LANG", "en")
    assert tr("message {i}", i=3) == "message 3"


LEVELS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
LOGGERS = {"log", "logger", "_log", "logging"}


def _is_logger(node: ast.expr) -> bool:
    """`log`, `logger`, `logging` or `logging.getLogger(...)`."""
    if isinstance(node, ast.Name):
        return node.id in LOGGERS
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "getLogger"
    )


def _words(message: ast.expr) -> str:
    """The text of a literal message (an f-string's fixed parts), else ''."""
    if isinstance(message, ast.Constant) and isinstance(message.value, str):
        text = message.value
    elif isinstance(message, ast.JoinedStr):
        text = "".join(
            part.value
            for part in message.values
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
        )
    else:
        return ""
    return re.sub(r"%[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc%]", "", text)


def bare_log_messages() -> list[str]:
    """Log calls whose message is a literal with words in it, not a tr() sentence."""
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LEVELS
                and _is_logger(node.func.value)
            ):
                continue
            level = node.func.attr
            if level == "debug":  # for whoever reads the code, not the operator
                continue
            args = node.args[1:] if level == "log" else node.args
            if args and re.search(r"[^\W\d_]", _words(args[0])):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: log.{level}")
    return found


def test_log_lines_are_translated() -> None:
    """The operator reads the log of `qunzhu run` too: its lines go through tr()."""
    assert bare_log_messages() == []
