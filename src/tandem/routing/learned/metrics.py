"""Routing quality metrics of the RouteLLM paper (arXiv 2406.18665), computed exactly.

A router gives every prompt a score (here: how much better the strong model
is predicted to do than the weak one). Sending the ``k`` highest-scored
prompts to the strong model and the rest to the weak one, for ``k`` from 0
to ``n``, traces the cost/quality curve: mean quality against the share of
strong calls. Then

- PGR (performance gap recovered) = (quality - weak) / (strong - weak);
- APGR = the area under PGR over the share of strong calls, 0 -> 100 %;
- CPT(x) = the smallest share of strong calls that reaches PGR ``x``.

The paper samples ten thresholds; here every ``k`` is a point of the curve,
so the numbers do not depend on a sampling choice. Prompts with equal scores
cannot be ordered by the router: within a tie the curve is the expectation
over its orderings (a straight line), so a constant router scores exactly
0.5, the same as a random one on average.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Curve", "PairMetrics", "apgr", "cpt", "pair_metrics", "quality_curve"]

FloatArray = npt.NDArray[np.float64]

#: Shares of strong calls shown in compact curve tables.
TABLE_SHARES: tuple[float, ...] = tuple(i / 10 for i in range(11))


@dataclass(frozen=True)
class Curve:
    """Cost/quality curve: ``quality[k]`` is the mean score with ``share[k]`` strong calls."""

    share: FloatArray
    quality: FloatArray
    weak: float
    strong: float

    @property
    def pgr(self) -> FloatArray:
        """Performance gap recovered at each point (NaN when both models score the same)."""
        gap = self.strong - self.weak
        if abs(gap) < 1e-12:
            return np.full_like(self.quality, math.nan)
        return (self.quality - self.weak) / gap

    def at(self, shares: Sequence[float] | FloatArray) -> FloatArray:
        """Quality at the given shares of strong calls (linear between points)."""
        return np.interp(np.asarray(shares, dtype=np.float64), self.share, self.quality)


def _as_array(values: Sequence[float] | FloatArray) -> FloatArray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def quality_curve(
    router_score: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
) -> Curve:
    """The curve of a router that sends prompts to ``strong`` in decreasing ``router_score``.

    ``weak`` and ``strong`` are the two models' scores per prompt (1/0 for
    right/wrong, or any number in [0, 1]).
    """
    score, w, s = _as_array(router_score), _as_array(weak), _as_array(strong)
    n = len(score)
    if n == 0 or len(w) != n or len(s) != n:
        raise ValueError("router_score, weak and strong must be non-empty and of equal length")
    order = np.argsort(-score, kind="stable")
    sorted_score = score[order]
    gain = np.concatenate(([0.0], np.cumsum((s - w)[order])))
    # positions where a run of equal scores ends: the curve is exact there and
    # linear in between (the expectation over the orderings of a tie)
    ends = np.flatnonzero(np.diff(sorted_score) != 0) + 1
    knots = np.concatenate(([0], ends, [n]))
    k = np.arange(n + 1, dtype=np.float64)
    expected_gain = np.interp(k, knots.astype(np.float64), gain[knots])
    quality = (w.sum() + expected_gain) / n
    return Curve(share=k / n, quality=quality, weak=float(w.mean()), strong=float(s.mean()))


def apgr(curve: Curve) -> float:
    """Area under the PGR curve over the share of strong calls (NaN if no gap)."""
    pgr = curve.pgr
    if np.isnan(pgr).any():
        return math.nan
    # trapezoid rule on the exact points
    return float(np.sum((pgr[1:] + pgr[:-1]) * np.diff(curve.share)) / 2.0)


def cpt(curve: Curve, target: float) -> float:
    """Smallest share of strong calls whose PGR reaches ``target`` (NaN if no gap)."""
    pgr = curve.pgr
    if np.isnan(pgr).any():
        return math.nan
    hit = np.flatnonzero(pgr >= target - 1e-12)
    if len(hit) == 0:
        return 1.0
    i = int(hit[0])
    if i == 0:
        return 0.0
    # linear interpolation between the last point below and the first one above
    lo, hi = pgr[i - 1], pgr[i]
    frac = (target - lo) / (hi - lo) if hi != lo else 1.0
    return float(curve.share[i - 1] + frac * (curve.share[i] - curve.share[i - 1]))


@dataclass(frozen=True)
class PairMetrics:
    """APGR, CPT(50 %), CPT(80 %) and the curve of one strong/weak pair."""

    strong: str
    weak: str
    n: int
    apgr: float
    cpt50: float
    cpt80: float
    curve: Curve = field(repr=False)

    def table(self, shares: Sequence[float] = TABLE_SHARES) -> list[tuple[float, float, float]]:
        """Rows (share of strong calls, quality, PGR) at the given shares."""
        q = self.curve.at(shares)
        gap = self.curve.strong - self.curve.weak
        pgr = (q - self.curve.weak) / gap if abs(gap) > 1e-12 else np.full_like(q, math.nan)
        return [(float(a), float(b), float(c)) for a, b, c in zip(shares, q, pgr, strict=True)]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary (the curve as the compact table)."""
        return {
            "strong": self.strong,
            "weak": self.weak,
            "n": self.n,
            "strong_mean": self.curve.strong,
            "weak_mean": self.curve.weak,
            "apgr": _finite(self.apgr),
            "cpt50": _finite(self.cpt50),
            "cpt80": _finite(self.cpt80),
            "curve": [{"strong_share": a, "quality": b, "pgr": _finite(c)} for a, b, c in self.table()],
        }


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


def pair_metrics(
    router_score: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
    *,
    weak_name: str = "weak",
    strong_name: str = "strong",
) -> PairMetrics:
    """All metrics of one router on one strong/weak pair."""
    curve = quality_curve(router_score, weak, strong)
    return PairMetrics(
        strong=strong_name,
        weak=weak_name,
        n=len(curve.share) - 1,
        apgr=apgr(curve),
        cpt50=cpt(curve, 0.5),
        cpt80=cpt(curve, 0.8),
        curve=curve,
    )
