"""Similarity to the training set's spam and normal messages: the content layer's bank."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from qunzhu.cli import app
from qunzhu.moderation import model as model_module
from qunzhu.moderation import neighbours as neighbours_module
from qunzhu.moderation.engine import Detector, Policy
from qunzhu.moderation.grams import CharGrams
from qunzhu.moderation.model import ContentModel
from qunzhu.moderation.neighbours import BAND, Neighbours, held_out, rare_columns
from qunzhu.moderation.shape import COLUMNS

INSIDE = np.zeros(1)  # a linear score inside BAND: the similarities are computed


def _chat(rng: random.Random, n: int) -> list[str]:
    subjects = ["今天", "明天", "周末", "晚上", "早上"]
    things = ["跑步", "吃饭", "开会", "看书", "爬山", "游泳", "做饭", "带娃"]
    return [f"{rng.choice(subjects)}{rng.choice(things)}{rng.choice(things)}" for _ in range(n)]


def _fit(texts: list[str], labels: list[int]) -> tuple[CharGrams, Neighbours]:
    grams = CharGrams()
    return grams, Neighbours.of(grams.fit_transform(texts), np.asarray(labels))


def test_a_copy_of_a_known_ad_is_as_close_as_can_be() -> None:
    texts = _chat(random.Random(0), 300) + ["澳门新葡京线上开户送彩金，咨询扣扣八八六六"] * 2
    grams, bank = _fit(texts, [0] * 300 + [1, 1])
    spam, normal = bank.similarity(grams.transform([texts[-1]]), INSIDE)[0]
    assert spam > 0.99
    assert normal < 0.5


def test_a_reworded_copy_is_closer_to_the_ad_than_to_chat() -> None:
    texts = _chat(random.Random(1), 300) + ["澳门新葡京线上开户送彩金，咨询扣扣八八六六"] * 2
    grams, bank = _fit(texts, [0] * 300 + [1, 1])
    spam, normal = bank.similarity(grams.transform(["新葡京开户送彩金啦 扣扣八八六六"]), INSIDE)[0]
    assert spam > 0.5 > normal


def test_nothing_rare_in_common_is_no_similarity() -> None:
    texts = _chat(random.Random(2), 300) + ["澳门新葡京线上开户送彩金"] * 2
    grams, bank = _fit(texts, [0] * 300 + [1, 1])
    assert bank.similarity(grams.transform(["完全不相干"]), INSIDE).tolist() == [[0.0, 0.0]]


def test_outside_the_band_nothing_is_computed() -> None:
    texts = _chat(random.Random(3), 300) + ["澳门新葡京线上开户送彩金"] * 2
    grams, bank = _fit(texts, [0] * 300 + [1, 1])
    matrix = grams.transform([texts[-1]] * 3)
    scores = np.array([BAND[0] - 1, BAND[1] + 1, 0.0])
    found = bank.similarity(matrix, scores)
    assert found[:2].tolist() == [[-1.0, -1.0], [-1.0, -1.0]]
    assert found[2, 0] > 0.99


def test_a_batch_through_the_sparse_product_matches_the_dense_sums(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Large batches go through scipy's product, small ones through dense sums: same answer."""
    rng = random.Random(9)
    texts = _chat(rng, 300) + ["澳门新葡京线上开户送彩金，咨询扣扣八八六六"] * 3
    grams, bank = _fit(texts, [0] * 300 + [1] * 3)
    batch = [*_chat(rng, 40), "新葡京开户送彩金啦 扣扣八八六六", "完全不相干", ""]
    matrix, scores = grams.transform(batch), np.zeros(len(batch))
    dense = bank.similarity(matrix, scores)
    monkeypatch.setattr(neighbours_module, "DENSE", 0)
    assert np.allclose(bank.similarity(matrix, scores), dense, atol=1e-6)
    assert dense[-3, 0] > 0.5 and dense[-2:].tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_common_grams_take_no_part() -> None:
    grams = CharGrams()
    matrix = grams.fit_transform(["你好"] * 200 + ["罕见的一句"] * 2)
    rare = rare_columns(matrix)
    assert not rare[grams.transform(["你好"]).indices].any()
    assert rare[grams.transform(["罕见的一句"]).indices].all()


