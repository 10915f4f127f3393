"""Soft labels from answer texts: read from CSV, used only when every model has answers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tandem.routing.learned import QualityPredictor, RoutingData, concat, read_csv
from tandem.routing.learned.features import extract_many
from tandem.routing.learned.teacher import MIN_ROWS, answer_stats, soft_targets

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TWO = FIXTURES / "two_models.csv"
WEAK, STRONG = "acme/tiny-1b", "acme/large-70b"


def _with_answers(n: int = 2 * MIN_ROWS) -> RoutingData:
    """Word problems; the weak model is right when its answer is short, like a model that gives up early."""
    rng = np.random.default_rng(0)
    prompts, scores, weak_texts, strong_texts = [], [], [], []
    for i in range(n):
        steps = int(rng.integers(1, 6))
        prompts.append(" ".join(f"Ana has {rng.integers(2, 900)} coins and buys {j + 2} more." for j in range(steps)))
        weak_right = float(rng.random() < 1.0 - steps / 6)
        strong_right = float(rng.random() < 0.9)
        scores.append([weak_right, strong_right])
        answer = f"#### {i if strong_right else i + 1}"
        weak_texts.append("\n".join(["x = 1 + 2"] * steps) + f"\n#### {i if weak_right else i + 7}")
        strong_texts.append("\n".join(["y = 3 * 4"] * steps) + "\n" + answer)
    return RoutingData(
        prompts=prompts,
        models=[WEAK, STRONG],
        scores=np.array(scores),
        groups=["problems"] * n,
        responses={WEAK: weak_texts, STRONG: strong_texts},
    )


def test_csv_responses_are_kept_for_training_only() -> None:
    data = read_csv(TWO)
    assert data.models == [WEAK, STRONG]
    assert list(data.responses) == [WEAK]
    assert len(data.responses[WEAK]) == len(data)
    assert data.subset([0, 2]).responses[WEAK] == [data.responses[WEAK][0], data.responses[WEAK][2]]


def test_concat_fills_missing_answers_with_empty_text() -> None:
    a = _with_answers()
    b = RoutingData(prompts=["q"], models=[WEAK], scores=np.array([[1.0]]), groups=["other"])
    both = concat([a, b])
    assert both.responses[WEAK][-1] == "" and both.responses[STRONG][-1] == ""
    assert both.responses[WEAK][:-1] == a.responses[WEAK]


def test_answer_stats_see_agreement() -> None:
    stats = answer_stats([["so 12\n#### 1,000", "#### 5"], ["the total is 1000.", "#### 6"]])
    assert stats.shape == (2, 12)
    assert stats[0, 5] == 1.0 and stats[0, 11] == 1.0  # both ended on 1000
    assert stats[1, 5] == 0.0 and stats[1, 11] == 0.0


def test_labels_untouched_without_every_model_answering() -> None:
    data = read_csv(TWO)  # only the weak model's answers
    labels = np.column_stack([data.column(m) for m in data.models])
    out = soft_targets(data, data.models, extract_many(data.prompts), labels)
    assert out is labels
    assert QualityPredictor.train(data, seed=0).info["soft_labels"] is False


def test_soft_labels_stay_in_range_and_near_the_labels() -> None:
    data = _with_answers()
    labels = np.column_stack([data.column(m) for m in data.models])
    out = soft_targets(data, data.models, extract_many(data.prompts), labels)
    assert out.shape == labels.shape
    assert ((out >= 0.0) & (out <= 1.0)).all()
    assert not np.array_equal(out, labels)
    assert (np.abs(out - labels) <= 0.5 + 1e-9).all()  # half label, half teacher
    predictor = QualityPredictor.train(data, seed=0)
    assert predictor.info["soft_labels"] is True
    assert set(predictor.predict(data.prompts[0])) == {WEAK, STRONG}


def test_csv_with_both_answers_trains(tmp_path: Path) -> None:
    data = _with_answers()
    path = tmp_path / "answers.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["prompt", WEAK, STRONG, f"{WEAK}_response", f"{STRONG}_response"])
        for i, p in enumerate(data.prompts):
            writer.writerow([p, *data.scores[i], data.responses[WEAK][i], data.responses[STRONG][i]])
    read = read_csv(path)
    assert read.models == [WEAK, STRONG] and set(read.responses) == {WEAK, STRONG}
    assert QualityPredictor.train(read, seed=0).info["soft_labels"] is True
