"""The small statistics of a benchmark, in pure Python (hand-checkable).

- :func:`wilson` 95% interval for a share of binary (pass/fail) scores;
- :func:`t_interval` 95% interval for the mean of continuous scores, with
  Student's t quantile from :func:`t_quantile` (exact series for integer
  degrees of freedom, Abramowitz & Stegun 26.7.3-4, inverted by bisection);
- :func:`percentile` with linear interpolation (numpy's default method);
- :func:`busy_seconds`: the length of a union of time intervals;
- :func:`pareto_front`: the points no other point beats on both axes;
- :func:`pgr` and :func:`apgr`, the routing metrics of the RouteLLM paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

__all__ = [
    "Z95",
    "apgr",
    "busy_seconds",
    "mean",
    "pareto_front",
    "percentile",
    "pgr",
    "score_interval",
    "t_interval",
    "t_quantile",
    "wilson",
]

#: The two-sided 95% quantile of the standard normal distribution.
Z95 = 1.959963984540054


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean, or None for no values."""
    return sum(values) / len(values) if values else None


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for ``successes`` out of ``n`` (None for n = 0)."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _t_two_sided(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with ``df`` (integer) degrees of freedom."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    s = math.sin(theta)
    if df % 2 == 1:
        if df == 1:
            return 2 * theta / math.pi
        term, total = math.cos(theta), math.cos(theta)
        for k in range(1, (df - 3) // 2 + 1):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        return 2 / math.pi * (theta + s * total)
    term, total = 1.0, 1.0
    for k in range(1, (df - 2) // 2 + 1):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return s * total


def t_quantile(df: int, confidence: float = 0.95) -> float:
    """The two-sided ``confidence`` quantile of Student's t (t_{0.975, df} for 95%)."""
    if df < 1:
        raise ValueError("degrees of freedom must be >= 1")
    if df > 2000:
        # The series gets long; the Cornish-Fisher expansion is exact to ~1e-10 here.
        z = _normal_quantile(confidence)
        return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
    lo, hi = 0.0, 1.0
    while _t_two_sided(hi, df) < confidence:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if _t_two_sided(mid, df) < confidence:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


def _normal_quantile(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """mean +- t * s / sqrt(n) (None for fewer than two values)."""
    n = len(values)
    if n < 2:
        return None
    m = sum(values) / n
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    half = t_quantile(n - 1, confidence) * math.sqrt(var / n)
    return m - half, m + half


def score_interval(values: Sequence[float]) -> tuple[tuple[float, float] | None, str]:
    """The 95% interval suited to the scores: Wilson if all are 0 or 1, else t.

    Returns the interval and the method's name (``wilson`` or ``t``).
    """
    if all(v in (0.0, 1.0) for v in values):
        return wilson(sum(values), len(values)), "wilson"
    return t_interval(values), "t"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linear between closest ranks."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def busy_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """Total length of the union of ``(start, end)`` intervals (overlaps count once)."""
    total, end = 0.0, -math.inf
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, score) that no other point dominates.

    A point dominates another when it costs no more and scores no less, and is
    strictly better in one of the two. Lower cost and higher score are better.
    """
    front = []
    for i, (ci, si) in enumerate(points):
        dominated = any((cj <= ci and sj >= si) and (cj < ci or sj > si) for j, (cj, sj) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], points[i][1]))


def pgr(score: float, weak: float, strong: float) -> float | None:
    """Performance gap recovered: (score - weak) / (strong - weak)."""
    if strong == weak:
        return None
    return (score - weak) / (strong - weak)


def apgr(curve: Sequence[tuple[float, float]]) -> float:
    """Area under a PGR curve of (share of strong calls, PGR) points, by trapezoids.

    The curve should run from share 0 to share 1; points are sorted by share.
    """
    pts = sorted(curve)
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in pairwise(pts))
