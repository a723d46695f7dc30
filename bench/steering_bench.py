"""How often ordinary messages look like they speak to a language model reviewing them.

`opinion.steering` keeps a model's "normal" from sparing a message that tells its reviewer
what to answer (prompt injection). Every message it finds sends a question to a person that
the model could have spared, so its cost is the share of real messages it finds; it runs only
on a model's answers, so its time is beside the event path. This reads every corpus in
../shared/data (not shipped) and the LCCC chat lines, and prints, per file, how many
messages it found and the microseconds a message took.

    uv run python bench/steering_bench.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from qunzhu.moderation import opinion
from qunzhu.moderation.verdicts import REVIEW, Decision

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def texts(path: Path) -> list[str]:
    """The messages of a `LABEL<TAB>TEXT` file, or of a file of one message a line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[1] if "\t" in line else line for line in lines if line]


def main() -> None:
    files = [*sorted((DATA / "spam").glob("*.tsv")), DATA / "chat" / "lccc_zh_utterances.txt"]
    if not all(f.exists() for f in files):
        sys.exit(f"no corpora under {DATA}: this bench reads ../shared/data")
    print("| file | messages | found | µs a message |\n|---|---:|---:|---:|")
    for path in files:
        said = texts(path)
        start = time.perf_counter()
        found = [s for s in said if opinion.steering(Decision(REVIEW, 0.5, (), s))]
        micros = (time.perf_counter() - start) / len(said) * 1e6
        print(f"| {path.name} | {len(said):,} | {len(found)} | {micros:.0f} |")
        for text in found[:5]:
            print(f"|   {text[:60]} | | | |")


if __name__ == "__main__":
    main()
