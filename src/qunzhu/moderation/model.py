"""The content layer: a linear model over character n-grams of the normalised text.

Characters, not words: Chinese has no spaces, so a whitespace tokenizer (tg-spam's) sees one
"word" per message; 1-4 character grams catch 加微信, 兼职 and their variants without a
segmenter. Contacts found by the extraction layer are added as tokens (`_phone_`, `_wechat_`...)
so the model learns how much a contact weighs in each community's talk.

A trained model is a file the operator makes from their own labelled messages
(`qunzhu moderation train`); none ships with the project, because the corpora it was developed
on do not all allow redistribution (../shared/data/README.md).

A community's model can sit on top of a shared base: it starts from the base model's log-odds
and learns a correction (`Residual`), so a community with a few hundred labels inherits what the
base knows and changes it only where its own talk differs (a wine shop's offers are not spam).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qunzhu.moderation.contacts import Contact, extract
from qunzhu.moderation.grams import CharGrams
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
    base: ContentModel | None = None

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[int],
        c: float = 30.0,
        base: ContentModel | None = None,
    ) -> ContentModel:
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        vectorizer = CharGrams(ngram_range=(1, 4), min_df=2)
        normalized = [normalize(t) for t in texts]
        found = [extract(n) for n in normalized]
        matrix = vectorizer.fit_transform(
            [features(n, f) for n, f in zip(normalized, found, strict=True)]
        )
        if base is None:
            classifier: Any = LogisticRegression(C=c, max_iter=3000).fit(matrix, list(labels))
        else:
            offset = base.log_odds(normalized, found)
            classifier = Residual.fit(matrix, np.asarray(labels), offset, c)
        return cls(vectorizer, classifier, base=base)

    def spam_probability(
        self, normalized: Sequence[Normalized], contacts: Sequence[Sequence[Contact]] | None = None
    ) -> list[float]:
        """`contacts`, when the caller has already extracted them, saves doing it twice."""
        from scipy.special import expit

        return [float(p) for p in expit(self.log_odds(normalized, contacts))]

    def log_odds(
        self, normalized: Sequence[Normalized], contacts: Sequence[Sequence[Contact]] | None = None
    ) -> Any:
        found = contacts if contacts is not None else [extract(n) for n in normalized]
        pairs = zip(normalized, found, strict=True)
        matrix = self.vectorizer.transform([features(n, c) for n, c in pairs])
        if self.base is None:
            return self.classifier.decision_function(matrix)
        return self.base.log_odds(normalized, found) + self.classifier.decision_function(matrix)

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


@dataclass
class Residual:
    """A logistic regression that starts from given log-odds (the shared model's) and learns
    only the correction. The penalty pulls every weight towards zero, that is towards the
    shared model: what the community's few labels do not speak about, the base still decides.
    (scikit-learn's LogisticRegression has no offset, hence these few lines.)"""

    coef: Any
    intercept: float

    @classmethod
    def fit(cls, matrix: Any, labels: Any, offset: Any, c: float) -> Residual:
        import numpy as np
        from scipy.optimize import minimize
        from scipy.special import expit

        sign = np.where(labels == 1, 1.0, -1.0)

        def loss(params: Any) -> tuple[float, Any]:
            w, b = params[:-1], params[-1]
            margin = -sign * (matrix @ w + b + offset)
            pull = -sign * expit(margin)  # d loss / d z for every message
            value = np.logaddexp(0, margin).sum() + w @ w / (2 * c)
            grad = np.append(matrix.T @ pull + w / c, pull.sum())
            return float(value), grad

        start = np.zeros(matrix.shape[1] + 1)
        fitted = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
        return cls(fitted.x[:-1].astype(np.float32), float(fitted.x[-1]))

    def decision_function(self, matrix: Any) -> Any:
        return matrix @ self.coef + self.intercept
