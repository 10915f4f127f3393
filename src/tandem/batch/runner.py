"""Running a prompt template over every row of a table, resumably.

:func:`plan` reads the input, checks the template against its columns and
looks the run up in its checkpoint; :func:`run` sends the rows still to do
through the gateway with bounded concurrency, committing each row to the
checkpoint as it completes; :func:`write_output` writes the output table
from the input and the checkpoint, in input row order. Nothing is dropped:
a row that failed, was interrupted or was never sent keeps its input
columns and says why in the ``error`` column.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import pyarrow as pa  # type: ignore[import-untyped]

from tandem.batch.checkpoint import Checkpoint, RowResult
from tandem.batch.job import RequestSpec, reply_text
from tandem.batch.schema import ReplyError
from tandem.batch.tables import fingerprint, read_table, write_table
from tandem.batch.template import PromptTemplate, TemplateError
from tandem.call import KeyInfo
from tandem.errors import (
    AuthenticationError,
    BudgetExceeded,
    ModelNotFound,
    PermissionDenied,
    RateLimited,
    TandemError,
)
from tandem.gateway import Gateway

__all__ = [
    "BatchPlan",
    "PlanError",
    "RunStats",
    "checkpoint_path_for",
    "plan",
    "run",
    "write_output",
]

log = logging.getLogger("tandem.batch")

#: Errors that stop the whole run: every later row would fail the same way,
#: before reaching an upstream (so those rows are left to a rerun, unsent).
FATAL = (BudgetExceeded, AuthenticationError, PermissionDenied, ModelNotFound)
#: How often one row waits out the caller's own rate limit before giving up.
RATE_LIMIT_WAITS = 20

INTERRUPTED = (
    "interrupted: this row was in flight when an earlier run stopped, so the upstream may have "
    "answered and billed it; not sent again (rerun with --retry-interrupted to send it)"
)


class PlanError(ValueError):
    """The run cannot start (bad template, column clash, unreadable input)."""


def checkpoint_path_for(output: str | Path) -> Path:
    """The default checkpoint file: next to the output."""
    out = Path(output)
    return out.with_name(out.name + ".checkpoint.sqlite")


@dataclass(slots=True)
class BatchPlan:
    """A run, ready to go: its input, request, checkpoint and rows to send."""

    input_path: Path
    table: pa.Table
    template: PromptTemplate
    spec: RequestSpec
    input_fp: str
    request_hash: str
    checkpoint_path: Path
    #: Row indexes to send, in order.
    todo: list[int]
    #: Rows already done (answered or failed) in the checkpoint.
    done: int
    #: Rows left ``sent`` by an interrupted run and not resent.
    interrupted: int
    #: Output column names: (answer columns, model, cost_usd, error).
    answer_columns: list[tuple[str, pa.DataType]]
    meta_columns: tuple[str, str, str]
    _columns: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Input rows."""
        return int(self.table.num_rows)

    def prompt(self, index: int) -> str:
        """The rendered prompt of row ``index``."""
        if not self._columns:
            self._columns = {f: self.table.column(f).to_pylist() for f in self.template.fields}
        return self.template.render({f: col[index] for f, col in self._columns.items()})

    def prompts(self, indexes: list[int]) -> Sequence[str]:
        """The rendered prompts of ``indexes``, rendered when read (not held in memory).

        A row that cannot render reads as its error text: for estimates only.
        """
        return _Prompts(self, indexes)


class _Prompts(Sequence[str]):
    def __init__(self, plan_: BatchPlan, indexes: list[int]) -> None:
        self.plan, self.indexes = plan_, indexes

    def __len__(self) -> int:
        return len(self.indexes)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return _Prompts(self.plan, self.indexes[i])
        try:
            return self.plan.prompt(self.indexes[i])
        except TemplateError as exc:
            return str(exc)


