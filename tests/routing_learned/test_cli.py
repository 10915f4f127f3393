"""``tandem router train`` and ``tandem router eval`` on the synthetic fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.cli.router import router

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def router_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("router") / "r.npz"
    result = CliRunner().invoke(router, ["train", str(FIXTURES / "two_models.csv"), "--out", str(out), "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "trained on 600 prompts, 2 models" in result.output
    return out


def test_eval_tables_and_plot(router_file: Path, tmp_path: Path) -> None:
    png = tmp_path / "curve.png"
    result = CliRunner().invoke(
        router, ["eval", "--router", str(router_file), str(FIXTURES / "two_models.csv"), "--plot", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert "APGR" in result.output and "CPT(50%)" in result.output and "CPT(80%)" in result.output
    assert "acme/large-70b  vs  acme/tiny-1b" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_json(router_file: Path) -> None:
    data = str(FIXTURES / "two_models.csv")
    result = CliRunner().invoke(router, ["eval", "--router", str(router_file), data, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    (pair,) = payload["pairs"]
    assert pair["strong"] == "acme/large-70b" and pair["weak"] == "acme/tiny-1b"
    assert 0.5 < pair["apgr"] < 1.5
    assert 0.0 <= pair["cpt50"] <= pair["cpt80"] <= 1.0
    assert [p["strong_share"] for p in pair["curve"]][:2] == [0.0, 0.1]


def test_three_models_all_pairs(tmp_path: Path) -> None:
    out = tmp_path / "r3.npz"
    runner = CliRunner()
    assert runner.invoke(router, ["train", str(FIXTURES / "three_models.csv"), "--out", str(out)]).exit_code == 0
    result = runner.invoke(
        router,
        ["eval", "--router", str(out), str(FIXTURES / "three_models.csv"), "--json", "--plot", str(tmp_path / "c.png")],
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["pairs"]) == 3
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_errors_are_clean(router_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nhi,there\n", encoding="utf-8")
    result = CliRunner().invoke(router, ["train", str(bad), "--out", str(tmp_path / "x.npz")])
    assert result.exit_code != 0 and "prompt" in result.output
    other = tmp_path / "other.csv"
    other.write_text("prompt,someone/else\nhi,True\n", encoding="utf-8")
    result = CliRunner().invoke(router, ["eval", "--router", str(router_file), str(other)])
    assert result.exit_code != 0 and "at least two" in result.output
