"""The content model's second stage (combiner), its thresholds, and the parts it reads."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from qunzhu.moderation.contacts import extract
from qunzhu.moderation.engine import SPAM, Detector, Policy
from qunzhu.moderation.grams import Slots
from qunzhu.moderation.model import SPAM_FPR, ContentModel, _threshold
from qunzhu.moderation.normalize import normalize
from qunzhu.moderation.shape import COLUMNS, shape
from qunzhu.moderation.trees import Trees

BOLD = {c: chr(0x1D41A + i) for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}


def _corpus(rng: random.Random, n: int) -> tuple[list[str], list[int]]:
    """Chat about running and food; ads with a contact; a few mislabelled of each."""
    places = ["公园", "河边", "操场", "小区", "体育馆", "湖边"]
    foods = ["饺子", "面条", "米饭", "火锅", "包子", "水果"]
    texts, labels = [], []
    for i in range(n):
        if i % 2:
            texts.append(f"兼职日结{rng.randint(100, 999)}元，加微信 job{rng.randint(1000, 9999)}")
            labels.append(1)
        else:
            texts.append(
                f"今天在{rng.choice(places)}跑了{rng.randint(2, 9)}公里，吃{rng.choice(foods)}"
            )
            labels.append(0)
    for i in rng.sample(range(n), n // 50):  # label noise, as real corpora have
        labels[i] = 1 - labels[i]
    return texts, labels


def test_threshold_lets_through_at_most_the_share() -> None:
    scores = np.random.default_rng(0).random(1000)
    cut = _threshold(scores, 0.01)
    assert (scores >= cut).sum() == 10
    assert _threshold(scores, 0.0) > scores.max()
    assert _threshold(scores[:5], 1.0) == 0.0


def test_enough_labels_get_a_combiner_and_thresholds_of_their_own() -> None:
    texts, labels = _corpus(random.Random(1), 400)
    model = ContentModel.train(texts, labels)
    assert model.combiner is not None
    assert 0.0 < model.review_from <= model.spam_from <= 1.0
    assert (model.review_from, model.spam_from) != (0.5, 0.9)
    few = ContentModel.train(texts[:60], labels[:60])
    assert few.combiner is None and (few.review_from, few.spam_from) == (0.5, 0.9)


def test_chosen_thresholds_hold_on_new_messages() -> None:
    model = ContentModel.train(*_corpus(random.Random(2), 1000))
    texts, labels = _corpus(random.Random(3), 1000)
    verdicts = [d.verdict for d in Detector(Policy(keywords={}), model=model).check_many(texts)]
    normal = [v for v, y in zip(verdicts, labels, strict=True) if y == 0]
    spam = [v for v, y in zip(verdicts, labels, strict=True) if y == 1]
    # the test set's own 2% label noise is all the false positives there should be
    assert sum(v == SPAM for v in normal) / len(normal) <= 2 * SPAM_FPR + 0.02
    assert sum(v == SPAM for v in spam) / len(spam) >= 0.9


def test_the_combiner_reads_how_a_message_is_written() -> None:
    """Mathematical bold letters fold to plain ones before the n-grams are counted, so only
    the shape (astral characters) tells these two apart."""
    rng = random.Random(4)
    words = ["hello", "friend", "running", "today", "morning", "coffee", "group", "photo"]
    plain = [" ".join(rng.sample(words, 3)) for _ in range(150)]
    bold = ["".join(BOLD.get(c, c) for c in t) for t in plain]
    model = ContentModel.train(plain + bold, [0] * 150 + [1] * 150)
    detector = Detector(Policy(keywords={}), model=model)
    message = "coffee photo hello"
    assert detector.check(message).verdict != SPAM
    assert detector.check("".join(BOLD.get(c, c) for c in message)).verdict == SPAM


def test_a_saved_combiner_scores_the_same(tmp_path: Path) -> None:
    texts, labels = _corpus(random.Random(5), 300)
    model = ContentModel.train(texts, labels)
    model.save(tmp_path / "m.model")
    loaded = ContentModel.load(tmp_path / "m.model")
    sample = [normalize(t) for t in texts[:50]]
    assert loaded.scores(sample) == model.scores(sample)
    assert (loaded.spam_from, loaded.review_from) == (model.spam_from, model.review_from)


def test_shape_counts_what_a_message_is_made_of() -> None:
    texts = ["加V ab12 ９", "𝐁𝐊𝐏", "", "привет", "电话13812345678"]
    normalized = [normalize(t) for t in texts]
    rows = dict(enumerate(shape(normalized, [extract(n) for n in normalized])))
    col = {name: i for i, name in enumerate(COLUMNS)}
    first = rows[0]
    assert first[col["length"]] == len(texts[0])
    assert (first[col["cjk"]], first[col["latin"]], first[col["digits"]]) == (1, 3, 2)
    assert (first[col["full_width"]], first[col["space"]]) == (1, 2)
    assert rows[1][col["astral"]] == 3 and rows[1][col["distinct"]] == 3
    assert not rows[2].any()
    assert rows[3][col["other_letters"]] == 6
    assert rows[4][col["contacts_phone"]] == 1


def test_shape_keeps_the_columns_saved_models_read() -> None:
    """A kind of contact found later (a shop's share code) is counted as a link, not given a
    column of its own: the combiner of a model saved before reads 17 columns in this order."""
    assert len(COLUMNS) == 17 and COLUMNS[-6:][0] == "contacts_phone"
    normalized = [normalize("复制 ￥AbCd1234￥ 打开淘宝")]
    found = [extract(n) for n in normalized]
    assert [c.kind for c in found[0]] == ["code"]
    row = shape(normalized, found)[0]
    assert row[COLUMNS.index("contacts_url")] == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=8))
def test_shape_of_a_batch_is_the_shape_of_each(texts: list[str]) -> None:
    normalized = [normalize(t) for t in texts]
    found = [extract(n) for n in normalized]
    together = shape(normalized, found)
    for i in range(len(texts)):
        assert np.array_equal(together[i], shape(normalized[i : i + 1], found[i : i + 1])[0])


@settings(max_examples=60, deadline=None)
@given(
    st.sets(st.integers(0, 2**64 - 1), max_size=300),
    st.lists(st.integers(0, 2**64 - 1), max_size=100),
)
def test_slots_find_every_key_and_nothing_else(known: set[int], others: list[int]) -> None:
    vocabulary = np.array(sorted(known), dtype=np.uint64)
    slots = Slots.build(vocabulary)
    column = {key: i for i, key in enumerate(sorted(known))}
    queries = [*known, *others]
    found = slots.find(vocabulary, np.array(queries, dtype=np.uint64))
    assert found.tolist() == [column.get(q, -1) for q in queries]


def test_flat_trees_score_like_scikit_learn() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(6)
    inputs = rng.normal(size=(2000, 5)) * [1, 10, 100, 1, 0.1]
    truth = (inputs[:, 0] + inputs[:, 1] / 10 * inputs[:, 3] + rng.normal(size=2000) > 0).astype(
        int
    )
    fitted = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15).fit(inputs, truth)
    fresh = rng.normal(size=(500, 5)) * [1, 10, 100, 1, 0.1]
    ours = Trees.of(fitted).log_odds(fresh)
    assert np.allclose(ours, fitted.decision_function(fresh))
    assert np.allclose(Trees.of(fitted).log_odds(fresh[:1]), ours[:1])


def test_trees_saved_with_left_and_right_still_load() -> None:
    """Model files from before the children were packed in one array keep working."""
    import pickle

    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(7)
    inputs = rng.normal(size=(500, 3))
    fitted = HistGradientBoostingClassifier(max_iter=10).fit(inputs, inputs[:, 0] > 0)
    trees = Trees.of(fitted)
    state = dict(vars(trees))
    pairs = state.pop("children").reshape(-1, 2)
    state["left"], state["right"] = pairs[:, 0].copy(), pairs[:, 1].copy()
    old = object.__new__(Trees)
    old.__dict__.update(state)
    blob = pickle.dumps(old)  # pickled the way the old class was: its fields, no `children`
    assert np.allclose(pickle.loads(blob).log_odds(inputs), trees.log_odds(inputs))
