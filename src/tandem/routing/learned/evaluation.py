"""Evaluating a quality predictor on routing data: pairs, splits and held-out groups.

For every pair of models the stronger one is the one with the higher mean
score on the evaluated prompts; the router sends a prompt to it in
decreasing order of ``predicted[strong] - predicted[weak]`` (the expected
quality gained by the expensive call). Only prompts where both models were
measured count for a pair.

Two protocols guard against fooling ourselves:

- :func:`split_by_group`: a per-file 50/50 split (every file, e.g. every
  MMLU subject, is cut in half), train on one half, test on the other;
- :func:`group_folds`: whole files held out, so the test subjects were never
  seen in training (how a router meets a new kind of traffic).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np
import numpy.typing as npt

from tandem.routing.learned.data import RoutingData
from tandem.routing.learned.metrics import PairMetrics, pair_metrics

__all__ = ["evaluate_scores", "group_folds", "model_pairs", "split_by_group"]

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]


def model_pairs(data: RoutingData, models: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """Every ``(strong, weak)`` pair of ``models`` measured together on some prompt."""
    names = [m for m in (models or data.models) if m in data.models]
    pairs = []
    for a, b in combinations(names, 2):
        sa, sb = data.column(a), data.column(b)
        both = ~np.isnan(sa) & ~np.isnan(sb)
        if not both.any():
            continue
        strong, weak = (a, b) if sa[both].mean() >= sb[both].mean() else (b, a)
        pairs.append((strong, weak))
    return pairs


def evaluate_scores(data: RoutingData, predicted: FloatArray, models: Sequence[str]) -> list[PairMetrics]:
    """Metrics for every pair, from predictions ``(prompts, models)`` aligned with ``data``."""
    if predicted.shape != (len(data), len(models)):
        raise ValueError("predicted must have one row per prompt and one column per model")
    results = []
    for strong, weak in model_pairs(data, models):
        s, w = data.column(strong), data.column(weak)
        both = ~np.isnan(s) & ~np.isnan(w)
        gain = predicted[both, models.index(strong)] - predicted[both, models.index(weak)]
        results.append(pair_metrics(gain, w[both], s[both], weak_name=weak, strong_name=strong))
    return results


def split_by_group(data: RoutingData, seed: int = 0, train_share: float = 0.5) -> tuple[IndexArray, IndexArray]:
    """Train and test row indices: each group (file) is split ``train_share`` / rest."""
    rng = np.random.default_rng(seed)
    groups = np.asarray(data.groups)
    train: list[IndexArray] = []
    test: list[IndexArray] = []
    for g in sorted(set(data.groups)):
        rows = rng.permutation(np.flatnonzero(groups == g))
        cut = int(len(rows) * train_share)
        train.append(rows[:cut])
        test.append(rows[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def group_folds(
    groups: Sequence[str], k: int = 5, seed: int = 0, only: Callable[[str], bool] | None = None
) -> list[list[str]]:
    """``k`` disjoint sets of group names to hold out in turn.

    ``only`` restricts the held-out groups (e.g. to MMLU subjects); groups it
    rejects are never held out and so are always trained on.
    """
    names = sorted({g for g in groups if only is None or only(g)})
    order = np.random.default_rng(seed).permutation(len(names))
    return [sorted(names[int(i)] for i in order[f::k]) for f in range(k)]
