"""Moderation quality and speed on the labelled corpora in ../shared/data (not shipped).

Quality: stratified 5-fold cross-validation of the whole detector (normaliser, contacts and
words, content model trained on the other folds) on each training corpus; a message counts as
removed when the verdict is `spam`. Out of the box (no model): recall on the FBS spam SMS with
their placeholders turned back into realistic values, and the false-positive rate on ordinary
LCCC chat. Speed: messages per second through all text layers in batches, p99 of single-message
checks, the time to load a saved model, and the process's peak memory; and messages per
second with the spam bank of a community whose people confirmed 1,000 ads (their texts, and
the contacts they gave, which are then searched for in every message).

    uv run python bench/moderation_bench.py [--folds 5] [--limit 0] [--speed-only]
        [--seed 0] [--corpus NAME]   # other folds; one corpus's quality run only
    uv run python bench/moderation_bench.py --no-model
    uv run python bench/moderation_bench.py --obfuscate [--corpus NAME] [--seed 0]

`--no-model`: what a group gets before anyone trained anything, on each training corpus and
on LCCC: the share of spam called spam, and of normal messages called spam or review, with
the built-in lists, and beside it, in the same run, without the abuse list.

`--obfuscate`: the content model trained on 80% of each corpus as written; of the held-out
spam it calls spam, the share it still calls spam once each message is rewritten the ways
ads disguise themselves (full-width, zero-width and other fillers, spaced and dotted,
traditional characters, look-alike letters, circled, mathematical and Chinese digits,
emoji, three of these at once), and the share of held-out normal messages called spam once
rewritten the same way.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPORA = ["tg_group_zh.train", "sms_zh.train", "game_chat_zh.train"]
PLACEHOLDERS = {  # FBS replaced these with tags; put plausible values back
    "CELLPHONE": "13812345678",
    "PHONE": "021-62345678",
    "URL": "http://t.cn/a8Kx2",
    "DIGIT": "88",
    "MONEY": "5000元",
    "DATE": "9月1日",
    "TIME": "12:30",
    "EMAIL": "kf@example.com",
    "QQ": "QQ 123456789",
    "WECHAT": "微信 abc12345",
    "HOTLINE": "400-820-8820",
    "BANK": "工商银行",
    "NAME": "王经理",
    "PLACE": "浦东",
}


def corpus(name: str, limit: int) -> tuple[list[str], list[int]]:
    from qunzhu.moderation.evaluate import read_tsv

    texts, labels = read_tsv(DATA / "spam" / f"{name}.tsv")
    if limit and len(texts) > limit:
        rng = random.Random(0)
        keep = sorted(rng.sample(range(len(texts)), limit))
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    return texts, labels


def cross_validate(
    texts: list[str], labels: list[int], folds: int, seed: int = 0
) -> dict[str, float]:
    from sklearn.model_selection import StratifiedKFold

    from qunzhu.moderation.engine import Detector
    from qunzhu.moderation.evaluate import evaluate, spam_only
    from qunzhu.moderation.model import ContentModel

    totals: dict[str, float] = defaultdict(float)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, labels):
        model = ContentModel.train([texts[i] for i in train], [labels[i] for i in train])
        totals["bank kept"] += model.neighbours is not None  # in how many folds
        scores = evaluate(
            Detector(model=model), [texts[i] for i in test], [labels[i] for i in test], spam_only
        )
        for key, value in scores.as_dict().items():
            totals[key] += value / folds
    return dict(totals)


READERS = (1.0, 0.95, 0.9, 0.8)  # shares of questions a language model reads right


def questions(texts: list[str], labels: list[int], folds: int, seed: int = 0) -> dict[str, float]:
    """What a second opinion could do (`--questions`): the same folds, and for each the
    detector's questions (`review`) and the spam among them; then precision, recall, F1 and FPR
    if a reader got a share p of the questions right (a spam question it reads right is
    removed, a normal one it reads wrong is removed too: `opinion.settle` on the questions, in
    expectation). p = 1 is the ceiling; no real model is asked here."""
    from sklearn.model_selection import StratifiedKFold

    from qunzhu.moderation.engine import Detector
    from qunzhu.moderation.model import ContentModel

    totals: dict[str, float] = defaultdict(float)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, labels):
        model = ContentModel.train([texts[i] for i in train], [labels[i] for i in train])
        decisions = Detector(model=model).check_many([texts[i] for i in test])
        tp = fp = fn = tn = q_spam = q_normal = 0
        for decision, i in zip(decisions, test, strict=True):
            spam, removed = labels[i] == 1, decision.verdict == "spam"
            tp, fn = tp + (spam and removed), fn + (spam and not removed)
            fp, tn = fp + (not spam and removed), tn + (not spam and not removed)
            q_spam += spam and decision.verdict == "review"
            q_normal += not spam and decision.verdict == "review"
        totals["questions"] += (q_spam + q_normal) / len(test) / folds
        totals["spam among them"] += q_spam / max(q_spam + q_normal, 1) / folds
        for p in (0.0, *READERS):  # 0.0: the detector alone (its questions not removed)
            t_p, f_n = tp + p * q_spam, fn - p * q_spam
            f_p, t_n = fp + (1 - p) * q_normal * (p > 0), tn - (1 - p) * q_normal * (p > 0)
            precision = t_p / (t_p + f_p) if t_p + f_p else 0.0
            recall = t_p / (t_p + f_n) if t_p + f_n else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            totals[f"f1 {p}"] += f1 / folds
            totals[f"fpr {p}"] += f_p / (f_p + t_n) / folds
    return dict(totals)


def out_of_the_box() -> tuple[dict[str, float], float]:
    from qunzhu.moderation.engine import SPAM, Detector

    detector = Detector()
    caught: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for line in (DATA / "spam" / "fbs_sms_zh_14cat.tsv").open(encoding="utf-8"):
        category, _, text = line.rstrip("\n").partition("\t")
        for tag, value in PLACEHOLDERS.items():
            text = text.replace(tag, value)
        text = text.replace(" ", "")  # the corpus is word-segmented with spaces
        seen[category] += 1
        caught[category] += detector.check(text).verdict == SPAM
    recall = {c: caught[c] / seen[c] for c in sorted(seen)}
    chat = [t.strip() for t in (DATA / "chat" / "lccc_zh_utterances.txt").open(encoding="utf-8")]
    false = sum(d.verdict == SPAM for d in detector.check_many(chat))
    return recall, false / len(chat)


CHECKER = """
import sys, time
from pathlib import Path
from qunzhu.moderation.engine import Detector
from qunzhu.moderation.model import ContentModel
texts = Path(sys.argv[2]).read_text(encoding="utf-8").split("\\n")
start = time.perf_counter()
detector = Detector(model=ContentModel.load(Path(sys.argv[1])))
detector.check_many(texts)
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(int(peak) / 1024, time.perf_counter() - start)  # ru_maxrss would count the parent's
"""


REPEATS = 3
BANKED = 1_000


def speed(texts: list[str], labels: list[int]) -> dict[str, float]:
    """Through all text layers in batches, against a floor measured on the same texts in the
    same run: scikit-learn's character 1-4-gram TfidfVectorizer alone (no normalising, no
    contacts, no model), the plain baseline the issue describes."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from qunzhu.moderation.behaviour import SpamBank
    from qunzhu.moderation.engine import Detector
    from qunzhu.moderation.model import ContentModel
    from qunzhu.moderation.normalize import normalize

    model = ContentModel.train(texts, labels)
    batch = texts[:20_000]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.model"
        model.save(path)
        start = time.perf_counter()
        loaded = ContentModel.load(path)
        load_s = time.perf_counter() - start
        (Path(tmp) / "texts").write_text("\n".join(batch), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-c", CHECKER, str(path), str(Path(tmp) / "texts")],
            capture_output=True,
            text=True,
            check=True,
        )
        checker_mb = float(done.stdout.split()[0])
    detector = Detector(model=loaded)
    # a community whose people confirmed BANKED ads: their texts and contacts in its bank
    bank = SpamBank()
    for text in [t for t, label in zip(texts, labels, strict=True) if label][:BANKED]:
        bank.add(normalize(text))
    banked = Detector(model=loaded, bank=bank)
    floor = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True, min_df=2)
    floor.fit(texts)
    per_s = floor_per_s = banked_per_s = 0.0
    for _ in range(REPEATS):  # alternating, best of each: the machine is shared and noisy
        start = time.perf_counter()
        detector.check_many(batch)
        per_s = max(per_s, len(batch) / (time.perf_counter() - start))
        start = time.perf_counter()
        floor.transform(batch)
        floor_per_s = max(floor_per_s, len(batch) / (time.perf_counter() - start))
        start = time.perf_counter()
        banked.check_many(batch)
        banked_per_s = max(banked_per_s, len(batch) / (time.perf_counter() - start))
    single = []
    for text in texts[:2_000]:
        start = time.perf_counter()
        detector.check(text)
        single.append(time.perf_counter() - start)
    single.sort()
    return {
        "batch msgs/s": per_s,
        "floor msgs/s (TfidfVectorizer.transform alone)": floor_per_s,
        "ratio to floor": per_s / floor_per_s,
        f"batch msgs/s with a bank of {BANKED:,} confirmed ads ({len(bank):,} texts and "
        "contacts)": banked_per_s,
        "p99 ms": single[int(len(single) * 0.99)] * 1000,
        "model load s": load_s,
        "peak MB of a process that loads the model and checks the batch": checker_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=0, help="rows per corpus (0: all)")
    parser.add_argument("--speed-only", action="store_true", help="skip the quality runs")
    parser.add_argument("--seed", type=int, default=0, help="how the folds are drawn")
    parser.add_argument("--corpus", choices=CORPORA, help="only this corpus's quality run")
    parser.add_argument("--no-model", action="store_true", help="the built-in lists only")
    parser.add_argument(
        "--questions", action="store_true", help="what reading the questions right could add"
    )
    parser.add_argument(
        "--obfuscate", action="store_true", help="spam caught, caught again once disguised"
    )
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is absent: these corpora are reference material, not shipped")
    if args.no_model:
        without_model()
        return
    if args.obfuscate:
        disguised(args.seed, [args.corpus] if args.corpus else CORPORA[:2])
        return
    if args.questions:
        print(
            "| corpus | questions | spam among them | alone F1 (FPR) | "
            + " | ".join(f"reader right in {p:.0%}" for p in READERS)
            + " |"
        )
        print("|---|---:|---:|---:|" + "---:|" * len(READERS))
        for name in [args.corpus] if args.corpus else CORPORA:
            texts, labels = corpus(name, args.limit)
            q = questions(texts, labels, args.folds, args.seed)
            cells = [f"{q[f'f1 {p}']:.4f} ({q[f'fpr {p}']:.2%})" for p in (0.0, *READERS)]
            print(
                f"| {name} | {q['questions']:.2%} | {q['spam among them']:.0%} | "
                + " | ".join(cells)
                + " |",
                flush=True,
            )
        return
    if not args.speed_only:
        quality(args.folds, args.limit, args.seed, [args.corpus] if args.corpus else CORPORA)
        if args.corpus:
            return
    for name in ("tg_group_zh.train", "sms_zh.train"):  # short chat lines, long SMS
        texts, labels = corpus(name, 0)
        for key, value in speed(texts, labels).items():
            print(f"{name} {key}: {value:,.3f}")
    print(f"peak MB: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def quality(folds: int, limit: int, seed: int, names: list[str]) -> None:
    print("| corpus | n | precision | recall | F1 | FPR | msgs/s (eval) | bank kept |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        texts, labels = corpus(name, limit)
        s = cross_validate(texts, labels, folds, seed)
        print(
            f"| {name} | {len(texts):,} | {s['precision']:.4f} | {s['recall']:.4f} | "
            f"{s['f1']:.4f} | {s['fpr']:.4f} | {s['msgs_per_s']:,.0f} | "
            f"{s['bank kept']:.0f}/{folds} |",
            flush=True,
        )
    recall, chat_fpr = out_of_the_box()
    print("\nOut of the box (no model): recall per FBS category")
    for category, value in recall.items():
        print(f"- {category}: {value:.3f}")
    print(f"False-positive rate on LCCC chat: {chat_fpr:.4f}")


_CYRILLIC = str.maketrans("aceopxyikmthbABCEHKMOPTXY", "асеорхуікмтһЬАВСЕНКМОРТХУ")
_CIRCLED = str.maketrans("0123456789", "⓪①②③④⑤⑥⑦⑧⑨")
_HANZI_DIGITS = str.maketrans("0123456789", "〇一二三四五六七八九")
_FILLERS = "\u200b\u200c\u200d\u2060\ufeff"
_EMOJI = "🔥💰✨👉🎉❤️🌹💯"
_SEPARATORS = ".-|*/_~"


def _between(text: str, rng: random.Random, pick: str, share: float) -> str:
    """`pick`'s characters put between the message's, each place with chance `share`."""
    out = []
    for ch in text:
        out.append(ch)
        if rng.random() < share:
            out.append(rng.choice(pick))
    return "".join(out)


def _full_width(text: str, rng: random.Random) -> str:
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text
    )


def _mathematical(text: str, rng: random.Random) -> str:
    """Mathematical bold letters and digits (NFKC folds them back)."""
    out = []
    for c in text:
        if "a" <= c <= "z":
            out.append(chr(0x1D41A + ord(c) - ord("a")))
        elif "A" <= c <= "Z":
            out.append(chr(0x1D400 + ord(c) - ord("A")))
        elif "0" <= c <= "9":
            out.append(chr(0x1D7CE + ord(c) - ord("0")))
        else:
            out.append(c)
    return "".join(out)


def _traditional(text: str, rng: random.Random) -> str:
    from opencc import OpenCC

    return _S2T.setdefault("s2t", OpenCC("s2t")).convert(text)


_S2T: dict[str, object] = {}
DISGUISES = {
    "full-width": _full_width,
    "zero-width fillers": lambda t, rng: _between(t, rng, _FILLERS, 0.5),
    "spaced": lambda t, rng: _between(t, rng, " ", 1.0),
    "dotted": lambda t, rng: _between(t, rng, _SEPARATORS, 0.4),
    "traditional": _traditional,
    "look-alike letters": lambda t, rng: t.translate(_CYRILLIC),
    "circled digits": lambda t, rng: t.translate(_CIRCLED),
    "Chinese digits": lambda t, rng: t.translate(_HANZI_DIGITS),
    "mathematical": _mathematical,
    "emoji between": lambda t, rng: _between(t, rng, _EMOJI, 0.2),
}


def _three(text: str, rng: random.Random) -> str:
    for name in rng.sample(sorted(DISGUISES), 3):
        text = DISGUISES[name](text, rng)
    return text


def disguised(seed: int, names: list[str]) -> None:
    from sklearn.model_selection import train_test_split

    from qunzhu.moderation.engine import Detector
    from qunzhu.moderation.model import ContentModel
    from qunzhu.moderation.verdicts import SPAM

    ways = {"as written": lambda t, rng: t, **DISGUISES, "three at once": _three}
    print("| corpus | disguise | spam caught still caught | normal called spam |")
    print("|---|---|---:|---:|")
    for name in names:
        texts, labels = corpus(name, 0)
        train, test = train_test_split(
            range(len(texts)), test_size=0.2, stratify=labels, random_state=seed
        )
        model = ContentModel.train([texts[i] for i in train], [labels[i] for i in train])
        detector = Detector(model=model)
        spam = [texts[i] for i in test if labels[i]]
        normal = [texts[i] for i in test if not labels[i]]
        verdicts = [d.verdict for d in detector.check_many(spam)]
        caught = [t for t, v in zip(spam, verdicts, strict=True) if v == SPAM]
        for way, rewrite in ways.items():
            rng = random.Random(seed)
            kept = detector.check_many([rewrite(t, rng) for t in caught])
            flagged = detector.check_many([rewrite(t, rng) for t in normal])
            print(
                f"| {name} | {way} | {sum(d.verdict == SPAM for d in kept) / len(caught):.1%} "
                f"| {sum(d.verdict == SPAM for d in flagged) / len(normal):.2%} |",
                flush=True,
            )


def without_model() -> None:
    from qunzhu.moderation.engine import Detector, Policy
    from qunzhu.moderation.verdicts import HAM, SPAM

    lists = {"built-in lists": Detector(), "no abuse list": Detector(policy=Policy(abuse={}))}
    chat = [t.strip() for t in (DATA / "chat" / "lccc_zh_utterances.txt").open(encoding="utf-8")]
    print("| corpus | lists | spam called spam | normal called spam | normal called review |")
    print("|---|---|---:|---:|---:|")
    for name in [*CORPORA, "lccc (all normal)"]:
        texts, labels = corpus(name, 0) if name in CORPORA else (chat, [0] * len(chat))
        for label, detector in lists.items():
            verdicts = [d.verdict for d in detector.check_many(texts)]
            spam = [v for v, y in zip(verdicts, labels, strict=True) if y]
            normal = [v for v, y in zip(verdicts, labels, strict=True) if not y]
            caught = f"{spam.count(SPAM) / len(spam):.4f}" if spam else "–"
            flagged = sum(v == SPAM for v in normal) / len(normal)
            asked = sum(v not in (SPAM, HAM) for v in normal) / len(normal)
            print(f"| {name} | {label} | {caught} | {flagged:.4f} | {asked:.4f} |", flush=True)


if __name__ == "__main__":
    main()
