"""Statistics against published values, and dataset reading (JSONL, CSV, few-shot, samples)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tandem.bench import stats
from tandem.bench.dataset import SAMPLES, DatasetError, load_dataset
from tandem.bench.scorers import get_scorer
from tandem.bench.session import infer_scorer


def test_wilson_against_published_values() -> None:
    # Wilson 95% intervals as in Brown, Cai & DasGupta (2001) / any calculator.
    assert stats.wilson(2, 5) == pytest.approx((0.117621, 0.769276), abs=1e-6)
    assert stats.wilson(3, 5) == pytest.approx((0.230724, 0.882379), abs=1e-6)
    z2 = 1.959964**2  # 0 of n: the upper bound is z^2 / (n + z^2)
    assert stats.wilson(0, 10) == pytest.approx((0.0, z2 / (10 + z2)), abs=1e-6)
    assert stats.wilson(10, 10) == pytest.approx((10 / (10 + z2), 1.0), abs=1e-6)
    assert stats.wilson(0, 0) is None


@pytest.mark.parametrize(
    ("df", "t"),
    [
        (1, 12.706205),
        (2, 4.302653),
        (3, 3.182446),
        (4, 2.776445),
        (9, 2.262157),
        (29, 2.045230),
        (120, 1.979930),
        (5000, 1.960439),
    ],
)
def test_t_quantile_table(df: int, t: float) -> None:
    assert stats.t_quantile(df) == pytest.approx(t, abs=1e-6)


def test_t_interval_by_hand() -> None:
    values = [0.2, 0.4, 0.9]
    m = 0.5
    s = math.sqrt(((0.3) ** 2 + (0.1) ** 2 + (0.4) ** 2) / 2)
    half = 4.302653 * s / math.sqrt(3)
    assert stats.t_interval(values) == pytest.approx((m - half, m + half), abs=1e-6)
    assert stats.t_interval([0.5]) is None
    assert stats.score_interval([1.0, 0.0, 1.0])[1] == "wilson"
    assert stats.score_interval([1.0, 0.5])[1] == "t"


def test_percentile_busy_pareto_apgr() -> None:
    xs = [4.0, 1.0, 3.0, 2.0, 5.0]
    assert stats.percentile(xs, 50) == 3.0
    assert stats.percentile(xs, 95) == pytest.approx(4.8)  # 4 + 0.8 * (5 - 4)
    assert stats.percentile([2.0], 95) == 2.0
    assert stats.percentile([], 50) is None
    assert stats.busy_seconds([(0, 2), (1, 3), (5, 6), (5.5, 5.7)]) == pytest.approx(4.0)
    assert stats.busy_seconds([]) == 0.0
    # (cost, score): B dominates C; A and B and D are on the frontier.
    pts = [(1.0, 0.5), (2.0, 0.8), (3.0, 0.7), (4.0, 0.9), (2.0, 0.6)]
    assert stats.pareto_front(pts) == [0, 1, 3]
    assert stats.pgr(0.7, 0.5, 0.9) == pytest.approx(0.5)
    assert stats.pgr(0.7, 0.5, 0.5) is None
    assert stats.apgr([(0, 0), (1, 1)]) == pytest.approx(0.5)  # random routing
    assert stats.apgr([(0.4, 1.0), (0, 0), (1, 1)]) == pytest.approx(0.8)


def test_jsonl_fields_fewshot_and_choices(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "question": "2+2?", "answer": 4},
        {"prompt": "Largest?", "choices": ["Mars", "Jupiter"], "reference": "B", "extra": 1},
        {"messages": [{"role": "user", "content": "hi"}], "reference": "hello"},
        {"prompt": "Own shots", "fewshot": [{"prompt": "x", "answer": "y"}], "reference": "z"},
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    shots = tmp_path / "shots.jsonl"
    shots.write_text(json.dumps({"prompt": "1+1?", "answer": "2"}) + "\n")
    ds = load_dataset(str(data), fewshot=shots, system="Be brief.")
    a, b, c, d = ds.items
    assert a.id == "a" and a.reference == 4
    assert [m["role"] for m in a.messages] == ["system", "user", "assistant", "user"]
    assert a.messages[1:3] == [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]
    assert b.id == "2" and b.prompt.startswith("Largest?\nA. Mars\nB. Jupiter\n") and b.row["extra"] == 1
    assert c.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert d.messages[1:3] == [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    assert a.request_text == "Be brief.\n1+1?\n2\n2+2?"
    # The digest covers the data and everything that shapes the requests.
    assert load_dataset(str(data), fewshot=shots, system="Be brief.").digest == ds.digest
    assert load_dataset(str(data), fewshot=shots).digest != ds.digest


def test_csv_with_json_columns(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "id,prompt,reference,choices,schema\n"
        'x1,"Pick, one",A,"[""yes"", ""no""]",\n'
        'x2,"Give JSON",,,"{""type"": ""object""}"\n',
        encoding="utf-8",
    )
    a, b = load_dataset(str(path)).items
    assert a.choices == ["yes", "no"] and a.reference == "A"
    assert b.schema == {"type": "object"} and b.reference is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "a"}\nnot json\n', "line 2: not valid JSON"),
        ('{"reference": "a"}\n', "no 'prompt'"),
        ('{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\n', "duplicate id"),
        ('{"prompt": "a", "choices": ["only one"]}\n', "choices"),
        ('{"prompt": "a", "schema": "{bad"}\n', "'schema' is not valid JSON"),
        ("[1, 2]\n", "must be a JSON object"),
        ("", "no items"),
    ],
)
def test_bad_datasets(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(str(path))


def test_missing_file_names_the_samples() -> None:
    with pytest.raises(DatasetError, match="samples: capitals"):
        load_dataset("/nonexistent/file.jsonl")


@pytest.mark.parametrize("name", list(SAMPLES))
def test_samples_load_and_suit_their_scorer(name: str) -> None:
    ds = load_dataset(name)
    assert 10 <= len(ds.items) <= 20
    assert infer_scorer(ds) == SAMPLES[name].scorer
    if SAMPLES[name].scorer != "judge":
        scorer = get_scorer(SAMPLES[name].scorer)
        for it in ds.items:
            scorer.check(it)


def test_infer_scorer_from_fields(tmp_path: Path) -> None:
    def infer(rows: list[dict[str, object]]) -> str:
        path = tmp_path / "x.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return infer_scorer(load_dataset(str(path)))

    assert infer([{"prompt": "a", "reference": "12"}, {"prompt": "b", "reference": 3.5}]) == "numeric"
    assert infer([{"prompt": "a", "reference": "#### 1,200"}]) == "numeric"
    assert infer([{"prompt": "a", "reference": "Paris"}]) == "contains"
    assert infer([{"prompt": "a"}]) == "judge"
    assert infer([{"prompt": "a", "choices": ["x", "y"], "reference": "A"}]) == "choice"
    assert infer([{"prompt": "a", "schema": {"type": "object"}}]) == "json_schema"
    assert infer([{"prompt": "a", "pattern": "x"}]) == "regex"
