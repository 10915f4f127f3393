"""The cost/quality curve as a PNG (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tandem.routing.learned.metrics import PairMetrics

__all__ = ["plot_curves"]

#: Points drawn per curve: enough for a smooth line, few enough for a small file.
_POINTS = 201


def plot_curves(results: Sequence[PairMetrics], path: str | Path, title: str = "") -> None:
    """Quality against the share of strong calls, one panel per pair, with random and both models."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to the file only
    import matplotlib.pyplot as plt

    n = max(len(results), 1)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), squeeze=False)
    share = np.linspace(0.0, 1.0, _POINTS)
    for ax, r in zip(axes.flat, results, strict=False):
        c = r.curve
        ax.plot(share * 100, c.at(share), color="#2563eb", label=f"router (APGR {r.apgr:.3f})")
        ax.plot([0, 100], [c.weak, c.strong], color="#9ca3af", linestyle=":", label="random")
        ax.axhline(c.strong, color="#dc2626", linestyle="--", linewidth=1, label=f"{_short(r.strong)} only")
        ax.axhline(c.weak, color="#6b7280", linestyle="--", linewidth=1, label=f"{_short(r.weak)} only")
        for target, x in ((0.5, r.cpt50), (0.8, r.cpt80)):
            if np.isfinite(x):
                y = c.weak + target * (c.strong - c.weak)
                ax.plot([x * 100], [y], marker="o", color="#2563eb")
                ax.annotate(
                    f"CPT({target:.0%})={x:.0%}", (x * 100, y), textcoords="offset points", xytext=(6, -12), fontsize=8
                )
        ax.set_xlabel("strong-model calls (%)")
        ax.set_ylabel("mean score")
        ax.set_title(f"{_short(r.strong)} vs {_short(r.weak)} (n={r.n})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _short(model: str) -> str:
    """``org/Model-Name`` -> ``Model-Name`` (labels stay readable)."""
    return model.rsplit("/", 1)[-1]
