"""Ledger writes and usage summaries.

:func:`write_batch` stores a batch of ledger records in one transaction:
the rows, their daily rollup (``usage_daily``, upserted) and the spend and
released reservations in ``budget_state``. Summaries then read the rollup
for whole UTC days and the raw rows only for the part of the first day after
``since``, so a month's summary reads a few thousand rows whatever the
traffic (see ``bench/usage_query.py``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import Select, bindparam, case, func, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from tandem.store.models import UsageRow
from tandem.store.schema import budget_state, usage_daily, usage_events

__all__ = ["EVENT_COLUMNS", "GroupBy", "insert_rows", "rebuild_rollup", "summarize", "write_batch"]

GroupBy = Literal["key", "model", "route", "day"]
_EVENT_COLUMNS = tuple(c.name for c in usage_events.columns)
EVENT_COLUMNS = _EVENT_COLUMNS
#: The SQL constant '' (a literal, so GROUP BY matches the selected expression).
_EMPTY: ColumnElement[str] = literal_column("''")
_COUNTS_AT = _EVENT_COLUMNS.index("privacy_counts")
_ROLLUP_SUMS = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_sum",
    "latency_n",
    "cache_hits",
)


def _make_upsert(dialect: Any) -> Any:
    stmt = dialect.insert(usage_daily)
    return stmt.on_conflict_do_update(
        index_elements=["day", "key_id", "model", "route"],
        set_={n: usage_daily.c[n] + stmt.excluded[n] for n in _ROLLUP_SUMS},
    )


#: Built once: constructing the statement costs milliseconds, executing it not.
_UPSERT = {"postgresql": _make_upsert(postgresql), "sqlite": _make_upsert(sqlite)}


_BUDGET_SETTLE = (
    update(budget_state)
    .where(budget_state.c.key_id == bindparam("k"))
    .values(
        reserved=case(
            (
                budget_state.c.reserved - bindparam("r") > 0,
                budget_state.c.reserved - bindparam("r"),
            ),
            else_=0.0,
        ),
        total_spent=budget_state.c.total_spent + bindparam("c"),
        day_spent=case(
            (budget_state.c.day == bindparam("d"), budget_state.c.day_spent + bindparam("c")),
            (budget_state.c.day < bindparam("d"), bindparam("c")),
            else_=budget_state.c.day_spent,
        ),
        day=case((budget_state.c.day < bindparam("d"), bindparam("d")), else_=budget_state.c.day),
        month_spent=case(
            (budget_state.c.month == bindparam("m"), budget_state.c.month_spent + bindparam("c")),
            (budget_state.c.month < bindparam("m"), bindparam("c")),
            else_=budget_state.c.month_spent,
        ),
        month=case((budget_state.c.month < bindparam("m"), bindparam("m")), else_=budget_state.c.month),
    )
)


#: Records prepared between two yields to the event loop in :func:`write_batch`.
_SLICE = 50


async def write_batch(conn: AsyncConnection, records: Sequence[dict[str, Any]], *, dedupe: bool = False) -> int:
    """Insert ``records`` with their rollup and budget effects; returns rows written.

    With ``dedupe`` (spool replay), records whose id is already stored are
    skipped, so replaying a file twice changes nothing.
    """
    if dedupe and records:
        ids = [r["id"] for r in records]
        stmt = select(usage_events.c.id).where(usage_events.c.id.in_(ids))
        seen = set((await conn.execute(stmt)).scalars().all())
        records = [r for r in records if r["id"] not in seen]
    if not records:
        return 0
    rows: list[tuple[Any, ...]] = []
    rollup: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    spend: dict[tuple[str, int, int], tuple[float, float]] = {}
    for i, r in enumerate(records):
        if i and not i % _SLICE:
            await asyncio.sleep(0)  # let requests run: a 500-record batch is ~5 ms of Python
        row = [r.get(name) for name in _EVENT_COLUMNS]
        counts = row[_COUNTS_AT]
        if counts is not None and not isinstance(counts, str):
            row[_COUNTS_AT] = json.dumps(counts, sort_keys=True) if counts else None
        rows.append(tuple(row))
        rk = (r["day"], r["key_id"], r.get("model") or "", r.get("route") or "")
        agg = rollup.get(rk)
        if agg is None:
            agg = rollup[rk] = dict.fromkeys(_ROLLUP_SUMS, 0)
        agg["requests"] += 1
        agg["errors"] += r["status"] >= 400
        agg["prompt_tokens"] += r["prompt_tokens"]
        agg["completion_tokens"] += r["completion_tokens"]
        agg["cost_usd"] += r["cost_usd"]
        if r.get("latency_s") is not None:
            agg["latency_sum"] += r["latency_s"]
            agg["latency_n"] += 1
        agg["cache_hits"] += bool(r.get("cache_hit"))
        sk = (r["key_id"], r["day"], r["month"])
        released, cost = spend.get(sk, (0.0, 0.0))
        spend[sk] = (released + r.get("release", 0.0), cost + r["cost_usd"])
    # The small statements first: on PostgreSQL they open the transaction
    # that the COPY below then joins.
    await conn.execute(
        _UPSERT[conn.dialect.name],
        [{"day": k[0], "key_id": k[1], "model": k[2], "route": k[3], **v} for k, v in rollup.items()],
    )
    await conn.execute(
        _BUDGET_SETTLE,
        [{"k": k[0], "d": k[1], "m": k[2], "r": v[0], "c": v[1]} for k, v in spend.items()],
    )
    await insert_rows(conn, rows)
    return len(rows)


async def insert_rows(conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
    """Insert ledger rows (tuples in column order) through the driver's bulk
    path: SQLAlchemy's per-row parameter processing costs about 100 µs a
    row, the driver's executemany (SQLite) or COPY (PostgreSQL) about 2 µs.
    The statement is a constant with placeholders; values are never inlined."""
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        await raw.copy_records_to_table(usage_events.name, records=rows, columns=list(_EVENT_COLUMNS))
    else:
        await raw.executemany(_SQLITE_INSERT, rows)


_SQLITE_INSERT = "INSERT INTO {} ({}) VALUES ({})".format(
    usage_events.name, ", ".join(_EVENT_COLUMNS), ", ".join("?" * len(_EVENT_COLUMNS))
)


async def rebuild_rollup(conn: AsyncConnection) -> None:
    """Recompute ``usage_daily`` from ``usage_events`` (after a bulk import)."""
    e = usage_events.c
    await conn.execute(usage_daily.delete())
    model, route = func.coalesce(e.model, _EMPTY), func.coalesce(e.route, _EMPTY)
    source = select(
        e.day,
        e.key_id,
        model,
        route,
        func.count(),
        func.sum(case((e.status >= 400, 1), else_=0)),
        func.sum(e.prompt_tokens),
        func.sum(e.completion_tokens),
        func.sum(e.cost_usd),
        func.coalesce(func.sum(e.latency_s), 0.0),
        func.count(e.latency_s),
        func.sum(case((e.cache_hit, 1), else_=0)),
    ).group_by(e.day, e.key_id, model, route)
    cols = ["day", "key_id", "model", "route", *_ROLLUP_SUMS]
    await conn.execute(usage_daily.insert().from_select(cols, source))


def _day_label(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()


def _grouped(by: GroupBy, table: Any, raw: bool) -> Select[Any]:
    t = table.c
    group = {"key": t.key_id, "model": t.model, "route": t.route, "day": t.day}[by]
    if raw:
        aggs = [
            func.count(),
            func.sum(case((t.status >= 400, 1), else_=0)),
            func.sum(t.prompt_tokens),
            func.sum(t.completion_tokens),
            func.sum(t.cost_usd),
            func.sum(t.latency_s),
            func.count(t.latency_s),
            func.sum(case((t.cache_hit, 1), else_=0)),
        ]
        if by in ("model", "route"):
            group = func.coalesce(group, _EMPTY)
    else:
        aggs = [func.sum(t[n]) for n in _ROLLUP_SUMS]
    return select(group.label("g"), *aggs).group_by(group)


async def summarize(conn: AsyncConnection, by: GroupBy, since: float | None, key_id: str | None) -> list[UsageRow]:
    """Usage grouped ``by`` key, model, route or UTC day, from ``since`` (epoch
    seconds, None: all time), for one key or all."""
    first_full_day = math.ceil(since / 86400) if since is not None else None
    queries: list[Select[Any]] = []
    q = _grouped(by, usage_daily, raw=False)
    if first_full_day is not None:
        q = q.where(usage_daily.c.day >= first_full_day)
    if key_id is not None:
        q = q.where(usage_daily.c.key_id == key_id)
    queries.append(q)
    if since is not None and first_full_day is not None and since < first_full_day * 86400:
        q = _grouped(by, usage_events, raw=True).where(
            usage_events.c.ts >= since, usage_events.c.ts < first_full_day * 86400
        )
        if key_id is not None:
            q = q.where(usage_events.c.key_id == key_id)
        queries.append(q)
    totals: dict[Any, list[float]] = {}
    for q in queries:
        for row in (await conn.execute(q)).all():
            acc = totals.setdefault(row[0], [0.0] * 8)
            for i, v in enumerate(row[1:]):
                acc[i] += float(v or 0)
    return _rows(by, totals.items())


def _rows(by: GroupBy, items: Iterable[tuple[Any, list[float]]]) -> list[UsageRow]:
    out = [
        UsageRow(
            group=_day_label(g) if by == "day" else str(g or ""),
            requests=int(a[0]),
            errors=int(a[1]),
            prompt_tokens=int(a[2]),
            completion_tokens=int(a[3]),
            cost_usd=float(a[4]),
            avg_latency_s=(a[5] / a[6]) if a[6] else None,
            cache_hits=int(a[7]),
        )
        for g, a in items
    ]
    if by == "day":
        out.sort(key=lambda r: r.group)
    else:
        out.sort(key=lambda r: (-r.cost_usd, -r.requests, r.group))
    return out
