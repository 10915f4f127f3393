"""``llm()`` and ``llm_json()`` in DuckDB: real databases, batched concurrent calls, the cache."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tandem.cli import main
from tandem.config import load_config
from tests.batch.conftest import echo_config, user_prompts
from tests.upstream import Upstream

duckdb = pytest.importorskip("duckdb")

from tandem.batch.sql import LLMFunctions  # noqa: E402


def tandem(*args: str | Path) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_llm_over_a_file_backed_duckdb_table(
    tmp_path: Path, upstream: Upstream, write_config: Callable[[str], Path]
) -> None:
    db = tmp_path / "tickets.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE tickets AS SELECT i AS id, 'ticket ' || (i % 3) AS body FROM range(9) t(i)")
    con.close()
    cfg = write_config(echo_config(upstream.base_url))
    r = tandem(
        "sql",
        "SELECT id, llm('Summarize: ' || body) AS s, llm(NULL) AS n FROM tickets ORDER BY id",
        "--db",
        db,
        "--config",
        cfg,
        "-m",
        "echo",
        "--format",
        "json",
    )
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    rows = json.loads(r.stdout)  # type: ignore[attr-defined]
    assert [x["s"] for x in rows] == [f"echo: Summarize: ticket {i % 3}" for i in range(9)]
    assert all(x["n"] is None for x in rows)  # NULL in, NULL out, nothing sent
    # identical prompts are sent once per query
    assert sorted(user_prompts(upstream)) == [f"Summarize: ticket {i}" for i in range(3)]
    assert "llm: 3 calls (6 cached), 0 failed" in r.stderr  # type: ignore[attr-defined]


def test_llm_and_llm_json_over_a_parquet_file(tmp_path: Path, fake_config: Path) -> None:
    pq.write_table(pa.table({"id": [1, 2], "body": ["good", "bad"]}), tmp_path / "t.parquet")
    schema = tmp_path / "s.json"
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"score": {"type": "integer"}, "mood": {"type": "string"}},
            }
        )
    )
    out = tmp_path / "res.parquet"
    q = (
        f"SELECT id, llm(body, 'fake-b') AS plain, "
        f"(llm_json(body, '{schema}') ->> 'score')::INT AS score, "
        f"llm_json(body, '{schema}', 'fake-a') AS j FROM '{tmp_path / 't.parquet'}' ORDER BY id"
    )
    r = tandem("sql", q, "--config", fake_config, "--out", out)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    t = pq.read_table(out)
    assert t.column("plain").to_pylist() == ["You said: good", "You said: bad"]
    assert t.column("score").to_pylist() == [1, 1]
    assert json.loads(t.column("j").to_pylist()[0]) == {"score": 1, "mood": "text"}
    r = tandem("sql", q, "--config", fake_config, "--format", "csv")
    assert r.stdout.splitlines()[0] == '"id","plain","score","j"'  # type: ignore[attr-defined]


def test_errors_give_null_and_bad_schemas_fail_the_query(
    tmp_path: Path, upstream: Upstream, write_config: Callable[[str], Path]
) -> None:
    cfg = write_config(echo_config(upstream.base_url, model_id="status-400"))
    r = tandem("sql", "SELECT llm('x') AS a, 1 AS b", "--config", cfg, "-m", "echo", "--format", "jsonl")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert json.loads(r.stdout) == {"a": None, "b": 1}  # type: ignore[attr-defined]
    assert "1 failed" in r.stderr and "rejected the request" in r.stderr  # type: ignore[attr-defined]
    r = tandem("sql", """SELECT llm_json('x', '{"type": "string"}')""", "--config", cfg, "-m", "echo")
    assert r.exit_code == 1 and "object with properties" in r.output  # type: ignore[attr-defined]
    r = tandem("sql", "SELECT llm('x', 'nope')", "--config", cfg, "-m", "echo", "--format", "jsonl")
    assert r.exit_code == 1 and "no model or route 'nope' (known: echo" in r.output  # type: ignore[attr-defined]


def test_udf_calls_of_one_vector_run_concurrently(fake_config: Path) -> None:
    cfg = load_config(fake_config)  # fake-slow answers after 200 ms
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'prompt ' || i AS p FROM range(20) t(i)")
    with LLMFunctions(cfg, default_target="fake-slow", concurrency=10, ledger=False) as fns:
        fns.register(con)
        started = time.perf_counter()
        rows = con.sql("SELECT p, llm(p) AS a FROM t ORDER BY p").fetchall()
        elapsed = time.perf_counter() - started
        stats = fns.stats
    con.close()
    assert all(a == f"You said: {p}" for p, a in rows)
    assert stats.calls == 20 and stats.vectors == 1
    assert stats.max_in_flight == 10  # bounded by concurrency, and reached: the calls overlapped
    assert elapsed < 2.0, f"20 calls of 200 ms took {elapsed:.2f}s: not concurrent"  # serial: 4 s


def test_max_cost_stops_sending(fake_config: Path) -> None:
    cfg = load_config(fake_config)
    con = duckdb.connect()
    with LLMFunctions(cfg, default_target="fake-b", concurrency=1, max_cost=0.0001, ledger=False) as fns:
        fns.register(con)
        rows = con.sql("SELECT llm('prompt number ' || i) FROM range(10) t(i)").fetchall()
    con.close()
    answered = [a for (a,) in rows if a is not None]
    assert 0 < len(answered) < 10
    assert fns.stats.calls == len(answered) and fns.stats.errors == 10 - len(answered)
    assert "max cost" in fns.stats.first_errors[0]
