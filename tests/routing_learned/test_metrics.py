"""Routing metrics on tiny cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tandem.routing.learned.metrics import apgr, cpt, pair_metrics, quality_curve

# 4 prompts: weak right on 0 and 3, strong right on 0, 1, 2. weak 0.5, strong 0.75.
WEAK = [1.0, 0.0, 0.0, 1.0]
STRONG = [1.0, 1.0, 1.0, 0.0]
GAIN = [s - w for s, w in zip(STRONG, WEAK, strict=True)]  # [0, 1, 1, -1]


def test_perfect_oracle() -> None:
    r = pair_metrics(GAIN, WEAK, STRONG)
    assert r.curve.quality.tolist() == pytest.approx([0.5, 0.75, 1.0, 1.0, 0.75])
    # PGR 0, 1, 2, 2, 1 -> trapezoids of width 1/4
    assert r.apgr == pytest.approx(1.375)
    assert r.cpt50 == pytest.approx(0.125)
    assert r.cpt80 == pytest.approx(0.2)


def test_anti_router() -> None:
    r = pair_metrics([-g for g in GAIN], WEAK, STRONG)
    assert r.curve.quality.tolist() == pytest.approx([0.5, 0.25, 0.25, 0.5, 0.75])
    assert r.apgr == pytest.approx(-0.375)
    assert r.cpt50 == pytest.approx(0.875)


def test_constant_router_is_exactly_random() -> None:
    # all tied: the expected curve is the straight line from weak to strong
    r = pair_metrics([0.3] * 4, WEAK, STRONG)
    assert r.curve.quality.tolist() == pytest.approx([0.5, 0.5625, 0.625, 0.6875, 0.75])
    assert r.apgr == pytest.approx(0.5)
    assert r.cpt50 == pytest.approx(0.5)
    assert r.cpt80 == pytest.approx(0.8)


def test_random_router_is_about_half() -> None:
    rng = np.random.default_rng(0)
    weak = (rng.random(2000) < 0.6).astype(float)
    strong = (rng.random(2000) < 0.8).astype(float)
    values = [pair_metrics(rng.random(2000), weak, strong).apgr for _ in range(20)]
    assert float(np.mean(values)) == pytest.approx(0.5, abs=0.03)


def test_ties_are_averaged() -> None:
    # two tied prompts, one gains and one loses: half a call gains nothing on average
    curve = quality_curve([1.0, 1.0], [0.0, 1.0], [1.0, 0.0])
    assert curve.quality.tolist() == pytest.approx([0.5, 0.5, 0.5])


def test_no_gap_gives_nan_not_an_error() -> None:
    curve = quality_curve([0.1, 0.2], [1.0, 0.0], [0.0, 1.0])
    assert math.isnan(apgr(curve)) and math.isnan(cpt(curve, 0.5))
    assert pair_metrics([0.1, 0.2], [1.0, 0.0], [0.0, 1.0]).to_dict()["apgr"] is None


def test_graded_scores_and_table() -> None:
    r = pair_metrics([0.9, 0.1], [0.2, 0.6], [0.8, 0.7])
    assert r.curve.weak == pytest.approx(0.4) and r.curve.strong == pytest.approx(0.75)
    rows = r.table((0.0, 0.5, 1.0))
    assert [q for _, q, _ in rows] == pytest.approx([0.4, 0.7, 0.75])
    assert rows[-1][2] == pytest.approx(1.0)


def test_bad_lengths_raise() -> None:
    with pytest.raises(ValueError):
        quality_curve([0.1], [1.0, 0.0], [1.0, 1.0])
