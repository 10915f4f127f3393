"""``tandem bench`` on the command line (in-process with click's runner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.cli import main
from tests.bench_tool.helpers import FAKE_CONFIG, ROWS, write_jsonl


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TANDEM_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fake.yaml").write_text(FAKE_CONFIG)
    write_jsonl(tmp_path / "ds.jsonl", ROWS)
    return tmp_path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["bench", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_list_samples_and_help(env: Path) -> None:
    code, out, _ = invoke("--list-samples")
    assert code == 0
    for name, scorer in (
        ("quiz", "choice"),
        ("arithmetic", "numeric"),
        ("extract", "json_schema"),
        ("explain", "judge"),
        ("capitals", "exact"),
        ("facts", "contains"),
        ("formats", "regex"),
    ):
        assert any(line.split()[:2] == [name, scorer] for line in out.splitlines())
    code, out, _ = invoke("--help")
    assert code == 0 and "--hardware-cost-per-hour" in out and "--resume / --no-resume" in out


def test_json_report_and_files(env: Path) -> None:
    code, out, err = invoke(
        "ds.jsonl",
        "--config",
        "fake.yaml",
        "--models",
        "cheap,strong",
        "--routes",
        "auto",
        "--max-tokens",
        "16",
        "--json",
        "--scorer",
        "contains",
    )
    assert code == 0, err
    data = json.loads(out)
    assert [t["target"] for t in data["targets"]] == ["cheap", "strong", "auto"]
    assert data["routes"][0]["apgr"] == pytest.approx(0.8)
    assert "20 calls" not in err and "15 calls made, 0 already done" in err
    for name in ("report.html", "summary.csv", "report.json", "items.csv", "router_train.csv", "results.sqlite"):
        assert (env / "bench-results" / "ds" / name).exists(), name


def test_table_and_findings(env: Path) -> None:
    code, out, err = invoke(
        "ds.jsonl",
        "--config",
        "fake.yaml",
        "--models",
        "strong",
        "--routes",
        "",
        "--max-tokens",
        "16",
        "--out",
        "o",
        "--no-ledger",
    )
    assert code == 0, err
    assert "strong" in out and "60.0%" in out and "$0.212" in out and "Best quality: strong" in out
    assert "Report: o/report.html" in out


def test_routes_alone_bring_their_candidates(env: Path) -> None:
    code, out, err = invoke(
        "ds.jsonl", "--config", "fake.yaml", "--routes", "auto", "--max-tokens", "16", "--json", "--out", "o"
    )
    assert code == 0, err
    assert [t["target"] for t in json.loads(out)["targets"]] == ["cheap", "strong", "auto"]


def test_default_dataset_is_a_sample(env: Path) -> None:
    code, out, err = invoke("--config", "fake.yaml", "--models", "strong", "--json", "--out", "o", "--limit", "3")
    assert code == 0, err
    data = json.loads(out)
    assert data["dataset"]["name"] == "quiz" and data["dataset"]["items"] == 3
    assert data["settings"]["scorer"] == "choice" and data["settings"]["max_tokens"] == 24


def test_judge_scorer_defaults_to_the_best_prior(env: Path) -> None:
    code, out, err = invoke(
        "ds.jsonl",
        "--config",
        "fake.yaml",
        "--models",
        "cheap",
        "--routes",
        "",
        "--scorer",
        "judge",
        "--json",
        "--out",
        "o",
        "--max-tokens",
        "16",
    )
    assert code == 0, err
    assert json.loads(out)["judge"]["model"] == "strong"  # quality prior 0.9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ds.jsonl", "--models", "nope"], "unknown model 'nope'"),
        (["ds.jsonl", "--routes", "nope"], "unknown route 'nope'"),
        (["missing.jsonl"], "cannot read dataset missing.jsonl"),
        (["ds.jsonl", "--scorer", "bogus"], "unknown scorer 'bogus'"),
        (["ds.jsonl", "--scorer", "numeric"], "cannot be scored with numeric"),
        (["ds.jsonl", "--schema", "fake.yaml"], "--schema: not valid JSON"),
        (["ds.jsonl", "--scorer", "regex:(unclosed"], "bad regular expression"),
    ],
)
def test_errors_are_one_clear_line(env: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["bench", "--config", "fake.yaml", *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
