"""Regular expressions an operator writes (a group's nickname rule), matched in bounded time.

Members choose the text these patterns read, and Python's `re` backtracks: `(\\w+-?)+`, a
natural way to write "words joined by dashes", takes a second on a 24-character name that does
not fit and twice as long for every character more, while the event path waits. The `regex`
package reads the same syntax (`\\w` still matches 张三, which RE2's ASCII classes do not),
answers most such patterns without backtracking at all, and stops any match after a time
limit. A pattern is also tried on names built to make it backtrack when the settings are read,
so that the operator learns of a slow pattern then, not from a stalled group.
"""

from __future__ import annotations

import regex

MATCH_TIMEOUT_S = 0.05  # per name; a fitting name takes microseconds
PROBE_LENGTH = 40  # Telegram names run to 64 + 64 characters, QQ group cards to 60 bytes

# runs of one kind of character with an ending that spoils the match: where backtracking
# blows up, it does on such names
_PROBES = tuple(
    run * (PROBE_LENGTH // len(run)) + end
    for run in ("a", "张", "1", "a-", "张-", "a ", "张 ", "a.", "_")
    for end in ("", "!", "-", " ")
)

Pattern = regex.Pattern


class SlowPattern(ValueError):
    """The pattern could not decide on a name within the time limit."""

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length


def compile_bounded(source: str) -> Pattern:
    """The compiled pattern; `regex.error` where it is not one, `SlowPattern` where it
    backtracks on a name of PROBE_LENGTH characters or so."""
    pattern = regex.compile(source)
    for probe in _PROBES:
        if fullmatch(pattern, probe) is None:
            raise SlowPattern(len(probe))
    return pattern


def fullmatch(pattern: Pattern, text: str) -> bool | None:
    """Whether all of `text` fits; None where the time limit ran out first."""
    try:
        return pattern.fullmatch(text, timeout=MATCH_TIMEOUT_S) is not None
    except TimeoutError:
        return None
