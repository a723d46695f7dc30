"""Labelled files in, the figures the issue asks for out: precision, recall, F1, false-positive
rate and throughput, computed the same way for every corpus."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qunzhu.i18n import os_reason, tr
from qunzhu.moderation.engine import SPAM, Detector

REMOVE = 1  # label of messages to remove; 0: normal


class DataError(Exception):
    """A labelled file we cannot read; the message names the file and the line."""


def read_tsv(path: Path) -> tuple[list[str], list[int]]:
    """`LABEL<TAB>TEXT` a line, LABEL 1 (remove) or 0 (normal); blank lines are skipped. A
    byte-order mark is read past: Windows editors and Excel's "UTF-8" save one."""
    texts: list[str] = []
    labels: list[int] = []
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                label, tab, text = line.partition("\t")
                if not tab or label.strip() not in ("0", "1"):
                    raise DataError(
                        tr(
                            "{path}: line {n}: expected LABEL<TAB>TEXT with LABEL 0 or 1",
                            path=path,
                            n=number,
                        )
                    )
                labels.append(int(label))
                texts.append(text)
    except OSError as exc:
        raise DataError(f"{path}: {os_reason(exc)}") from None
    if not texts:
        raise DataError(tr("{path}: no labelled lines", path=path))
    return texts, labels


@dataclass
class Scores:
    n: int
    precision: float
    recall: float
    f1: float
    fpr: float
    msgs_per_s: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(self).items()}


def evaluate(
    detector: Detector, texts: Sequence[str], labels: Sequence[int], flagged: Callable[[str], bool]
) -> Scores:
    """Score `detector` on labelled texts; `flagged(verdict)` says which verdicts count as
    "remove" (spam only, or spam and review)."""
    start = time.perf_counter()
    decisions = detector.check_many(texts)
    elapsed = time.perf_counter() - start
    return score([d.verdict for d in decisions], labels, flagged, elapsed)


def score(
    verdicts: Sequence[str], labels: Sequence[int], flagged: Callable[[str], bool], elapsed: float
) -> Scores:
    """The figures for these verdicts on these labels, `elapsed` seconds having made them."""
    tp = fp = fn = tn = 0
    for verdict, label in zip(verdicts, labels, strict=True):
        hit = flagged(verdict)
        if label == REMOVE:
            tp, fn = tp + hit, fn + (not hit)
        else:
            fp, tn = fp + hit, tn + (not hit)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        n=len(verdicts),
        precision=precision,
        recall=recall,
        f1=f1,
        fpr=fp / (fp + tn) if fp + tn else 0.0,
        msgs_per_s=len(verdicts) / elapsed if elapsed else 0.0,
    )


def spam_only(verdict: str) -> bool:
    return verdict == SPAM
