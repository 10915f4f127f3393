"""Gradient-boosted trees per routed model, stored as plain arrays.

Trees do not extrapolate, which keeps them sane on prompts unlike the
training data, and they pick up interactions a linear model misses (a long
prompt is easy when it is a reading passage, hard when it is a word
problem). They are fitted with scikit-learn's ``GradientBoostingClassifier``
(imported lazily) and exported through its public ``tree_`` arrays into
*complete* binary trees of a fixed depth: a leaf above the bottom level is
padded with always-left splits. Prediction is then ``depth`` vectorized
steps over all trees of all models at once, with no per-node Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tandem.routing.learned.linear import soft_label_rows

__all__ = ["TreeEnsemble", "fit_trees"]

FloatArray = npt.NDArray[np.float64]

#: Boosting settings (chosen on held-out MMLU subjects and GSM8K splits).
PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "max_depth": 3,
    "min_samples_leaf": 40,
    "subsample": 0.8,
}


@dataclass(frozen=True)
class TreeEnsemble:
    """Complete trees: ``feature``/``threshold`` ``(outputs, trees, 2**depth - 1)``,
    ``leaf`` ``(outputs, trees, 2**depth)`` (learning rate applied), ``offset`` ``(outputs,)``."""

    feature: npt.NDArray[np.int64]
    threshold: FloatArray
    leaf: FloatArray
    offset: FloatArray

    def __post_init__(self) -> None:
        # flat copies for prediction: one gather per level over all trees at once
        outputs, trees, internal = self.feature.shape
        flat = {
            "_feat": np.ascontiguousarray(self.feature.reshape(-1)),
            "_thr": np.ascontiguousarray(self.threshold.reshape(-1)),
            "_leaf": np.ascontiguousarray(self.leaf.reshape(-1)),
            "_base": np.arange(outputs * trees, dtype=np.int64) * internal,
            "_leaf_base": np.arange(outputs * trees, dtype=np.int64) * (internal + 1) - internal,
        }
        for name, value in flat.items():
            object.__setattr__(self, name, value)

    @property
    def depth(self) -> int:
        """Depth of every tree."""
        return int(self.leaf.shape[2]).bit_length() - 1

    def logits(self, x: FloatArray) -> FloatArray:
        """Log-odds for one feature vector ``(features,)`` -> ``(outputs,)``."""
        # sklearn rounds inputs to float32 before comparing them with its thresholds
        x32 = x.astype(np.float32).astype(np.float64)
        base: npt.NDArray[np.int64] = self._base  # type: ignore[attr-defined]
        feat: npt.NDArray[np.int64] = self._feat  # type: ignore[attr-defined]
        thr: FloatArray = self._thr  # type: ignore[attr-defined]
        node = np.zeros(len(base), dtype=np.int64)
        for _ in range(self.depth):
            at = base + node
            node = 2 * node + 1 + (x32[feat[at]] > thr[at])
        values = self._leaf[self._leaf_base + node]  # type: ignore[attr-defined]
        z: FloatArray = values.reshape(self.offset.shape[0], -1).sum(axis=1) + self.offset
        return z

    def arrays(self, prefix: str) -> dict[str, npt.NDArray[Any]]:
        """The ensemble as named arrays, for saving."""
        return {f"{prefix}{k}": getattr(self, k) for k in ("feature", "threshold", "leaf", "offset")}

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]], prefix: str) -> TreeEnsemble:
        """Inverse of :meth:`arrays`."""
        return cls(
            feature=np.asarray(arrays[f"{prefix}feature"], dtype=np.int64),
            threshold=np.asarray(arrays[f"{prefix}threshold"], dtype=np.float64),
            leaf=np.asarray(arrays[f"{prefix}leaf"], dtype=np.float64),
            offset=np.asarray(arrays[f"{prefix}offset"], dtype=np.float64),
        )


def _complete(tree: Any, depth: int, scale: float) -> tuple[list[int], list[float], list[float]]:
    """One sklearn regression tree as complete-tree arrays (breadth-first order)."""
    n_internal = 2**depth - 1
    feat = [0] * n_internal
    thr = [np.inf] * n_internal
    leaf = [0.0] * (n_internal + 1)
    left, right = tree.children_left, tree.children_right
    value = tree.value.reshape(-1)

    def fill(node: int, pos: int, level: int) -> None:
        if level == depth:
            leaf[pos - n_internal] = scale * float(value[node])
            return
        if left[node] == -1:  # a leaf above the bottom: both sides carry its value
            fill(node, 2 * pos + 1, level + 1)
            fill(node, 2 * pos + 2, level + 1)
            return
        feat[pos] = int(tree.feature[node])
        thr[pos] = float(tree.threshold[node])
        fill(int(left[node]), 2 * pos + 1, level + 1)
        fill(int(right[node]), 2 * pos + 2, level + 1)

    fill(0, 0, 0)
    return feat, thr, leaf


def fit_trees(x: FloatArray, targets: FloatArray, seed: int = 0) -> TreeEnsemble:
    """Fit one boosted classifier per column of ``targets`` (values in [0, 1] or NaN)."""
    from sklearn.ensemble import GradientBoostingClassifier  # type: ignore[import-untyped]

    depth = int(PARAMS["max_depth"])
    n_trees = int(PARAMS["n_estimators"])
    feats, thrs, leaves, offsets = [], [], [], []
    for j in range(targets.shape[1]):
        rows, labels, weights = soft_label_rows(x, targets[:, j])
        f = np.zeros((n_trees, 2**depth - 1), dtype=np.int64)
        t = np.full((n_trees, 2**depth - 1), np.inf)
        leaf = np.zeros((n_trees, 2**depth))
        if len(np.unique(labels)) < 2:  # one class only: a constant model
            p = float(np.clip(labels.mean() if len(labels) else 0.5, 1e-3, 1 - 1e-3))
            feats.append(f)
            thrs.append(t)
            leaves.append(leaf)
            offsets.append(float(np.log(p / (1 - p))))
            continue
        clf = GradientBoostingClassifier(random_state=seed, **PARAMS)
        clf.fit(rows, labels, sample_weight=weights)
        for i, est in enumerate(clf.estimators_[:, 0]):
            fi, ti, li = _complete(est.tree_, depth, clf.learning_rate)
            f[i], t[i], leaf[i] = fi, ti, li
        # the constant (prior log-odds) through the public API: total minus the trees
        probe = rows[:1]
        trees_sum = sum(clf.learning_rate * float(e.predict(probe)[0]) for e in clf.estimators_[:, 0])
        offsets.append(float(clf.decision_function(probe)[0]) - trees_sum)
        feats.append(f)
        thrs.append(t)
        leaves.append(leaf)
    return TreeEnsemble(
        feature=np.array(feats),
        threshold=np.array(thrs),
        leaf=np.array(leaves),
        offset=np.array(offsets, dtype=np.float64),
    )
