"""The content layer: a linear model over character n-grams of the normalised text.

Characters, not words: Chinese has no spaces, so a whitespace tokenizer (tg-spam's) sees one
"word" per message; 1-4 character grams catch 加微信, 兼职 and their variants without a
segmenter. Contacts found by the extraction layer are added as tokens (`_phone_`, `_wechat_`...)
so the model learns how much a contact weighs in each community's talk.

A trained model is a file the operator makes from their own labelled messages
(`qunzhu moderation train`); none ships with the project, because the corpora it was developed
on do not all allow redistribution (../shared/data/README.md).

A second stage, the combiner, reads the linear model's log-odds next to the message's shape
(`shape.py`: length, kinds of characters, contacts) in a small gradient-boosted tree model, which
can weigh "three characters and a QQ number" as more than the sum of its parts. It is fitted on
log-odds of messages the linear model did not see (cross-validation inside `train`), and the
same held-out scores choose the thresholds: `spam` where at most 0.8% of the community's
normal messages would be called spam (SPAM_FPR), `review` at 5%. The operator's labels set the
thresholds, not a constant tuned on someone else's data.

Where spam comes in campaigns, the combiner also reads how close a message is to the training
spam and to the training normal messages (`neighbours.py`). Training keeps that bank only if,
on held-out scores, it catches clearly more spam at the chosen false-positive share
(bench/RESULTS.md: on SMS ads it does; on Telegram and game chat it would only cost memory and
time).

A community's model can sit on top of a shared base: it starts from the base model's log-odds
and learns a correction (`Linear` with an offset), so a community with a few hundred labels
inherits what the base knows and changes it only where its own talk differs (a wine shop's
offers are not spam).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from qunzhu.moderation.contacts import Contact, extract
from qunzhu.moderation.grams import CharGrams
from qunzhu.moderation.neighbours import Neighbours, held_out
from qunzhu.moderation.normalize import Normalized, normalize
from qunzhu.moderation.shape import shape
from qunzhu.moderation.trees import Trees

FORMAT = "qunzhu-content-model/1"  # files from before the combiner load as linear-only
SPAM_FPR = 0.008  # share of held-out normal messages the spam threshold lets through (1%
# in cross-validation let 1.0-1.2% through on new messages: the margin keeps it under 1%)
REVIEW_FPR = 0.05  # ... and the review threshold
# Clean labels put every normal message near 0, and the shares above would then put the lines
# there too: any new message a little unlike the training set would be spam. Never below these.
LOWEST_SPAM_FROM = 0.5  # a message the model finds more likely normal is never spam
LOWEST_REVIEW_FROM = 0.2
CHUNK = 2_000  # messages scored at once: 20,000 SMS at once took 560 MB more and ran slower
NEIGHBOURS_GAIN = 0.015  # recall the similarities must add, at the chosen false-positive
# share, to be kept (held out, in training): SMS ads gained 2.4-3.4 points in every fold,
# Telegram 0.2-1.1 and game chat about 0.5, which bought no F1 on new messages, only memory
# (81 MB for game chat's 200,000 messages) and time
COMBINE_FROM = 50  # messages of each label needed to fit a combiner and choose thresholds


def features(n: Normalized, contacts: Sequence[Contact] | None = None) -> str:
    """What the vectoriser reads: the normalised text, the same without separators (so that
    "加 . V" and "加V" share grams), then one token per kind of contact."""
    kinds = sorted({c.kind for c in (extract(n) if contacts is None else contacts)})
    return f"{n.text} | {n.compact}" + "".join(f" _{k}_" for k in kinds)


class Score(NamedTuple):
    probability: float
    near: dict[str, float]  # cosine to the nearest training spam and normal message, if searched


@dataclass
class ContentModel:
    """A fitted vectoriser, linear classifier and, with enough labels, combiner;
    `scores` gives the layer's score.

    Thresholds: a message is spam from `spam_from`, for review from `review_from`. A model
    trained on fewer than COMBINE_FROM messages of either label keeps the fixed 0.9 and 0.5
    (0.9 kept the false-positive rate near 1% on the development corpora, bench/RESULTS.md)."""

    vectorizer: Any
    classifier: Any
    spam_from: float = 0.9
    review_from: float = 0.5
    base: ContentModel | None = None
    combiner: Trees | None = None
    neighbours: Neighbours | None = None

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[int],
        c: float = 30.0,
        base: ContentModel | None = None,
    ) -> ContentModel:
        import numpy as np

        vectorizer = CharGrams(ngram_range=(1, 4), min_df=2)
        normalized = [normalize(t) for t in texts]
        found = [extract(n) for n in normalized]
        matrix = vectorizer.fit_transform(
            [features(n, f) for n, f in zip(normalized, found, strict=True)]
        )
        y = np.asarray(labels)
        offset = None if base is None else base.log_odds(normalized, found)
        model = cls(vectorizer, Linear.fit(matrix, y, offset, c), base=base)
        if min(np.bincount(y, minlength=2)) >= COMBINE_FROM:
            model._combine(matrix, y, offset, c, shape(normalized, found))
        return model

    def _combine(self, matrix: Any, y: Any, offset: Any, c: float, shapes: Any) -> None:
        """Four more linear models, each scoring the quarter it did not see: the combiner
        learns from those honest scores, and the thresholds come from its own held-out
        probabilities (scores of messages a model was trained on are overconfident;
        thresholds chosen on them would let far more than the chosen share through)."""
        import numpy as np
        from sklearn.model_selection import StratifiedKFold

        log_odds = np.zeros(len(y))
        folds = list(StratifiedKFold(4, shuffle=True, random_state=0).split(matrix, y))
        for fit, rows in folds:
            part = Linear.fit(matrix[fit], y[fit], None if offset is None else offset[fit], c)
            log_odds[rows] = part.decision_function(matrix[rows])
        if offset is not None:
            log_odds += offset
        inputs = np.column_stack([log_odds, shapes])
        scores = _held_out_scores(inputs, y)
        near = np.column_stack([inputs, held_out(matrix, y, log_odds, folds)])
        near_scores = _held_out_scores(near, y)
        if _recall(near_scores, y) >= _recall(scores, y) + NEIGHBOURS_GAIN:
            inputs, scores, self.neighbours = near, near_scores, Neighbours.of(matrix, y)
        self.spam_from = max(_threshold(scores[y == 0], SPAM_FPR), LOWEST_SPAM_FROM)
        review = max(_threshold(scores[y == 0], REVIEW_FPR), LOWEST_REVIEW_FROM)
        self.review_from = min(review, self.spam_from)
        self.combiner = Trees.of(_combiner().fit(inputs, y))

    def scores(
        self, normalized: Sequence[Normalized], contacts: Sequence[Sequence[Contact]] | None = None
    ) -> list[Score]:
        """The probabilities and, where the bank was searched, how near the nearest training
        spam and normal message came: the reason an admin can read next to the number.
        `contacts`, when the caller has already extracted them, saves doing it twice."""
        import numpy as np
        from scipy.special import expit

        found = contacts if contacts is not None else [extract(n) for n in normalized]
        scores: list[Score] = []
        for at in range(0, len(normalized), CHUNK):  # memory stays bounded for any batch
            part, contacts_of_part = normalized[at : at + CHUNK], found[at : at + CHUNK]
            matrix = self._matrix(part, contacts_of_part)
            log_odds = self._log_odds(matrix, part, contacts_of_part)
            near = np.full((len(part), 2), -1.0)
            if self.combiner is not None:
                inputs = np.column_stack([log_odds, shape(part, contacts_of_part)])
                if self.neighbours is not None:
                    near = self.neighbours.similarity(matrix, log_odds)
                    inputs = np.column_stack([inputs, near])
                log_odds = self.combiner.log_odds(inputs)
            for p, (spam, normal) in zip(expit(log_odds), near.tolist(), strict=True):
                shown = {"nearest_spam": round(spam, 3), "nearest_normal": round(normal, 3)}
                scores.append(Score(float(p), shown if spam >= 0 else {}))
        return scores

    def log_odds(
        self, normalized: Sequence[Normalized], contacts: Sequence[Sequence[Contact]] | None = None
    ) -> Any:
        """The linear model's score (and the base's under it): what a community model built
        on this one starts from."""
        found = contacts if contacts is not None else [extract(n) for n in normalized]
        return self._log_odds(self._matrix(normalized, found), normalized, found)

    def _matrix(self, normalized: Sequence[Normalized], found: Sequence[Sequence[Contact]]) -> Any:
        pairs = zip(normalized, found, strict=True)
        return self.vectorizer.transform([features(n, c) for n, c in pairs])

    def _log_odds(
        self, matrix: Any, normalized: Sequence[Normalized], found: Sequence[Sequence[Contact]]
    ) -> Any:
        scores = self.classifier.decision_function(matrix)
        return scores if self.base is None else scores + self.base.log_odds(normalized, found)

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


def _combiner() -> Any:
    """Small on purpose: 60 trees of 15 leaves over 18 numbers, so it adds little
    to the time of a check and learns interactions, not the training set."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=60, learning_rate=0.15, max_leaf_nodes=15, l2_regularization=1.0, random_state=0
    )


