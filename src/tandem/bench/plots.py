"""Plots of the report as inline SVG (matplotlib, Agg backend, imported lazily).

Every function returns SVG text, or None when matplotlib is not installed
(the HTML report then says how to get the plots).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from tandem.bench.summary import RouteCurve, TargetSummary

__all__ = ["route_svg", "scatter_svg"]

_MODEL, _ROUTE, _FRONT = "#2b6cb0", "#c05621", "#2f855a"


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.fonttype": "path",
            "axes.grid": True,
            "grid.alpha": 0.25,
        }
    )
    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _score_axis(ax: Any, binary: bool) -> None:
    if binary:
        ax.set_ylabel("Score: share of items correct (%)")
        ax.yaxis.set_major_formatter(lambda v, _: f"{round(v * 100, 1):g}%")
    else:
        ax.set_ylabel("Score (0 = worst, 1 = best)")


def _x_format(ax: Any, fmt: Any) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())


#: Label offsets tried in turn (points), right of the marker first.
_OFFSETS = [(8, 5), (8, -13), (-8, 5), (-8, -13), (8, 19), (8, -27), (-8, 19), (-8, -27), (8, 33), (8, -41)]


def _labels(ax: Any, points: list[tuple[float, float, str, bool]]) -> None:
    """Name each point, moving a label to another side when it would overlap
    an earlier one (boxes estimated in display pixels)."""
    fig = ax.figure
    ax.get_xlim(), ax.get_ylim()  # settle autoscaled limits before reading transData
    scale = fig.dpi / 72
    placed: list[tuple[float, float, float, float]] = []
    for x, y, name, bold in sorted(points, key=lambda p: (-p[1], p[0])):
        px, py = ax.transData.transform((x, y))
        width, height = (6.2 if bold else 5.6) * len(name) * scale, 11 * scale
        for dx, dy in _OFFSETS:
            left = px + dx * scale - (width if dx < 0 else 0)
            bottom = py + dy * scale
            box = (left, bottom, left + width, bottom + height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        ax.annotate(
            name,
            (x, y),
            textcoords="offset points",
            xytext=(dx, dy),
            fontsize=9,
            color="#1a202c",
            ha="right" if dx < 0 else "left",
            weight="bold" if bold else "normal",
        )


def scatter_svg(targets: Sequence[TargetSummary], axis: str, chance: float | None = None) -> str | None:
    """Score against ``cost`` (per 1,000 requests) or ``latency`` (median), with
    95% intervals and the Pareto frontier."""
    plt = _plt()
    if plt is None:
        return None
    pts = [
        t for t in targets if t.score is not None and (t.cost_per_1k if axis == "cost" else t.latency_p50) is not None
    ]
    if not pts:
        return None
    xs = [float((t.cost_per_1k if axis == "cost" else t.latency_p50) or 0.0) for t in pts]
    fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
    log = min(xs) > 0 and max(xs) / min(xs) >= 20
    if log:
        ax.set_xscale("log")
    front = [
        (x, t)
        for x, t in zip(xs, pts, strict=True)
        if (t.on_cost_frontier if axis == "cost" else t.on_latency_frontier)
    ]
    front.sort(key=lambda p: p[0])
    if len(front) > 1:
        fx = [p[0] for p in front]
        fy = [p[1].score for p in front]
        ax.step(
            fx,
            fy,
            where="post",
            color=_FRONT,
            linestyle="--",
            linewidth=1.5,
            label="Pareto frontier (nothing is both cheaper and better)"
            if axis == "cost"
            else "Pareto frontier (nothing is both faster and better)",
        )
    for x, t in zip(xs, pts, strict=True):
        color = _ROUTE if t.kind == "route" else _MODEL
        lo = max(0.0, (t.score or 0.0) - (t.ci_low if t.ci_low is not None else t.score or 0.0))
        hi = max(0.0, (t.ci_high if t.ci_high is not None else t.score or 0.0) - (t.score or 0.0))
        ax.errorbar(
            [x],
            [t.score],
            yerr=[[lo], [hi]],
            fmt="D" if t.kind == "route" else "o",
            color=color,
            ecolor=color,
            elinewidth=1,
            capsize=3,
            markersize=8,
            alpha=0.9,
        )
    if axis == "cost":
        ax.set_xlabel("Cost per 1,000 requests (USD" + (", log scale)" if log else ")"))
        _x_format(ax, lambda v: f"${v:g}")
    else:
        ax.set_xlabel("Median latency per reply (seconds" + (", log scale)" if log else ")"))
        _x_format(ax, lambda v: f"{v:g} s")
    _score_axis(ax, all(t.binary for t in pts))
    if not log:
        from matplotlib.ticker import MaxNLocator

        ax.set_xlim(left=0, right=max(xs) * 1.25 or 1)
        ax.xaxis.set_major_locator(MaxNLocator(6))
    ax.set_ylim(-0.03, 1.05)
    on_front = {id(p[1]) for p in front}
    _labels(ax, [(x, t.score or 0.0, t.target, id(t) in on_front) for x, t in zip(xs, pts, strict=True)])
    ax.plot([], [], "o", color=_MODEL, label="model (bar = 95% interval)")
    if any(t.kind == "route" for t in pts):
        ax.plot([], [], "D", color=_ROUTE, label="route")
    if chance is not None:
        ax.axhline(chance, color="#718096", linestyle=":", linewidth=1, label="answering at random")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncol=2, fontsize=8, frameon=False, borderaxespad=0)
    return _svg(fig)


def route_svg(curve: RouteCurve, binary: bool = False) -> str | None:
    """Two panels: PGR against the share of strong calls (area = APGR), and the
    route's cost and score between always-cheapest and always-strongest."""
    plt = _plt()
    if plt is None or not curve.curve or curve.apgr is None:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    xs = [p[0] * 100 for p in curve.curve]
    ys = [p[1] for p in curve.curve]
    left.plot([0, 100], [0, 1], color="#a0aec0", linestyle=":", label="random routing (APGR 0.50)")
    left.fill_between(xs, ys, alpha=0.15, color=_ROUTE)
    left.plot(xs, ys, color=_ROUTE, linewidth=2, label=f"{curve.route} (APGR {curve.apgr:.2f})")
    if curve.strong_share is not None and curve.pgr is not None:
        left.plot([curve.strong_share * 100], [curve.pgr], "D", color=_ROUTE, markersize=8)
        left.annotate(
            f"{curve.route} as configured",
            (curve.strong_share * 100, curve.pgr),
            textcoords="offset points",
            xytext=(8, -14),
            fontsize=9,
        )
    left.set_xlabel(f"Share of calls sent to {curve.strong} (%)")
    left.set_ylabel("PGR: share of the quality gap recovered")
    left.yaxis.set_major_formatter(lambda v, _: f"{round(v * 100, 1):g}%")
    left.set_xlim(0, 100)
    left.legend(loc="lower right", fontsize=8)
    left.set_title("Quality gap recovered", fontsize=10)
    ends = [
        (curve.weak_cost_per_1k, curve.weak_score, f"always {curve.weak}"),
        (curve.strong_cost_per_1k, curve.strong_score, f"always {curve.strong}"),
    ]
    right.plot(
        [e[0] for e in ends], [e[1] for e in ends], color="#a0aec0", linestyle=":", label="random mix of the two"
    )
    for x, y, label in ends:
        right.plot([x], [y], "o", color=_MODEL, markersize=8)
        right.annotate(label, (x or 0.0, y or 0.0), textcoords="offset points", xytext=(8, 4), fontsize=9)
    if curve.method == "predictor sweep":
        right.plot(
            [p[3] for p in curve.curve], [p[2] for p in curve.curve], color=_ROUTE, label="router threshold sweep"
        )
    right.plot(
        [curve.route_cost_per_1k], [curve.route_score], "D", color=_ROUTE, markersize=9, label=f"route {curve.route}"
    )
    right.set_xlabel("Cost per 1,000 requests (USD)")
    _x_format(right, lambda v: f"${v:g}")
    from matplotlib.ticker import MaxNLocator

    right.xaxis.set_major_locator(MaxNLocator(5))
    _score_axis(right, binary)
    right.set_title("Cost and quality", fontsize=10)
    right.legend(loc="lower right", fontsize=8)
    return _svg(fig)
