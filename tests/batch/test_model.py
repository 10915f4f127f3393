"""One real run with the bundled local model (SmolLM2-135M through llama.cpp)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.batch.tables import read_table
from tandem.cli import main

pytestmark = pytest.mark.model


def test_batch_and_sql_with_the_bundled_model(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    (tmp_path / "in.csv").write_text("word\ncat\nsun\ntree\n")
    out = tmp_path / "out.parquet"
    runner = CliRunner()
    r = runner.invoke(
        main,
        [
            "batch",
            str(tmp_path / "in.csv"),
            "-p",
            "Write one short sentence about a {word}.",
            "-o",
            str(out),
            "-m",
            "local",
            "--max-tokens",
            "12",
            "--no-progress",
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert "tokenizer" in r.output  # the estimate used the model's own tokenizer
    t = read_table(out).to_pylist()
    assert [x["word"] for x in t] == ["cat", "sun", "tree"]
    for x in t:
        assert x["error"] is None, x["error"]
        assert x["model"] == "local" and x["cost_usd"] == 0.0
        assert isinstance(x["answer"], str) and x["answer"].strip()

    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE TABLE words AS SELECT * FROM (VALUES ('moon')) v(word)")
    con.close()
    r = runner.invoke(
        main,
        [
            "sql",
            "SELECT word, llm('Say hello to the ' || word || '.') AS a FROM words",
            "--db",
            str(tmp_path / "w.duckdb"),
            "-m",
            "local",
            "--max-tokens",
            "8",
            "--format",
            "json",
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["word"] == "moon" and isinstance(row["a"], str) and row["a"].strip()
