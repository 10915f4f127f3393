"""``tandem batch`` end to end, in-process through the CLI, with fake and real HTTP upstreams."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from tandem.batch.tables import read_table
from tandem.cli import main
from tandem.config import load_config
from tests.batch.conftest import echo_config, write_jsonl
from tests.upstream import Upstream


def tandem(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def fake_cost(prompt: str) -> float:
    """The fake provider's echo: tokens are words; fake-a costs $1/M in, $2/M out."""
    words = len(prompt.split())
    return (words * 1 + (words + 2) * 2) / 1_000_000


def test_csv_round_trip_keeps_columns_and_order(tmp_path: Path, fake_config: Path) -> None:
    lines = ["id,name,body"] + [f'{i:03d},n{i},"text, {i}"' for i in range(20)]
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    r = tandem(
        "batch",
        tmp_path / "in.csv",
        "-p",
        "Summarize {body} by {name}",
        "-o",
        out,
        "--config",
        fake_config,
        "--model",
        "fake-a",
        "-j",
        "4",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    assert "20 answered, 0 errors" in r.output
    t = read_table(out)
    assert t.column_names == ["id", "name", "body", "answer", "model", "cost_usd", "error"]
    assert t.column("id").to_pylist() == [f"{i:03d}" for i in range(20)]  # order and text kept
    prompts = [f"Summarize text, {i} by n{i}" for i in range(20)]
    assert t.column("answer").to_pylist() == [f"You said: {p}" for p in prompts]
    assert set(t.column("model").to_pylist()) == {"fake-a"}
    assert t.column("error").to_pylist() == [""] * 20  # CSV has no null: empty
    assert [float(c) for c in t.column("cost_usd").to_pylist()] == pytest.approx([fake_cost(p) for p in prompts])


def test_jsonl_round_trip_with_failing_rows(tmp_path: Path, fake_config: Path) -> None:
    rows = [{"id": i, "q": f"question {i}", "meta": {"k": i}} for i in range(5)]
    write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    r = tandem(
        "batch",
        tmp_path / "in.jsonl",
        "-p",
        "{q} ({meta})",
        "-o",
        out,
        "--config",
        fake_config,
        "--model",
        "fake-broken",
        "-j",
        "1",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    assert "3 answered, 2 errors" in r.output
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["id"] for g in got] == [0, 1, 2, 3, 4]  # JSON types kept
    assert got[2]["meta"] == {"k": 2}
    # the fake fails its first two calls with HTTP 400 (not retried: it could double-bill)
    assert [g["error"] is not None for g in got] == [True, True, False, False, False]
    assert "rejected the request" in got[0]["error"] and got[0]["answer"] is None
    assert got[2]["answer"] == 'You said: question 2 ({"k":2})'
    assert got[2]["model"] == "fake-broken" and got[0]["cost_usd"] == 0.0

    # A rerun sends nothing; --retry-errors sends exactly the failed rows again.
    r = tandem(
        "batch",
        tmp_path / "in.jsonl",
        "-p",
        "{q} ({meta})",
        "-o",
        out,
        "--config",
        fake_config,
        "--model",
        "fake-broken",
        "--no-progress",
    )
    assert "(0 to send, 5 done" in r.output and "3 answered, 2 errors" in r.output
    r = tandem(
        "batch",
        tmp_path / "in.jsonl",
        "-p",
        "{q} ({meta})",
        "-o",
        out,
        "--config",
        fake_config,
        "--model",
        "fake-broken",
        "--retry-errors",
        "--no-progress",
    )
    assert "(2 to send, 3 done" in r.output
    # a new process: its fake fails its first two calls again, i.e. both retried rows
    assert "3 answered, 2 errors" in r.output


def test_parquet_schema_outputs_are_typed(tmp_path: Path, fake_config: Path) -> None:
    pq.write_table(
        pa.table({"id": pa.array([1, 2, 3], pa.int32()), "body": ["a", "b", "c"]}),
        tmp_path / "in.parquet",
    )
    schema = {
        "type": "object",
        "required": ["count", "score", "urgent", "label"],
        "properties": {
            "count": {"type": "integer"},
            "score": {"type": "number"},
            "urgent": {"type": "boolean"},
            "label": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    (tmp_path / "s.json").write_text(json.dumps(schema))
    out = tmp_path / "out.parquet"
    r = tandem(
        "batch",
        tmp_path / "in.parquet",
        "-p",
        "Triage: {body}",
        "-o",
        out,
        "--config",
        fake_config,
        "--json-schema",
        tmp_path / "s.json",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    t = pq.read_table(out)
    types = {f.name: f.type for f in t.schema}
    assert types == {
        "id": pa.int32(),
        "body": pa.string(),
        "count": pa.int64(),
        "score": pa.float64(),
        "urgent": pa.bool_(),
        "label": pa.string(),
        "tags": pa.list_(pa.string()),
        "model": pa.string(),
        "cost_usd": pa.float64(),
        "error": pa.string(),
    }
    row = t.to_pylist()[0]
    assert (row["count"], row["score"], row["urgent"], row["label"], row["tags"]) == (
        1,
        1.5,
        True,
        "text",
        ["text"],
    )
    assert row["error"] is None and row["model"] == "fake-a"  # route auto picks the cheapest


def test_invalid_schema_replies_go_to_the_error_column(
    tmp_path: Path, upstream: Upstream, write_config: Callable[[str], Path]
) -> None:
    cfg = write_config(echo_config(upstream.base_url))
    payloads = [
        '{"n": 1, "ok": true}',
        "no json here",
        '{"n": "two", "ok": true}',
        '{"n": 4, "ok": false}',
    ]
    write_jsonl(tmp_path / "in.jsonl", [{"payload": p} for p in payloads])
    (tmp_path / "s.json").write_text(
        json.dumps(
            {
                "name": "t",
                "schema": {
                    "type": "object",
                    "required": ["n", "ok"],
                    "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"}},
                },
            }
        )
    )
    out = tmp_path / "out.parquet"
    # The upstream answers "echo: <prompt>"; the JSON inside is taken when it is valid.
    r = tandem(
        "batch",
        tmp_path / "in.jsonl",
        "-p",
        "{payload}",
        "-o",
        out,
        "--config",
        cfg,
        "-m",
        "echo",
        "--json-schema",
        tmp_path / "s.json",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    t = pq.read_table(out).to_pylist()
    assert [(x["n"], x["ok"]) for x in t] == [(1, True), (None, None), (None, None), (4, False)]
    assert t[0]["error"] is None and t[3]["error"] is None
    assert "not JSON" in t[1]["error"] and "at n" in t[2]["error"]
    assert all(x["cost_usd"] > 0 for x in t)  # an invalid reply was still billed: its cost is kept
    fmt = upstream.requests[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "t"


def test_dry_run_prints_estimate_and_prompts_and_calls_nothing(
    tmp_path: Path, upstream: Upstream, write_config: Callable[[str], Path]
) -> None:
    cfg = write_config(echo_config(upstream.base_url, price=2.0))
    (tmp_path / "in.csv").write_text("q\n" + "".join(f"question {i}\n" for i in range(10)))
    out = tmp_path / "out.csv"
    r = tandem(
        "batch",
        tmp_path / "in.csv",
        "-p",
        "Answer {{briefly}}: {q}",
        "-o",
        out,
        "--config",
        cfg,
        "-m",
        "echo",
        "--max-tokens",
        "50",
        "--dry-run",
    )
    assert r.exit_code == 0, r.output
    assert upstream.requests == []
    assert not out.exists() and not list(tmp_path.glob("*.sqlite"))
    assert "rows: 10 (10 to send)" in r.output
    assert "completion tokens: 500, at most 50 per row" in r.output
    # the gateway's own admission estimate: characters/3 + 8 per message, plus max_tokens, at $2/M
    prompt_tokens = sum(len(f"Answer {{briefly}}: question {i}") // 3 + 8 for i in range(10))
    assert f"prompt tokens: ~{prompt_tokens}" in r.output
    assert f"estimated cost: ${(prompt_tokens + 500) * 2 / 1e6:.4f}" in r.output
    for i in range(3):
        assert f"--- row {i} ---\nAnswer {{briefly}}: question {i}\n" in r.output
    assert "--- row 3 ---" not in r.output


def test_route_estimate_samples_the_router(tmp_path: Path, fake_config: Path) -> None:
    (tmp_path / "in.csv").write_text("q\n" + "".join(f"q{i}\n" for i in range(250)))
    r = tandem(
        "batch",
        tmp_path / "in.csv",
        "-p",
        "{q}",
        "-o",
        tmp_path / "o.csv",
        "--config",
        fake_config,
        "--dry-run",
        "--max-tokens",
        "10",
    )
    assert r.exit_code == 0, r.output
    assert "route auto (objective cheapest)" in r.output
    assert "125 sampled rows routed as the gateway would route them" in r.output
    assert "fake-a" in r.output and "125/125 rows" in r.output and "0/125 rows" in r.output
    assert "from $" in r.output and "to $" in r.output  # the range over candidates


def test_max_cost_refuses_unless_yes(tmp_path: Path, upstream: Upstream, write_config: Callable[[str], Path]) -> None:
    cfg = write_config(echo_config(upstream.base_url, price=1000.0))
    (tmp_path / "in.csv").write_text("q\n" + "".join(f"question {i}\n" for i in range(5)))
    out = tmp_path / "out.csv"
    args = [
        "batch",
        tmp_path / "in.csv",
        "-p",
        "{q}",
        "-o",
        out,
        "--config",
        cfg,
        "-m",
        "echo",
        "--max-tokens",
        "20",
        "--max-cost",
        "0.01",
        "--no-progress",
    ]
    r = tandem(*args)
    assert r.exit_code == 1
    assert "is over --max-cost $0.01: not started" in r.output
    assert upstream.requests == [] and not out.exists()
    r = tandem(*args, "--yes")
    assert r.exit_code == 0, r.output
    assert len(upstream.requests) == 5 and "5 answered" in r.output


def test_errors_for_bad_templates_columns_and_formats(tmp_path: Path, fake_config: Path) -> None:
    (tmp_path / "in.csv").write_text("id,answer\n1,x\n")
    base = ["batch", tmp_path / "in.csv", "--config", fake_config, "--no-progress"]
    r = tandem(*base, "-p", "{idd}", "-o", tmp_path / "o.csv")
    assert r.exit_code == 1 and "unknown column in the prompt template: {idd} (did you mean {id}?)" in r.output
    r = tandem(*base, "-p", "{id", "-o", tmp_path / "o.csv")
    assert r.exit_code == 1 and "{{ and }}" in r.output
    r = tandem(*base, "-p", "{id}", "-o", tmp_path / "o.csv")
    assert r.exit_code == 1 and "already has column(s) answer" in r.output and "--prefix" in r.output
    r = tandem(*base, "-p", "{id}", "-o", tmp_path / "o.json")
    assert r.exit_code == 1 and ".jsonl" in r.output
    r = tandem(*base, "-p", "{id}", "-o", tmp_path / "o.csv", "--route", "fake-a")
    assert r.exit_code == 2 and "no route 'fake-a'" in r.output
    r = tandem(*base, "-p", "{id}", "-o", tmp_path / "o.csv", "--prefix", "llm_", "-m", "fake-a")
    assert r.exit_code == 0, r.output
    assert read_table(tmp_path / "o.csv").column_names == [
        "id",
        "answer",
        "llm_answer",
        "llm_model",
        "llm_cost_usd",
        "llm_error",
    ]


def test_budget_stops_the_run_and_spend_reaches_the_ledger(
    tmp_path: Path, write_config: Callable[[str], Path], tandem_home: Path
) -> None:
    from tandem.store import KeySpec, open_store

    cfg_path = write_config("""\
        privacy: {default_policy: allow}
        models:
          - name: pricey
            provider: fake
            price: {input: 100, output: 100}
        """)
    cfg = load_config(cfg_path)

    async def make_key() -> str:
        store = open_store(cfg)
        await store.start()
        try:
            _, secret = await store.create_key(KeySpec(name="batch", budget_total_usd=0.004))
        finally:
            await store.aclose()
        return secret

    secret = asyncio.run(make_key())
    (tmp_path / "in.csv").write_text("q\n" + "".join(f"q{i}\n" for i in range(20)))
    out = tmp_path / "out.csv"
    # ~ (7 + 10) tokens x $100/M reserved per row: the budget covers a few rows only
    r = tandem(
        "batch",
        tmp_path / "in.csv",
        "-p",
        "{q}",
        "-o",
        out,
        "--config",
        cfg_path,
        "-m",
        "pricey",
        "--max-tokens",
        "10",
        "--key",
        secret,
        "-j",
        "1",
        "--no-progress",
    )
    assert r.exit_code == 1
    assert "stopped early: insufficient_quota" in r.output
    t = read_table(out)
    assert t.num_rows == 20  # nothing dropped
    answered = [e == "" for e in t.column("error").to_pylist()]
    n_ok = sum(answered)
    assert 0 < n_ok < 20 and answered == [True] * n_ok + [False] * (20 - n_ok)
    assert all(
        e.startswith("not run: the run stopped: insufficient_quota") for e in t.column("error").to_pylist()[n_ok:]
    )

    async def ledger() -> list[object]:
        store = open_store(cfg)
        await store.start()
        try:
            return list(await store.usage_summary(by="model"))
        finally:
            await store.aclose()

    rows = asyncio.run(ledger())
    assert [(r.group, r.requests) for r in rows if r.group == "pricey"] == [("pricey", n_ok)]
    with sqlite3.connect(tandem_home / "tandem.db") as db:  # each ledger record names its run and row
        events = list(db.execute("SELECT request_id, model, status FROM usage_events"))
    assert all(re.fullmatch(r"batch-[0-9a-f]{16}-\d+", rid) for rid, _, _ in events)
    assert sum(model == "pricey" for _, model, _ in events) == n_ok
    assert [status for _, model, status in events if model is None] == [429]  # the refused call, not sent
    # the refused rows were never sent: a rerun (with more budget) would send exactly them
    ckpt = sqlite3.connect(next(tmp_path.glob("*.sqlite")))
    states = Counter(s for (s,) in ckpt.execute("SELECT state FROM rows"))
    assert states == {"done": n_ok}


def test_estimate_warns_when_rows_cannot_be_served(tmp_path: Path, write_config: Callable[[str], Path]) -> None:
    cfg = write_config("""\
        models:
          - name: plain
            provider: fake
            capabilities: [chat]
        """)
    (tmp_path / "in.csv").write_text("q\na\nb\n")
    (tmp_path / "s.json").write_text('{"type": "object", "properties": {"x": {"type": "string"}}}')
    r = tandem(
        "batch",
        tmp_path / "in.csv",
        "-p",
        "{q}",
        "-o",
        tmp_path / "o.csv",
        "--config",
        cfg,
        "-m",
        "plain",
        "--json-schema",
        tmp_path / "s.json",
        "--dry-run",
    )
    assert r.exit_code == 0, r.output
    assert "warning: 2 of 2 sampled rows would fail: No model can serve this request (plain: lacks json)" in r.output
