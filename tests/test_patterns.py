"""Operators' patterns read names members choose: they must answer in bounded time."""

from __future__ import annotations

import time

import pytest

from qunzhu import patterns


def test_the_default_pattern_and_unicode_classes_read_chinese_names() -> None:
    default = patterns.compile_bounded(r"[^-\s]+-[^-\s]+-[^-\s]+")
    assert patterns.fullmatch(default, "上海-保险-王五") is True
    assert patterns.fullmatch(default, "王五") is False
    words = patterns.compile_bounded(r"\w+-\w+-\w+")  # \w is Unicode, as in Python's re
    assert patterns.fullmatch(words, "上海-保险-王五") is True
    # the pattern behind the stall: `re` alone takes seconds on a name like this one
    dashed = patterns.compile_bounded(r"(\w+-?)+")
    assert patterns.fullmatch(dashed, "张三李四" * 10 + "!") is False


@pytest.mark.parametrize("source", [r"(\w|\w\w)+", r"(a|aa)+", r"(张|张.)+-x"])
def test_a_pattern_that_backtracks_is_refused_when_read(source: str) -> None:
    with pytest.raises(patterns.SlowPattern) as caught:
        patterns.compile_bounded(source)
    assert caught.value.length >= patterns.PROBE_LENGTH


def test_a_name_the_pattern_cannot_decide_on_in_time_is_not_decided() -> None:
    # no probe holds an x, so this pattern passes when read and is slow only on such names
    sly = patterns.compile_bounded(r"(x|xx)+")
    assert patterns.fullmatch(sly, "xxxx") is True
    started = time.perf_counter()
    assert patterns.fullmatch(sly, "x" * 60 + "!") is None
    assert time.perf_counter() - started < 20 * patterns.MATCH_TIMEOUT_S  # not minutes


def test_bad_syntax_is_the_regex_error() -> None:
    with pytest.raises(patterns.regex.error):
        patterns.compile_bounded("([")
