"""``tandem bench`` with no config against the real bundled SmolLM2-135M, and the
HTML report rendered by a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TANDEM_HOME": str(tmp_path / "home")}
    env.pop("TANDEM_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "tandem", "bench", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.model
def test_out_of_the_box_run_on_the_bundled_model(tmp_path: Path) -> None:
    """No DATASET, no config: the quiz sample on the bundled local model."""
    run = _bench(tmp_path, "--limit", "6", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["dataset"]["name"] == "quiz" and report["settings"]["scorer"] == "choice"
    (local,) = report["targets"]  # the implicit route "auto" has one candidate: not repeated
    assert local["target"] == "local" and local["requests"] == 6 and local["errors"] == 0
    assert 0.0 <= local["score"] <= 1.0 and local["ci_low"] <= local["score"] <= local["ci_high"]
    assert 0 < local["ttft_p50"] <= local["latency_p50"] < 60
    assert local["tokens_per_s"] > 1
    # Priced 0 in the table: the cost is hardware time at $0.10/hour.
    assert local["api_cost_usd"] == 0 and local["compute_s"] > 0
    assert local["cost_per_1k"] == pytest.approx(local["compute_s"] * 0.10 / 3600 / 6 * 1000)
    assert local["mean_completion_tokens"] <= 24
    out = tmp_path / "bench-results" / "quiz"
    assert (out / "report.html").stat().st_size > 10_000
    # The run is in the usage ledger too, like any traffic.
    import sqlite3

    with sqlite3.connect(tmp_path / "home" / "tandem.db") as conn:
        n = conn.execute("SELECT count(*) FROM usage_events WHERE request_id LIKE 'bench:%'").fetchone()[0]
    assert n == 6
    # Resumed: the full sample only calls the remaining 9 items.
    again = _bench(tmp_path, "--json")
    assert again.returncode == 0, again.stderr
    assert "9 calls made, 6 already done" in again.stderr
    assert json.loads(again.stdout)["targets"][0]["requests"] == 15


@pytest.mark.model
def test_numeric_sample_with_fewshot_on_the_bundled_model(tmp_path: Path) -> None:
    run = _bench(tmp_path, "arithmetic", "--limit", "3", "--json", "--max-tokens", "64")
    assert run.returncode == 0, run.stderr
    (local,) = json.loads(run.stdout)["targets"]
    assert local["requests"] == 3 and local["errors"] == 0
    # Two few-shot examples precede every prompt: the prompts are long.
    assert local["mean_prompt_tokens"] > 100


@pytest.mark.browser
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    """The HTML report of a fake run, rendered to PNG by headless Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no chromium on PATH")
    from tests.bench_tool.helpers import FAKE_CONFIG, ROWS, write_jsonl

    (tmp_path / "fake.yaml").write_text(FAKE_CONFIG)
    write_jsonl(tmp_path / "ds.jsonl", ROWS)
    run = _bench(
        tmp_path,
        "ds.jsonl",
        "--config",
        "fake.yaml",
        "--max-tokens",
        "16",
        "--out",
        "o",
        "--models",
        "cheap,strong,flaky",
        "--routes",
        "auto",
        "--scorer",
        "contains",
    )
    assert run.returncode == 0, run.stderr
    png = tmp_path / "report.png"
    shot = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={png}",
            "--window-size=1200,2400",
            (tmp_path / "o" / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.returncode == 0 and png.stat().st_size > 50_000
    html = (tmp_path / "o" / "report.html").read_text()
    # Self-contained: no scripts, no stylesheets or images fetched from anywhere.
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert not any(f'{a}="http' in html or f"{a}='http" in html for a in ("src", "href", "xlink:href"))
    assert html.count("<svg") >= 3
