"""Soft training labels from the models' answer texts, when the data has them.

A right/wrong label is one noisy draw: a model that solves a kind of problem
four times out of five still fails on some prompts of that kind, and the
router cannot and need not predict that draw. When the training files carry
each model's answer (``<model>_response`` columns), a *teacher* that reads
the prompt's features together with simple statistics of the answers (how
long, how many lines, numbers and ``=`` signs, and whether the models reached
the same final answer) estimates each model's chance on the prompt more
smoothly than the label alone. The predictor is then trained on
``(1 - MIX) * label + MIX * teacher``.

The teacher's estimate for a prompt always comes from a teacher that did not
train on that prompt (out-of-fold), so it cannot simply copy the label. The
answers are read at training time only: predicting needs the prompt alone,
so this costs nothing on the request path. Without answer texts the labels
are left as they are.

Measured on GSM8K (the RouteLLM data, 50/50 splits with seeds 0-7): APGR
0.635 -> 0.643 on average over the test halves (seed 0: 0.626 -> 0.647),
but only +0.003 and +0.001 with two other random states of the trees; MMLU,
which has no answer texts, unchanged. Part of the gain is likely
label noise the teacher sees through: where the models end on the same
number but only one is graded right (a grader that rejects ``$16.00``), the
agreement pulls the two labels together.
"""

from __future__ import annotations

import math
import re

import numpy as np
import numpy.typing as npt

from tandem.routing.learned.data import RoutingData
from tandem.routing.learned.linear import soft_label_rows

__all__ = ["MIN_ROWS", "MIX", "answer_stats", "soft_targets"]

FloatArray = npt.NDArray[np.float64]

#: Share of the teacher in the soft label (the rest is the label itself).
MIX = 0.5
#: Out-of-fold rounds of the teacher.
FOLDS = 5
#: Inverse L2 strength of the teacher's logistic regressions.
C = 0.3
#: Fewer rows with answers than this: the labels are left as they are.
MIN_ROWS = 100

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_MARKED = re.compile(r"####\s*(.*)")


def _number(token: str) -> str:
    """A number token in one spelling: ``1,000.50`` and ``1000.5`` are the same answer."""
    try:
        return repr(float(token.replace(",", "")))
    except ValueError:
        return token


def _final_answer(text: str) -> str:
    """The answer a text ends on: the number after ``####`` or its last number, else its last line."""
    marked = _MARKED.search(text)
    if marked is not None:
        nums = _NUMBER.findall(marked.group(1))
        if nums:
            return _number(nums[0])
    nums = _NUMBER.findall(text)
    if nums:
        return _number(nums[-1])
    lines = text.strip().lower().splitlines()
    return lines[-1].strip() if lines else ""


def _text_stats(text: str) -> list[float]:
    return [
        math.log1p(len(text)),
        math.log1p(len(text.split())),
        float(text.count("\n")),
        math.log1p(len(_NUMBER.findall(text))),
        float(text.count("=")),
    ]


def answer_stats(texts: list[list[str]]) -> FloatArray:
    """Statistics of the answers ``texts[model][prompt]``: per model its text's stats and
    the share of the other models that reached the same final answer."""
    n_models = len(texts)
    rows = []
    for answers in zip(*texts, strict=True):
        finals = [_final_answer(a) for a in answers]
        row: list[float] = []
        for j, answer in enumerate(answers):
            same = sum(1 for k in range(n_models) if k != j and finals[k] != "" and finals[k] == finals[j])
            row.extend([*_text_stats(answer), same / max(n_models - 1, 1)])
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(rows), 6 * n_models)


def _teacher_oof(z: FloatArray, y: FloatArray, seed: int) -> FloatArray:
    """Out-of-fold predictions of a logistic teacher on ``z`` for targets ``y`` in [0, 1]."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.model_selection import KFold  # type: ignore[import-untyped]

    out = y.copy()
    for fit_rows, held in KFold(FOLDS, shuffle=True, random_state=seed).split(z):
        fit_z = z[fit_rows]
        mean, scale = fit_z.mean(axis=0), fit_z.std(axis=0)
        scale[scale < 1e-9] = 1.0
        rows, labels, weights = soft_label_rows((fit_z - mean) / scale, y[fit_rows])
        if len(np.unique(labels)) < 2:  # one class in this fold: keep the labels
            continue
        clf = LogisticRegression(C=C, max_iter=5000, random_state=seed)
        clf.fit(rows, labels, sample_weight=weights)
        out[held] = clf.predict_proba((z[held] - mean) / scale)[:, 1]
    return out


def soft_targets(data: RoutingData, models: list[str], x: FloatArray, targets: FloatArray, seed: int = 0) -> FloatArray:
    """``targets`` with the labels of prompts that have every model's answer softened.

    ``x`` are the prompts' features (rows of ``data``), ``targets`` the
    ``(prompts, models)`` scores of ``models``. Returned unchanged when the
    data has no answer texts of all ``models`` on at least :data:`MIN_ROWS`
    scored prompts.
    """
    if not models or any(m not in data.responses for m in models):
        return targets
    texts = [data.responses[m] for m in models]
    answered = np.array([all(t[i].strip() for t in texts) for i in range(len(data))], dtype=bool)
    answered &= ~np.isnan(targets).any(axis=1)
    rows = np.flatnonzero(answered)
    if len(rows) < MIN_ROWS:
        return targets
    z = np.hstack([x[rows], answer_stats([[t[i] for i in rows] for t in texts])])
    out = targets.copy()
    for j in range(len(models)):
        y = targets[rows, j]
        out[rows, j] = (1.0 - MIX) * y + MIX * _teacher_oof(z, y, seed)
    return out
