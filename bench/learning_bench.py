"""How many answers in the moderation queue a community needs before its learnt model helps,
and what training it costs (issue 5: "an admin's spam / not spam feeds the model").

A community is simulated from a labelled corpus in ../shared/data (not shipped): 30% of it is
held out to measure on; of the rest, the normal messages are the community's ordinary chat
(stored as messages, with --unnoticed percent, 1 unless told, of spam mixed in: ads that
slipped through), and N spam messages are answers that said spam, N/5 normal ones answers that said
not spam. `learning.train_community` trains from that store exactly as the running engine's
learner does; the detector with the learnt model is measured on the held-out part against the
detector without a model (words and contacts only).

    uv run python bench/learning_bench.py [--corpus tg_group_zh.train]
        [--answers 30,50,100,300,1000] [--unnoticed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))  # the tests' helper that stores a labelled decision


def main() -> None:
    from qunzhu.moderation.engine import Detector
    from qunzhu.moderation.evaluate import evaluate, read_tsv, spam_only
    from qunzhu.moderation.learning import train_community
    from qunzhu.moderation.model import ContentModel

    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="tg_group_zh.train")
    parser.add_argument("--answers", default="30,50,100,300,1000")
    parser.add_argument(
        "--unnoticed", type=float, default=1.0, help="percent of ordinary messages that are spam"
    )
    args = parser.parse_args()
    path = DATA / "spam" / f"{args.corpus}.tsv"
    if not path.exists():
        sys.exit(f"{path} is absent: the corpora are reference material, not shipped")
    texts, labels = read_tsv(path)
    rows = list(zip(texts, labels, strict=True))
    random.Random(0).shuffle(rows)
    cut = int(len(rows) * 0.3)
    held, rest = rows[:cut], rows[cut:]
    normal = [t for t, y in rest if y == 0]
    spam = [t for t, y in rest if y == 1]
    held_texts, held_labels = [t for t, _ in held], [y for _, y in held]
    plain = evaluate(Detector(), held_texts, held_labels, spam_only)
    print(
        f"corpus {args.corpus}: held out {len(held):,}, ordinary {len(normal):,}, "
        f"{args.unnoticed:g}% of them unnoticed spam"
    )
    print("| answers (spam / not spam) | ordinary messages | train s | P | R | F1 | FPR |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| none (words and contacts) | – | – | {plain.precision:.4f} | {plain.recall:.4f} | "
        f"{plain.f1:.4f} | {plain.fpr:.4f} |"
    )
    for n in [int(x) for x in args.answers.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'c.db'}"
            unnoticed = spam[n : n + int(len(normal) * args.unnoticed / 100)]
            store(url, normal[n // 5 :] + unnoticed, spam[:n], normal[: n // 5])
            target = Path(tmp) / "c.model"
            start = time.perf_counter()
            learnt = train_community(url, "c", None, target, now_ms())
            took = time.perf_counter() - start
            if not learnt.trained:
                print(f"| {n} / {n // 5} | {learnt.ordinary:,} | {took:.1f} | not trained |||")
                continue
            s = evaluate(
                Detector(model=ContentModel.load(target)), held_texts, held_labels, spam_only
            )
            print(
                f"| {n} / {n // 5} | {learnt.ordinary:,} | {took:.1f} | {s.precision:.4f} | "
                f"{s.recall:.4f} | {s.f1:.4f} | {s.fpr:.4f} |",
                flush=True,
            )


def now_ms() -> int:
    return int(time.time() * 1000)


def store(url: str, ordinary: list[str], spam: list[str], ham: list[str]) -> None:
    """A community "c" with one group: `ordinary` as messages of the last days, and one
    labelled moderation decision per answer."""
    from tests.conftest import labelled_decision

    from qunzhu.model import Group, Message, MessageKind, Person, Platform
    from qunzhu.store import db
    from qunzhu.store import schema as t
    from qunzhu.store.ingest import Ingest

    engine = db.open_store(url)
    now = datetime.now(UTC)
    records: list[Group | Message] = [Group(Platform.TELEGRAM, "-1", "c")]
    records += [
        Message(
            f"o{i}",
            Person(f"u{i % 50}", f"u{i % 50}"),
            now - timedelta(minutes=i),
            MessageKind.TEXT,
            text,
        )
        for i, text in enumerate(ordinary)
    ]
    with engine.begin() as conn:
        Ingest(conn, "bench", "memory", community="c").run(records)
        group = conn.execute(t.groups.select()).first().id
        answers = [("spam", x) for x in spam] + [("ham", x) for x in ham]
        for i, (label, text) in enumerate(answers):
            labelled_decision(conn, group, label, text, f"a{i}", i)
    engine.dispose()


if __name__ == "__main__":
    main()
