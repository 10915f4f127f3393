"""The results file of a benchmark: one SQLite row per (run, item, target).

``run_key`` identifies a dataset with the settings that shape its requests
(file hash, few-shot examples, system prompt, max tokens, temperature), so a
rerun of the same benchmark finds its earlier results and skips them. Each
result is committed the moment it completes (WAL, ``synchronous=FULL``), so
killing the process loses at most the calls still in flight.

This file lives in the run's output directory, next to the reports it feeds;
it is the benchmark's own working state, not the gateway's store (the calls
themselves also reach the usage ledger through the gateway).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["Result", "ResultStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY, dataset TEXT NOT NULL, source TEXT NOT NULL,
    settings TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run_key TEXT NOT NULL, item_id TEXT NOT NULL, target TEXT NOT NULL,
    kind TEXT NOT NULL, served_model TEXT, route_reason TEXT, predicted TEXT,
    reply TEXT, status INTEGER NOT NULL, error TEXT, error_message TEXT,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL, local_compute INTEGER NOT NULL,
    started_at REAL NOT NULL, ended_at REAL NOT NULL,
    latency_s REAL, ttft_s REAL, retries INTEGER NOT NULL, fallbacks INTEGER NOT NULL,
    scorer TEXT, score REAL, score_note TEXT,
    judge_cost_usd REAL NOT NULL DEFAULT 0, judge_compute_s REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (run_key, item_id, target)
);
"""


@dataclass(slots=True)
class Result:
    """One call of one target on one item, as measured and scored."""

    run_key: str
    item_id: str
    target: str
    #: ``model`` or ``route``.
    kind: str
    served_model: str | None
    route_reason: str | None
    #: JSON of the route's predicted quality per candidate, when a predictor ran.
    predicted: str | None
    reply: str | None
    status: int
    error: str | None
    error_message: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    #: 1 if the model that served (or would have served) it has price 0: its
    #: cost is hardware time, charged from the busy time at report time.
    local_compute: int
    #: Wall-clock (time.time) start and end of the call.
    started_at: float
    ended_at: float
    latency_s: float | None
    ttft_s: float | None
    retries: int
    fallbacks: int
    scorer: str | None = None
    score: float | None = None
    score_note: str | None = None
    judge_cost_usd: float = 0.0
    judge_compute_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.error is None


#: Column names come from the dataclass, never from input; every value is a parameter.
_COLUMNS = [f.name for f in fields(Result)]


class ResultStore:
    """Results of benchmark runs in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None)  # autocommit: one row, one commit
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def begin_run(self, run_key: str, dataset: str, source: str, settings: dict[str, Any]) -> None:
        """Record what a run key stands for (first time only)."""
        self.db.execute(
            "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?)",
            (run_key, dataset, source, json.dumps(settings, sort_keys=True), time.time()),
        )

    def put(self, result: Result) -> None:
        """Store one result durably (replacing an earlier one for the same key)."""
        marks = ", ".join("?" for _ in _COLUMNS)
        self.db.execute(
            f"INSERT OR REPLACE INTO results ({', '.join(_COLUMNS)}) VALUES ({marks})",
            [getattr(result, c) for c in _COLUMNS],
        )

    def set_score(
        self,
        run_key: str,
        item_id: str,
        target: str,
        scorer: str | None,
        score: float | None,
        note: str,
        judge_cost: float = 0.0,
        judge_compute_s: float = 0.0,
    ) -> None:
        """Store the score of a stored reply."""
        self.db.execute(
            "UPDATE results SET scorer = ?, score = ?, score_note = ?, judge_cost_usd = ?, judge_compute_s = ?"
            " WHERE run_key = ? AND item_id = ? AND target = ?",
            (scorer, score, note, judge_cost, judge_compute_s, run_key, item_id, target),
        )

    def done(self, run_key: str, *, with_errors: bool = True) -> set[tuple[str, str]]:
        """(item id, target) pairs stored for ``run_key`` (errors left out if asked)."""
        sql = "SELECT item_id, target FROM results WHERE run_key = ?"
        if not with_errors:
            sql += " AND error IS NULL"
        return {(i, t) for i, t in self.db.execute(sql, (run_key,))}

    def results(self, run_key: str, targets: Iterable[str] | None = None) -> list[Result]:
        """Stored results of a run, optionally of some targets only."""
        rows = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM results WHERE run_key = ?", (run_key,)).fetchall()
        wanted = set(targets) if targets is not None else None
        out = [Result(*row) for row in rows]
        return [r for r in out if wanted is None or r.target in wanted]

    def forget(self, run_key: str) -> int:
        """Delete a run's results (``--no-resume``); returns how many."""
        cur = self.db.execute("DELETE FROM results WHERE run_key = ?", (run_key,))
        return cur.rowcount

    @staticmethod
    def as_dict(result: Result) -> dict[str, Any]:
        """A result as a plain dict."""
        return asdict(result)
