"""The learned quality predictor: each model's chance to answer a prompt well.

Per routed model, two small models read the prompt's difficulty features
(:mod:`tandem.routing.learned.features`): a clipped logistic regression
(:mod:`~tandem.routing.learned.linear`) and boosted trees
(:mod:`~tandem.routing.learned.trees`). Their probabilities are averaged;
the blend beat either one alone on held-out MMLU subjects and on GSM8K.

A router compares two models by ``predict(p)[strong] - predict(p)[weak]``:
the expected quality gained by paying for the strong model.

The file is one ``.npz`` of plain numeric arrays plus a JSON header, read
with ``allow_pickle=False``: loading a router file runs no code from it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tandem.routing.learned.data import RoutingData, read_many
from tandem.routing.learned.features import FEATURE_NAMES, extract, extract_many
from tandem.routing.learned.linear import LinearModel, fit_linear
from tandem.routing.learned.teacher import soft_targets
from tandem.routing.learned.trees import TreeEnsemble, fit_trees

__all__ = ["FORMAT", "QualityPredictor"]

FloatArray = npt.NDArray[np.float64]

#: Identifies the file format; bumped whenever features or arrays change meaning.
FORMAT = "tandem-quality-predictor/1"
#: Weight of the linear model in the blend (the trees get the rest).
LINEAR_WEIGHT = 0.5


def _sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return out


class QualityPredictor:
    """Predicts, for one prompt, each model's chance to answer it well (in [0, 1])."""

    def __init__(
        self,
        models: Sequence[str],
        linear: LinearModel,
        trees: TreeEnsemble,
        info: dict[str, object] | None = None,
        linear_weight: float = LINEAR_WEIGHT,
    ) -> None:
        self.models: list[str] = list(models)
        self.linear = linear
        self.trees = trees
        self.linear_weight = float(linear_weight)
        #: Free-form facts about the training run (sizes, seed, model means).
        self.info: dict[str, object] = dict(info or {})

    # -- training ---------------------------------------------------------------

    @classmethod
    def train(
        cls, data: RoutingData | Sequence[str | Path], models: Sequence[str] | None = None, seed: int = 0
    ) -> QualityPredictor:
        """Fit on routing data, or on CSV files/directories read with :func:`read_many`.

        ``models`` picks and orders the models to learn (default: all columns
        of ``data``); each model is fitted on the prompts where it was measured.
        When the data has the models' answer texts, their labels are softened
        first (:mod:`~tandem.routing.learned.teacher`); the answers are not
        needed to predict.
        """
        if not isinstance(data, RoutingData):
            data = read_many(data)
        chosen = list(models) if models is not None else list(data.models)
        missing = [m for m in chosen if m not in data.models]
        if missing:
            raise ValueError(f"models not in the data: {', '.join(missing)}")
        if len(data) == 0 or not chosen:
            raise ValueError("nothing to train on: no prompts or no models")
        labels = np.column_stack([data.column(m) for m in chosen])
        x = extract_many(data.prompts)
        targets = soft_targets(data, chosen, x, labels, seed)
        info: dict[str, object] = {
            "prompts": len(data),
            "seed": seed,
            "groups": sorted(set(data.groups)),
            "mean_score": {
                m: float(np.nanmean(labels[:, j])) if np.any(~np.isnan(labels[:, j])) else None
                for j, m in enumerate(chosen)
            },
            "soft_labels": bool(targets is not labels),
        }
        return cls(chosen, fit_linear(x, targets, seed), fit_trees(x, targets, seed), info)

    # -- prediction -------------------------------------------------------------

    def predict(self, prompt: str) -> dict[str, float]:
        """Each model's predicted chance to answer ``prompt`` well."""
        x = np.array(extract(prompt), dtype=np.float64)
        lin = self.linear.logits(x).tolist()
        tree = self.trees.logits(x).tolist()
        w = self.linear_weight
        # plain floats: for a handful of models this beats numpy's per-call overhead
        return {
            m: w / (1.0 + math.exp(-max(-30.0, min(30.0, a)))) + (1.0 - w) / (1.0 + math.exp(-max(-30.0, min(30.0, b))))
            for m, a, b in zip(self.models, lin, tree, strict=True)
        }

    def predict_many(self, prompts: Sequence[str]) -> FloatArray:
        """Predictions for many prompts as a ``(len(prompts), len(models))`` array."""
        x = extract_many(list(prompts))
        lin = self.linear.logits(x)
        out = np.empty((len(x), len(self.models)))
        for i in range(len(x)):
            out[i] = self._blend(lin[i], self.trees.logits(x[i]))
        return out

    def _blend(self, linear_logits: FloatArray, tree_logits: FloatArray) -> FloatArray:
        w = self.linear_weight
        return w * _sigmoid(linear_logits) + (1.0 - w) * _sigmoid(tree_logits)

    # -- files ------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the predictor to one ``.npz`` file (numeric arrays and a JSON header)."""
        header = {
            "format": FORMAT,
            "models": self.models,
            "features": list(FEATURE_NAMES),
            "linear_weight": self.linear_weight,
            "info": self.info,
        }
        arrays: dict[str, Any] = {
            **self.linear.arrays("linear_"),
            **self.trees.arrays("trees_"),
            "header": np.array(json.dumps(header)),
        }
        with open(path, "wb") as f:  # a file object: numpy adds no ".npz" to the name
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> QualityPredictor:
        """Read a file written by :meth:`save` (no pickle: no code runs on load)."""
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        try:
            header = json.loads(str(arrays.pop("header")))
        except KeyError as exc:
            raise ValueError(f"{path}: not a tandem router file") from exc
        if header.get("format") != FORMAT:
            raise ValueError(f"{path}: router format {header.get('format')!r}, expected {FORMAT!r}")
        if header.get("features") != list(FEATURE_NAMES):
            raise ValueError(f"{path}: trained with other features; retrain with this version")
        return cls(
            header["models"],
            LinearModel.from_arrays(arrays, "linear_"),
            TreeEnsemble.from_arrays(arrays, "trees_"),
            header.get("info"),
            float(header.get("linear_weight", LINEAR_WEIGHT)),
        )

    def __repr__(self) -> str:
        return f"QualityPredictor(models={self.models!r})"
