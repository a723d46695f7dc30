"""How long an operator's nickname pattern takes on a member's name, with `re` and bounded.

A pattern that backtracks stalls the event path for as long as one name takes. For each
pattern this prints the seconds Python's `re` takes on names of growing length that do not
fit (stopping once one takes a second), against `qunzhu.patterns` on the same names and on
a 64-character one, and the default pattern's time on an ordinary name as the floor. Whether
the settings accept the pattern is printed too.

    uv run python bench/patterns_bench.py
"""

from __future__ import annotations

import re
import time

from qunzhu import patterns

SLOW = (r"(\w+-?)+", r"(\S+)+-\S+-\S+", r"([^-]+)+-[^-]+-[^-]+", r"(\w|\w\w)+")
DEFAULT = r"[^-\s]+-[^-\s]+-[^-\s]+"


def name(length: int) -> str:
    return ("张三李四王五赵六" * 10)[:length] + "!"


def seconds(match, text: str, times: int = 1) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(times):
        match(text)
    return (time.perf_counter() - start) / times


def main() -> None:
    ordinary = "上海-保险-王五"
    floor = seconds(re.compile(DEFAULT).fullmatch, ordinary, 10_000)
    default = patterns.compile_bounded(DEFAULT)
    ours = seconds(lambda s: patterns.fullmatch(default, s), ordinary, 10_000)
    print(
        f"the default pattern on {ordinary}: `re` {floor * 1e6:.2f} µs (the floor), "
        f"bounded {ours * 1e6:.2f} µs (ratio {ours / floor:.1f})\n"
    )
    print("| pattern | name length | `re`, s | bounded, s | settings |\n|---|---:|---:|---:|---|")
    for source in SLOW:
        try:
            bounded = patterns.compile_bounded(source)
            verdict = "accepted"
        except patterns.SlowPattern as exc:
            bounded = patterns.regex.compile(source)
            verdict = f"refused (slow on {exc.length} characters)"
        slow, stalled = re.compile(source), False
        for length in (16, 20, 24, 28, 64):
            took = None if stalled or length > 28 else seconds(slow.fullmatch, name(length))
            stalled = stalled or (took is not None and took > 1)
            ours = seconds(lambda s, p=bounded: patterns.fullmatch(p, s), name(length))
            shown = "(not run)" if took is None else f"{took:.3f}"
            print(f"| `{source}` | {length} | {shown} | {ours:.4f} | {verdict} |")


if __name__ == "__main__":
    main()
