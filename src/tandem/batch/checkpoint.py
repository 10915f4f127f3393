"""The checkpoint of a batch run: one SQLite row per input row, committed as it goes.

Rows are keyed by (input fingerprint, request hash, row index): the input
fingerprint is a hash of the input file's bytes, the request hash covers
everything that shapes a request (template, model or route, schema,
max_tokens, system prompt, temperature). Change any of them and the run
starts afresh; keep them and a rerun resumes.

A row goes through two committed states:

``sent``
    committed *before* the request leaves. A row still ``sent`` when a run
    starts was in flight when the previous run died: the upstream may have
    answered (and billed) it, so it is not sent again unless asked
    (``--retry-interrupted``). This is what makes "never pays twice" hold
    even for a SIGKILL between the upstream's reply and our commit.
``done``
    the reply (or the error) with its model, cost and usage.

WAL mode with ``synchronous=NORMAL``: each commit survives the process
being killed (the data is in the OS page cache), which is the failure this
guards against; a power cut may lose the last few commits.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

__all__ = ["Checkpoint", "RowResult", "RowState"]

RowState = Literal["sent", "done"]

#: The rows of one run (parameters: input fingerprint, request hash).
_RUN = "input_fp = ? AND request_hash = ?"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    input_fp TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    input_path TEXT NOT NULL,
    request TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (input_fp, request_hash)
);
CREATE TABLE IF NOT EXISTS rows (
    input_fp TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    state TEXT NOT NULL,
    answer TEXT,
    model TEXT,
    cost_usd REAL NOT NULL DEFAULT 0,
    error TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL,
    PRIMARY KEY (input_fp, request_hash, row_index)
);
"""


@dataclass(slots=True)
class RowResult:
    """What a row's call produced."""

    answer: Any = None
    model: str | None = None
    cost_usd: float = 0.0
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Checkpoint:
    """The SQLite checkpoint of one (input, request) run."""

    def __init__(self, path: str | Path, input_fp: str, request_hash: str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.input_fp = input_fp
        self.request_hash = request_hash
        self.readonly = readonly
        if readonly:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit: every statement below is its own durable transaction.
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self._key = (input_fp, request_hash)

    @classmethod
    def peek(cls, path: str | Path, input_fp: str, request_hash: str) -> Checkpoint | None:
        """Open an existing checkpoint read-only (for ``--dry-run``), or None."""
        if not Path(path).exists():
            return None
        try:
            ckpt = cls(path, input_fp, request_hash, readonly=True)
            ckpt.states()
        except sqlite3.Error:
            return None
        return ckpt

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def begin_run(self, input_path: str, request: dict[str, Any]) -> None:
        """Record what this run is (for people reading the checkpoint)."""
        self._db.execute(
            "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?)",
            (*self._key, input_path, orjson.dumps(request, default=str).decode(), time.time()),
        )

    def states(self) -> dict[int, tuple[RowState, bool]]:
        """row index -> (state, has an error) for every recorded row."""
        cur = self._db.execute(
            "SELECT row_index, state, error IS NOT NULL FROM rows WHERE " + _RUN,
            self._key,
        )
        return {int(i): (s, bool(e)) for i, s, e in cur}

    def other_runs(self) -> int:
        """How many other (input, request) runs this file holds."""
        cur = self._db.execute("SELECT COUNT(*) FROM runs WHERE NOT (input_fp = ? AND request_hash = ?)", self._key)
        return int(cur.fetchone()[0])

    def mark_sent(self, index: int) -> None:
        """Commit that row ``index`` is about to be sent."""
        self._db.execute(
            "INSERT INTO rows (input_fp, request_hash, row_index, state, attempts, updated) "
            "VALUES (?, ?, ?, 'sent', 1, ?) ON CONFLICT (input_fp, request_hash, row_index) "
            "DO UPDATE SET state = 'sent', attempts = attempts + 1, updated = excluded.updated",
            (*self._key, index, time.time()),
        )

    def forget(self, index: int) -> None:
        """Drop a ``sent`` mark for a request that never left (refused at admission)."""
        self._db.execute(
            f"DELETE FROM rows WHERE {_RUN} AND row_index = ? AND state = 'sent'",
            (*self._key, index),
        )

    def mark_done(self, index: int, result: RowResult) -> None:
        """Commit the outcome of row ``index``; cost and tokens add up over attempts."""
        answer = None if result.answer is None else orjson.dumps(result.answer).decode()
        self._db.execute(
            "UPDATE rows SET state = 'done', answer = ?, model = ?, cost_usd = cost_usd + ?, "
            "error = ?, prompt_tokens = prompt_tokens + ?, "
            "completion_tokens = completion_tokens + ?, updated = ? "
            "WHERE input_fp = ? AND request_hash = ? AND row_index = ?",
            (
                answer,
                result.model,
                result.cost_usd,
                result.error,
                result.prompt_tokens,
                result.completion_tokens,
                time.time(),
                *self._key,
                index,
            ),
        )

    def results(self) -> Iterator[tuple[int, RowState, RowResult]]:
        """Every recorded row of this run, by row index."""
        cur = self._db.execute(
            "SELECT row_index, state, answer, model, cost_usd, error, prompt_tokens, "
            f"completion_tokens FROM rows WHERE {_RUN} ORDER BY row_index",
            self._key,
        )
        for index, state, answer, model, cost, error, pt, ct in cur:
            value = None if answer is None else orjson.loads(answer)
            yield int(index), state, RowResult(value, model, float(cost), error, int(pt), int(ct))

    def total_cost(self) -> float:
        """USD spent on this run's rows so far, over every attempt recorded."""
        cur = self._db.execute(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM rows WHERE input_fp = ? AND request_hash = ?",
            self._key,
        )
        return float(cur.fetchone()[0])