def plan(
    input_path: str | Path,
    template: PromptTemplate,
    spec: RequestSpec,
    *,
    checkpoint_path: str | Path,
    retry_errors: bool = False,
    retry_interrupted: bool = False,
    prefix: str = "",
    readonly: bool = False,
) -> BatchPlan:
    """Read the input and the checkpoint; decide which rows to send.

    ``readonly`` (dry runs) creates no checkpoint file.
    """
    path = Path(input_path)
    table = read_table(path)
    template.check(table.column_names)
    if spec.schema is not None:
        answers = [(prefix + name, t) for name, t in spec.schema.columns]
    else:
        answers = [(prefix + "answer", pa.string())]
    meta = (prefix + "model", prefix + "cost_usd", prefix + "error")
    added = [n for n, _ in answers] + list(meta)
    dupes = sorted({n for n in added if added.count(n) > 1})
    if dupes:
        raise PlanError(
            f"the schema's properties {', '.join(dupes)} clash with the columns the output adds "
            "(model, cost_usd, error); choose a prefix for the added columns with --prefix "
            "(e.g. --prefix llm_)"
        )
    clash = [c for c in added if c in set(table.column_names)]
    if clash:
        raise PlanError(
            f"the input already has column(s) {', '.join(clash)}, which the output adds; "
            "choose a prefix for the added columns with --prefix (e.g. --prefix llm_)"
        )
    if table.num_rows:
        try:
            template.render({f: table.column(f)[0].as_py() for f in template.fields})
        except TemplateError as exc:
            raise PlanError(f"row 0: {exc}") from None
    fp = fingerprint(path)
    digest = spec.digest(template)
    ckpt_path = Path(checkpoint_path)
    states: dict[int, tuple[str, bool]] = {}
    if readonly:
        peek = Checkpoint.peek(ckpt_path, fp, digest)
        if peek is not None:
            states = dict(peek.states())
            peek.close()
    else:
        ckpt = Checkpoint(ckpt_path, fp, digest)
        states = dict(ckpt.states())
        ckpt.close()
    todo: list[int] = []
    done = interrupted = 0
    for i in range(table.num_rows):
        state = states.get(i)
        if state is None:
            todo.append(i)
        elif state[0] == "sent":
            if retry_interrupted:
                todo.append(i)
            else:
                interrupted += 1
        elif state[1] and retry_errors:
            todo.append(i)
        else:
            done += 1
    return BatchPlan(path, table, template, spec, fp, digest, ckpt_path, todo, done, interrupted, answers, meta)