def _held_out_scores(inputs: Any, y: Any) -> Any:
    """The combiner's probability for each message from a combiner that did not see it."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    scores = np.zeros(len(y))
    for fit, rows in StratifiedKFold(4, shuffle=True, random_state=1).split(inputs, y):
        scores[rows] = _combiner().fit(inputs[fit], y[fit]).predict_proba(inputs[rows])[:, 1]
    return scores


def _recall(scores: Any, y: Any) -> float:
    """Share of spam caught at the threshold the model would choose from these scores."""
    return float((scores[y == 1] >= _threshold(scores[y == 0], SPAM_FPR)).mean())


def _threshold(normal_scores: Any, share: float) -> float:
    """The lowest score at which at most `share` of these normal messages reach it."""
    import numpy as np

    ranked = np.sort(normal_scores)[::-1]
    allowed = int(share * len(ranked))
    if allowed >= len(ranked):
        return 0.0
    return float(np.nextafter(ranked[allowed], np.inf))


@dataclass
class Linear:
    """Weights and an intercept: a logistic regression's, or the mean of several.

    With an offset (the shared model's log-odds) it learns only the correction. The penalty
    pulls every weight towards zero, that is towards the shared model: what the community's
    few labels do not speak about, the base still decides. (scikit-learn's LogisticRegression
    has no offset, hence the few lines of `_fit_residual`.)"""

    coef: Any
    intercept: float

    @classmethod
    def fit(cls, matrix: Any, labels: Any, offset: Any, c: float) -> Linear:
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        if offset is not None:
            return cls._fit_residual(matrix, labels, offset, c)
        fitted = LogisticRegression(C=c, max_iter=3000).fit(matrix, labels)
        return cls(fitted.coef_.ravel().astype(np.float32), float(fitted.intercept_[0]))

    @classmethod
    def _fit_residual(cls, matrix: Any, labels: Any, offset: Any, c: float) -> Linear:
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


Residual = Linear  # its name in model files saved before it also held plain regressions
