"""The combiner's boosted trees as flat arrays, walked for a whole batch at once in numpy.

scikit-learn's HistGradientBoostingClassifier trains fast, but its `predict_proba` walks the
trees one Python call per tree and wakes its OpenMP threads on every call: 1.6-4.5 ms for a
single message on our machine, most of the 5 ms a check may take. Flattened once after
training, all trees advance one level per numpy step: about 0.1 ms for one message. The
trees are copied from the fitted model's own (private) arrays, so an upgrade of scikit-learn
that moves them fails in training and in the tests, never silently at check time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Trees:
    feature: Any  # per node: the input column it splits on
    threshold: Any  # per node: go left when the value is at most this
    children: Any  # at 2 * node the left child, at 2 * node + 1 the right (itself for leaves)
    value: Any  # per node: what a leaf adds to the log-odds
    roots: Any  # index of each tree's first node
    depth: int  # the most splits from a root to a leaf
    baseline: float

    @classmethod
    def of(cls, fitted: Any) -> Trees:
        """From a fitted binary HistGradientBoostingClassifier (no missing values or
        categorical features: the combiner's inputs are counts and a finite score)."""
        parts, roots, start = [], [], 0
        for (predictor,) in fitted._predictors:  # one tree per iteration for two classes
            nodes = predictor.nodes
            parts.append((nodes, start))
            roots.append(start)
            start += len(nodes)
        nodes = np.concatenate([n for n, _s in parts])
        offsets = np.concatenate([np.full(len(n), s) for n, s in parts])
        leaf = nodes["is_leaf"].astype(bool)
        here = np.arange(len(nodes))
        return cls(
            feature=np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp),
            threshold=nodes["num_threshold"].astype(np.float64),
            children=np.column_stack(
                [np.where(leaf, here, nodes[side] + offsets) for side in ("left", "right")]
            )
            .ravel()
            .astype(np.intp),
            value=np.where(leaf, nodes["value"], 0.0).astype(np.float64),
            roots=np.asarray(roots, dtype=np.intp),
            depth=int(nodes["depth"].max()),
            baseline=float(np.ravel(fitted._baseline_prediction)[0]),
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Model files saved before `children` kept `left` and `right` apart."""
        if "children" not in state:
            state["children"] = np.column_stack([state.pop("left"), state.pop("right")]).ravel()
        self.__dict__.update(state)

    def log_odds(self, inputs: Any) -> Any:
        """Leaves are their own children, so walking `depth` steps lands every tree of every
        row on its leaf."""
        inputs = np.asarray(inputs, dtype=np.float64)
        flat = inputs.ravel()  # one gather from a flat array beats indexing by (row, column)
        row_start = (np.arange(len(inputs)) * inputs.shape[1])[:, None]
        node = np.broadcast_to(self.roots, (len(inputs), len(self.roots))).copy()
        for _ in range(self.depth):
            go_right = flat[row_start + self.feature[node]] > self.threshold[node]
            node = self.children[2 * node + go_right]
        return self.baseline + self.value[node].sum(axis=1)
