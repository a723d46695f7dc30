"""Our n-gram counter must give scikit-learn's TF-IDF features, only faster."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from qunzhu.moderation.grams import CharGrams

TEXTS = [
    "加微信 abc12345 代购",
    "今天天气真好，一起去跑步吗",
    "代购名牌包包 | 代购名牌包包 _wechat_",
    "",
    "A",
    "兼职刷单日赚300，私聊我",
    "跑步跑步跑步",
    "Hello World hello",
    "a  b\n\nc\t d",
]


def _same(texts: list[str], fit: list[str]) -> None:
    ours = CharGrams(ngram_range=(1, 4), min_df=2)
    theirs = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True, min_df=2)
    ours.fit_transform(fit)
    try:
        theirs.fit(fit)
    except ValueError:  # scikit-learn refuses an empty vocabulary; ours is just empty
        assert len(ours.vocabulary) == 0
        return
    a, b = ours.transform(texts), theirs.transform(texts)
    assert a.shape == b.shape
    for i in range(len(texts)):  # same values per row; column order differs (keys vs words)
        assert np.allclose(np.sort(a[i].data), np.sort(b[i].data), atol=1e-5)


def test_same_features_as_scikit_learn() -> None:
    _same(TEXTS, TEXTS)
    _same(["新的消息 代购", "", "xyz"], TEXTS)  # unseen grams are dropped, empty rows stay


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(st.sampled_from("ab代购 \n\t。A"), max_size=12), min_size=1, max_size=12))
def test_same_features_on_any_text(texts: list[str]) -> None:
    texts = [t.replace("\0", "") for t in texts]  # both treat NUL differently, neither sees it
    _same(texts, texts + texts[:3])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=12))
def test_same_features_on_any_unicode(texts: list[str]) -> None:
    texts = [t.replace("\0", "") for t in texts]
    _same(texts, texts + texts[:3])


def test_a_batch_and_one_at_a_time_agree() -> None:
    grams = CharGrams()
    grams.fit_transform(TEXTS + TEXTS)
    batch = grams.transform(TEXTS).toarray()
    single = np.vstack([grams.transform([t]).toarray() for t in TEXTS])
    assert np.allclose(batch, single)
