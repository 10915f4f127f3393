"""Routing training data: prompts and each model's score on them, read from CSV.

The format is the one of the RouteLLM evaluation files and of the
``router_train.csv`` that ``tandem bench`` writes: a ``prompt`` column, then
one column per model holding ``True``/``False`` or a number. Columns that are
not scores are not models: ``<model>_response`` (a model's answer, which is
not known at routing time; kept in :attr:`RoutingData.responses` for training
only, see :mod:`tandem.routing.learned.teacher`) and any column with a value
that is neither a boolean nor a number. An empty cell means "not measured" and is left out of training
and evaluation for that model only.

Scores are brought to [0, 1]: booleans become 1/0, numbers already in [0, 1]
are kept, and when a file's numeric columns hold numbers outside [0, 1] (a
1-10 judge scale, say) they are rescaled together by their joint minimum and
maximum, so the models of one file stay comparable with each other.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["RoutingData", "concat", "read_csv", "read_many"]

_TRUE = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0}


@dataclass(frozen=True)
class RoutingData:
    """Prompts, model names and a ``(prompts, models)`` score matrix (NaN: not measured).

    ``groups`` names where each prompt came from (its file's stem), for
    per-file splits and held-out-group evaluation. ``responses`` holds, for
    the models whose answer texts the files had, one text per prompt (``""``
    where there was none): a training-time signal only.
    """

    prompts: list[str]
    models: list[str]
    scores: npt.NDArray[np.float64]
    groups: list[str]
    responses: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scores.shape != (len(self.prompts), len(self.models)):
            raise ValueError("scores must have one row per prompt and one column per model")
        if len(self.groups) != len(self.prompts):
            raise ValueError("groups must have one entry per prompt")
        if any(len(texts) != len(self.prompts) for texts in self.responses.values()):
            raise ValueError("responses must have one text per prompt")

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, rows: Sequence[int] | npt.NDArray[np.intp]) -> RoutingData:
        """The rows at the given indices."""
        idx = np.asarray(rows, dtype=np.intp)
        return RoutingData(
            prompts=[self.prompts[i] for i in idx],
            models=list(self.models),
            scores=self.scores[idx],
            groups=[self.groups[i] for i in idx],
            responses={m: [texts[i] for i in idx] for m, texts in self.responses.items()},
        )

    def column(self, model: str) -> npt.NDArray[np.float64]:
        """One model's scores (NaN where not measured)."""
        return self.scores[:, self.models.index(model)]


def _parse(value: str) -> tuple[float, bool] | None:
    """A cell as (value, is boolean); NaN for empty; ``None`` if it is not a score at all."""
    v = value.strip()
    if not v:
        return math.nan, True
    low = v.lower()
    if low in _TRUE:
        return _TRUE[low], True
    try:
        x = float(v)
    except ValueError:
        return None
    return (x, False) if math.isfinite(x) else None


def read_csv(path: str | Path, group: str | None = None) -> RoutingData:
    """Read one routing CSV (see the module docstring for the format)."""
    path = Path(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long prompts are fine
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        if "prompt" not in header:
            raise ValueError(f"{path}: no 'prompt' column")
        candidates = [c for c in header if c != "prompt" and not c.endswith("_response") and c]
        prompts: list[str] = []
        raw: dict[str, list[float]] = {c: [] for c in candidates}
        boolean = dict.fromkeys(candidates, True)
        texts: dict[str, list[str]] = {c: [] for c in candidates if f"{c}_response" in header}
        for row in reader:
            prompts.append(row.get("prompt") or "")
            for c, col in texts.items():
                col.append(row.get(f"{c}_response") or "")
            for c in list(raw):
                cell = _parse(row.get(c) or "")
                if cell is None:  # text in a column: not a model score column
                    del raw[c]
                else:
                    raw[c].append(cell[0])
                    boolean[c] = boolean[c] and cell[1]
    models = [c for c in candidates if c in raw]
    if not models:
        raise ValueError(f"{path}: no model score columns next to 'prompt'")
    scores = np.array([raw[m] for m in models], dtype=np.float64).T.reshape(len(prompts), len(models))
    numeric = [j for j, m in enumerate(models) if not boolean[m]]
    if numeric:
        scores[:, numeric] = _normalize(scores[:, numeric])
    name = group if group is not None else path.stem
    responses = {m: texts[m] for m in models if m in texts}
    return RoutingData(prompts=prompts, models=models, scores=scores, groups=[name] * len(prompts), responses=responses)


def _normalize(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    seen = scores[~np.isnan(scores)]
    if seen.size == 0 or (seen.min() >= 0.0 and seen.max() <= 1.0):
        return scores
    lo, hi = float(seen.min()), float(seen.max())
    if hi - lo < 1e-12:
        return np.where(np.isnan(scores), np.nan, 1.0)
    return (scores - lo) / (hi - lo)


def read_many(paths: Iterable[str | Path]) -> RoutingData:
    """Read CSV files (or directories of them, recursively) into one data set.

    Models are the union over the files; a model absent from a file is NaN
    (not measured) on its prompts.
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        files.extend(sorted(p.rglob("*.csv")) if p.is_dir() else [p])
    if not files:
        raise ValueError("no CSV files given")
    return concat([read_csv(f) for f in files])


def concat(parts: Sequence[RoutingData]) -> RoutingData:
    """One data set from several; models are the union (NaN where a part lacks one).

    A model's responses are kept when some part has them (``""`` elsewhere).
    """
    if not parts:
        raise ValueError("nothing to concatenate")
    models: list[str] = []
    for part in parts:
        models.extend(m for m in part.models if m not in models)
    blocks = []
    for part in parts:
        block = np.full((len(part), len(models)), np.nan)
        for j, m in enumerate(part.models):
            block[:, models.index(m)] = part.scores[:, j]
        blocks.append(block)
    answered = [m for m in models if any(m in part.responses for part in parts)]
    return RoutingData(
        prompts=[p for part in parts for p in part.prompts],
        models=models,
        scores=np.vstack(blocks),
        groups=[g for part in parts for g in part.groups],
        responses={m: [t for part in parts for t in part.responses.get(m, [""] * len(part))] for m in answered},
    )
