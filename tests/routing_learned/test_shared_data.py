"""Reproduce the reported 50/50 APGR on the shared routing data (skipped without it).

The numbers are the ones ``bench/router_quality.py`` prints for the tandem
router with ``--seed 0``; one training run on half the data, about a minute
on two cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tandem.routing.learned import QualityPredictor, concat, evaluate_scores, read_many, split_by_group

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "routing"
#: setting -> (APGR, CPT50, CPT80) reported by bench/router_quality.py --seed 0
REPORTED = {"mmlu": (0.745, 0.203, 0.472), "gsm8k": (0.647, 0.292, 0.591)}
TOLERANCE = 0.01

pytestmark = pytest.mark.skipif(
    not (DATA / "mmlu").is_dir() or not (DATA / "gsm8k_responses.csv").is_file(),
    reason=f"shared routing data not found at {DATA}",
)


def test_reported_split_apgr() -> None:
    mmlu = read_many([DATA / "mmlu"])
    data = concat([mmlu, read_many([DATA / "gsm8k_responses.csv"])])
    train, test = split_by_group(data, seed=0)
    predictor = QualityPredictor.train(data.subset(train), seed=0)
    held = data.subset(test)
    predicted = predictor.predict_many(held.prompts)
    is_mmlu = np.array([g in set(mmlu.groups) for g in held.groups])
    for name, rows in (("mmlu", np.flatnonzero(is_mmlu)), ("gsm8k", np.flatnonzero(~is_mmlu))):
        (pair,) = evaluate_scores(held.subset(rows), predicted[rows], predictor.models)
        apgr, cpt50, cpt80 = REPORTED[name]
        assert pair.apgr == pytest.approx(apgr, abs=TOLERANCE), name
        assert pair.cpt50 == pytest.approx(cpt50, abs=2 * TOLERANCE), name
        assert pair.cpt80 == pytest.approx(cpt80, abs=2 * TOLERANCE), name