def test_held_out_rows_never_see_themselves() -> None:
    """A message that appears once has no copy in the other folds: its similarity to its own
    label must come from other messages, as it would for a new message."""
    texts = [*_chat(random.Random(4), 200), "独一无二的推广消息请加群"]
    texts[0] = texts[150] = "下周三去植物园看郁金香"  # one line twice, once in each fold
    labels = np.array([0] * 200 + [1])
    matrix = CharGrams().fit_transform(texts)
    folds = [(np.arange(100, 201), np.arange(0, 100)), (np.arange(0, 100), np.arange(100, 201))]
    found = held_out(matrix, labels, np.zeros(len(texts)), folds)
    assert found[-1, 0] == 0.0  # the only spam, in the held-out fold: no spam to be near
    assert found[0, 1] > 0.99 and found[150, 1] > 0.99  # each sees the other's copy


def _noisy(rng: random.Random, n: int) -> tuple[list[str], list[int]]:
    """Labels the text barely tells: chat lines, a quarter of them called spam at random."""
    texts = _chat(rng, n)
    return texts, [int(rng.random() < 0.25) for _ in texts]


def _telling(matrix: Any, labels: Any, log_odds: Any, folds: Any) -> Any:
    return np.column_stack([labels, 1 - labels]).astype(np.float32)


def test_similarities_that_catch_more_spam_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_module, "held_out", _telling)
    texts, labels = _noisy(random.Random(5), 600)
    texts[0] = texts[1] = "下周三去植物园看郁金香"  # twice: grams seen once are dropped
    labels[0] = labels[1] = 0
    model = ContentModel.train(texts, labels)
    assert model.neighbours is not None
    assert int(model.combiner.feature.max()) > len(COLUMNS)  # splits on a similarity
    monkeypatch.setattr(neighbours_module, "BAND", (-np.inf, np.inf))  # however sure it is
    checks = Detector(Policy(keywords={}), model=model).check(texts[0]).checks
    details = next(c.details for c in checks if c.name == "content_model")
    assert details["nearest_spam"] >= 0 and details["nearest_normal"] > 0.99  # itself


def test_training_says_when_it_kept_the_bank(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_module, "held_out", _telling)
    texts, labels = _noisy(random.Random(8), 400)
    data = tmp_path / "train.tsv"
    data.write_text("".join(f"{y}\t{t}\n" for t, y in zip(texts, labels, strict=True)), "utf-8")
    model = tmp_path / "m.model"
    done = CliRunner().invoke(
        app, ["moderation", "train", "--data", str(data), "--model", str(model)]
    )
    assert done.exit_code == 0, done.output
    assert "kept the nearest-message bank" in done.stdout
    assert ContentModel.load(model).neighbours is not None


def test_similarities_that_add_nothing_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    def silent(matrix: Any, labels: Any, log_odds: Any, folds: Any) -> Any:
        return np.zeros((len(labels), 2), dtype=np.float32)

    monkeypatch.setattr(model_module, "held_out", silent)
    model = ContentModel.train(*_noisy(random.Random(6), 600))
    assert model.combiner is not None and model.neighbours is None


@pytest.fixture(scope="module")
def banked() -> ContentModel:
    """A model that kept its bank (the similarities it was shown told the labels)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model_module, "held_out", _telling)
        model = ContentModel.train(*_noisy(random.Random(7), 400))
    assert model.neighbours is not None
    return model


@pytest.mark.parametrize("text", ["", "\ud800abc", "😂" * 100_000, "今天跑步" * 250_000])
def test_bad_input_through_the_bank(
    text: str, banked: ContentModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(neighbours_module, "BAND", (-np.inf, np.inf))
    checks = Detector(Policy(keywords={}), model=banked).check(text).checks
    details = next(c.details for c in checks if c.name == "content_model")
    assert 0.0 <= details["nearest_spam"] <= 1.0 + 1e-6
