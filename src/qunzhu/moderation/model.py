"""The content layer: a linear model over character n-grams of the normalised text.

Characters, not words: Chinese has no spaces, so a whitespace tokenizer (tg-spam's) sees one
"word" per message; 1-4 character grams catch 加微信, 兼职 and their variants without a
segmenter. Contacts found by the extraction layer are added as tokens (`_phone_`, `_wechat_`...)
so the model learns how much a contact weighs in each community's talk.

A trained model is a file the operator makes from their own labelled messages
(`qunzhu moderation train`); none ships with the project, because the corpora it was developed
on do not all allow redistribution (../shared/data/README.md).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qunzhu.moderation.contacts import Contact, extract
from qunzhu.moderation.normalize import Normalized, normalize

FORMAT = "qunzhu-content-model/1"


def features(n: Normalized, contacts: Sequence[Contact] | None = None) -> str:
    """What the vectoriser reads: the normalised text, the same without separators (so that
    "加 . V" and "加V" share grams), then one token per kind of contact."""
    kinds = sorted({c.kind for c in (extract(n) if contacts is None else contacts)})
    return f"{n.text} | {n.compact}" + "".join(f" _{k}_" for k in kinds)


@dataclass
class ContentModel:
    """A fitted vectoriser and classifier; `spam_probability` is the layer's score.

    Thresholds: a message is spam from `spam_from`, for review from `review_from`. 0.9 keeps
    the false-positive rate near 1% in 5-fold cross-validation on the development corpora
    (bench/RESULTS.md), where 0.5 let 3-7% of normal messages through as spam."""

    vectorizer: Any
    classifier: Any
    spam_from: float = 0.9
    review_from: float = 0.5

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[int], c: float = 30.0) -> ContentModel:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer(
            analyzer="char", ngram_range=(1, 4), sublinear_tf=True, min_df=2, dtype=np.float32
        )
        matrix = vectorizer.fit_transform([features(normalize(t)) for t in texts])
        classifier = LogisticRegression(C=c, max_iter=3000).fit(matrix, list(labels))
        return cls(vectorizer, classifier)

    def spam_probability(
        self, normalized: Sequence[Normalized], contacts: Sequence[Sequence[Contact]] | None = None
    ) -> list[float]:
        """`contacts`, when the caller has already extracted them, saves doing it twice."""
        found = contacts if contacts is not None else [extract(n) for n in normalized]
        pairs = zip(normalized, found, strict=True)
        matrix = self.vectorizer.transform([features(n, c) for n, c in pairs])
        return [float(p) for p in self.classifier.predict_proba(matrix)[:, 1]]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        with partial.open("wb") as fh:
            pickle.dump({"format": FORMAT, "model": self}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)  # never a half-written model file

    @classmethod
    def load(cls, path: Path) -> ContentModel:
        """Only load model files you made yourself: like any pickle, they can run code."""
        try:
            with path.open("rb") as fh:
                data = pickle.load(fh)  # the operator's own file (see the docstring)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError):
            data = None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a qunzhu content model")
        return data["model"]
