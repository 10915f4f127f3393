"""Training, saving, loading and predicting on synthetic fixtures with a real signal."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tandem.routing.learned import (
    QualityPredictor,
    evaluate_scores,
    read_csv,
    read_many,
    split_by_group,
)
from tandem.routing.learned.features import FEATURE_NAMES, extract

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TWO = FIXTURES / "two_models.csv"
THREE = FIXTURES / "three_models.csv"
WEAK, MID, STRONG = "acme/tiny-1b", "acme/medium-8b", "acme/large-70b"


@pytest.fixture(scope="module")
def two_split() -> tuple[QualityPredictor, object]:
    data = read_csv(TWO)
    train, test = split_by_group(data, seed=0)
    return QualityPredictor.train(data.subset(train), seed=0), data.subset(test)


def test_reads_scores_not_responses() -> None:
    data = read_csv(TWO)
    assert data.models == [WEAK, STRONG]  # the _response column is not a model
    assert set(np.unique(data.scores)) <= {0.0, 1.0}


def test_numeric_scores_are_normalized_and_blanks_kept_missing() -> None:
    data = read_csv(THREE)
    assert data.models == [WEAK, MID, STRONG]
    assert np.nanmin(data.scores) == 0.0 and np.nanmax(data.scores) == 1.0
    assert np.isnan(data.column(MID)).sum() > 0
    assert not np.isnan(data.column(WEAK)).any()


def test_learns_the_signal(two_split: tuple[QualityPredictor, object]) -> None:
    predictor, test = two_split
    results = evaluate_scores(test, predictor.predict_many(test.prompts), predictor.models)  # type: ignore[attr-defined]
    assert len(results) == 1
    r = results[0]
    assert (r.strong, r.weak) == (STRONG, WEAK)
    assert r.apgr > 0.65  # random 0.5; an oracle of kind and step count: 0.76
    assert r.cpt50 < 0.4


def test_predict_is_a_probability_per_model(two_split: tuple[QualityPredictor, object]) -> None:
    predictor, _ = two_split
    easy = predictor.predict("Which of these is the largest planet?\nA. Mars\nB. Jupiter\nC. Venus\nD. Earth\nAnswer:")
    hard = predictor.predict(
        "Ana has 340 coins. Then Ana buys 12 more coins at $3.50 each. Ana gives away 15% of the coins "
        "to a friend. Every week Ana sells 9 coins for 4 dollars per dozen. How many coins are left after 7 weeks?"
    )
    assert set(easy) == {WEAK, STRONG}
    assert all(0.0 <= v <= 1.0 for v in (*easy.values(), *hard.values()))
    assert hard[STRONG] - hard[WEAK] > easy[STRONG] - easy[WEAK]
    assert predictor.predict("") and predictor.predict("x" * 100_000)  # odd inputs do not fail


def test_save_load_round_trip(two_split: tuple[QualityPredictor, object], tmp_path: Path) -> None:
    predictor, test = two_split
    path = tmp_path / "router.npz"
    predictor.save(path)
    assert path.exists() and not (tmp_path / "router.npz.npz").exists()
    with zipfile.ZipFile(path) as z:  # plain arrays only: loadable with allow_pickle=False
        assert all(n.endswith(".npy") for n in z.namelist())
    loaded = QualityPredictor.load(path)
    assert loaded.models == predictor.models
    prompts = test.prompts[:25]  # type: ignore[attr-defined]
    assert np.allclose(loaded.predict_many(prompts), predictor.predict_many(prompts))
    one = np.array([list(loaded.predict(p).values()) for p in prompts])
    assert np.allclose(one, predictor.predict_many(prompts))


def test_load_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(ValueError):
        QualityPredictor.load(bad)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, header=np.array(json.dumps({"format": "other/9"})))
    with pytest.raises(ValueError, match="format"):
        QualityPredictor.load(wrong)


def test_three_models() -> None:
    data = read_many([THREE])
    train, test = split_by_group(data, seed=1)
    predictor = QualityPredictor.train(data.subset(train), seed=1)
    assert predictor.models == [WEAK, MID, STRONG]
    held = data.subset(test)
    results = evaluate_scores(held, predictor.predict_many(held.prompts), predictor.models)
    pairs = {(r.strong, r.weak) for r in results}
    assert pairs == {(MID, WEAK), (STRONG, WEAK), (STRONG, MID)}
    for r in results:
        assert r.apgr > 0.6, (r.strong, r.weak, r.apgr)
    only = QualityPredictor.train(data.subset(train), models=[STRONG, WEAK])
    assert only.models == [STRONG, WEAK]
    with pytest.raises(ValueError):
        QualityPredictor.train(data, models=["nope"])


def test_trees_match_sklearn() -> None:
    """The exported complete trees reproduce scikit-learn's own decision function."""
    from sklearn.ensemble import GradientBoostingClassifier

    from tandem.routing.learned.trees import PARAMS, fit_trees

    data = read_csv(TWO)
    x = np.array([extract(p) for p in data.prompts])
    y = data.column(WEAK)
    ensemble = fit_trees(x, y[:, None], seed=3)
    ref = GradientBoostingClassifier(random_state=3, **PARAMS).fit(x, y.astype(int))
    mine = np.array([ensemble.logits(row)[0] for row in x[:50]])
    assert np.allclose(mine, ref.decision_function(x[:50]), atol=1e-6)


def test_features_are_finite_and_fixed_length() -> None:
    for text in ("", "?", "A. x\nB. y", "∑ π ≤ 3/4 and 2.5% of $10\n" * 500, "Statement 1 | a. Statement 2 | b."):
        f = extract(text)
        assert len(f) == len(FEATURE_NAMES)
        assert all(np.isfinite(f))