@dataclass(slots=True)
class RunStats:
    """What one run did."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    spent_usd: float = 0.0
    #: Why the run stopped early (budget, key), or None.
    stopped: str | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    first_errors: list[str] = field(default_factory=list)


def _error_text(exc: TandemError) -> str:
    return f"{exc.code or exc.type}: {exc.message}"


async def run(
    plan_: BatchPlan,
    gateway: Gateway,
    *,
    key: KeyInfo | None = None,
    concurrency: int = 8,
    on_row: Callable[[RunStats], None] | None = None,
    stats: RunStats | None = None,
) -> RunStats:
    """Send every row of ``plan_.todo``; each row is committed as it completes.

    Stops early (leaving the rest unsent) on errors that would fail every
    row before it reaches an upstream: budget exhausted, key refused.
    Cancellation leaves in-flight rows marked ``sent``.
    """
    stats = stats if stats is not None else RunStats()  # the caller's: kept if the run is cancelled
    stop = asyncio.Event()
    ckpt = Checkpoint(plan_.checkpoint_path, plan_.input_fp, plan_.request_hash)
    ckpt.begin_run(str(plan_.input_path), plan_.spec.describe(plan_.template))
    schema = plan_.spec.schema
    rows = iter(plan_.todo)

    def finish(index: int, result: RowResult) -> None:
        ckpt.mark_done(index, result)
        stats.spent_usd += result.cost_usd
        if result.error is None:
            stats.ok += 1
        else:
            stats.errors += 1
            if len(stats.first_errors) < 3:
                stats.first_errors.append(f"row {index}: {result.error}")
        if on_row is not None:
            on_row(stats)

    async def one(index: int) -> None:
        try:
            body = plan_.spec.body(plan_.prompt(index))
        except TemplateError as exc:
            ckpt.mark_sent(index)
            finish(index, RowResult(error=f"template: {exc}"))
            return
        ckpt.mark_sent(index)  # committed before the request leaves
        stats.sent += 1
        for _ in range(RATE_LIMIT_WAITS):
            try:
                call = gateway.new_call("chat", body, key)
            except TandemError as exc:
                finish(index, RowResult(error=_error_text(exc)))
                return
            # The ledger's request id says which run and row a call was for.
            call.request_id = f"batch-{plan_.request_hash[:16]}-{index}"
            try:
                result = await gateway.complete(call)
            except RateLimited as exc:  # our own limit, at admission: nothing was sent
                await asyncio.sleep(exc.retry_after if exc.retry_after is not None else 1.0)
                continue
            except FATAL as exc:
                ckpt.forget(index)  # refused before any upstream call: a rerun sends it
                stats.sent -= 1
                if stats.stopped is None:
                    stats.stopped = _error_text(exc)
                stop.set()
                return
            except TandemError as exc:
                finish(
                    index,
                    RowResult(
                        model=call.model,
                        cost_usd=call.cost_usd,
                        error=_error_text(exc),
                        prompt_tokens=call.usage.prompt_tokens,
                        completion_tokens=call.usage.completion_tokens,
                    ),
                )
                return
            out = RowResult(
                model=call.model,
                cost_usd=call.cost_usd,
                prompt_tokens=call.usage.prompt_tokens,
                completion_tokens=call.usage.completion_tokens,
            )
            text = reply_text(result.body)
            if schema is None:
                out.answer = text
            else:
                try:
                    out.answer = schema.parse(text)
                except ReplyError as exc:
                    out.error = f"invalid_reply: {exc}"
            finish(index, out)
            return
        finish(index, RowResult(error="rate_limit_exceeded: gave up waiting for this key's rate limit"))

    async def worker() -> None:
        for index in rows:  # one shared iterator: each row goes to exactly one worker
            if stop.is_set():
                return
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            try:
                await one(index)
            finally:
                stats.in_flight -= 1

    try:
        async with asyncio.TaskGroup() as tg:  # one failing worker cancels the rest
            for _ in range(max(1, concurrency)):
                tg.create_task(worker())
    finally:
        ckpt.close()
    return stats


def write_output(plan_: BatchPlan, output_path: str | Path, *, not_run: str = "not run") -> dict[str, int]:
    """Write input columns plus answers, model, cost and error, in input order.

    Returns counts: ``ok``, ``errors``, ``interrupted``, ``not_run``.
    """
    n = plan_.rows
    answers: list[Any] = [None] * n
    models: list[str | None] = [None] * n
    costs: list[float | None] = [0.0] * n
    errors: list[str | None] = [f"not run: {not_run}"] * n
    counts = {"ok": 0, "errors": 0, "interrupted": 0, "not_run": n}
    ckpt = Checkpoint.peek(plan_.checkpoint_path, plan_.input_fp, plan_.request_hash)
    if ckpt is not None:
        try:
            for i, state, r in ckpt.results():
                if i >= n:
                    continue
                counts["not_run"] -= 1
                if state == "sent":
                    costs[i], errors[i] = None, INTERRUPTED
                    counts["interrupted"] += 1
                    continue
                answers[i], models[i], costs[i], errors[i] = r.answer, r.model, r.cost_usd, r.error
                counts["errors" if r.error else "ok"] += 1
        finally:
            ckpt.close()
    table = plan_.table
    if plan_.spec.schema is None:
        ((name, t),) = plan_.answer_columns
        table = table.append_column(pa.field(name, t), pa.array(answers, t))
    else:
        props = [n for n, _ in plan_.spec.schema.columns]
        for prop, (name, t) in zip(props, plan_.answer_columns, strict=True):
            values = [a.get(prop) if isinstance(a, dict) else None for a in answers]
            table = table.append_column(pa.field(name, t), pa.array(values, t))
    model_col, cost_col, error_col = plan_.meta_columns
    table = table.append_column(pa.field(model_col, pa.string()), pa.array(models, pa.string()))
    table = table.append_column(pa.field(cost_col, pa.float64()), pa.array(costs, pa.float64()))
    table = table.append_column(pa.field(error_col, pa.string()), pa.array(errors, pa.string()))
    write_table(table, output_path)
    return counts
