"""The dashboard's numbers, from the usage ledger, for one scope (a key or all).

Spend by key, model and route come from the store's ``usage_summary`` (the
same figures ``tandem usage`` and ``/admin/usage`` show). What the summary
cannot group (time buckets within a day, route x model, latency
percentiles, the latest requests) is read here with a few parameterized,
read-only SQLAlchemy Core queries over the store's engine and tables; like
the summary they read the daily rollup for whole days and raw rows only
where they must.

Savings of a route are measured against always calling its *strongest*
candidate (highest configured ``quality``, ties broken by the higher
price): what the same prompt and completion tokens would have cost there,
minus what was actually paid. Prices are today's configured prices.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tandem.config import ModelConfig, RouteConfig
from tandem.errors import InvalidRequest
from tandem.store.schema import usage_daily, usage_events

__all__ = ["WINDOWS", "Window", "build_dashboard", "parse_window", "percentile", "strongest"]

DAY = 86400
#: How many of the window's latest requests the latency percentiles use.
LATENCY_SAMPLE = 20_000
RECENT = 15


@dataclass(frozen=True, slots=True)
class Window:
    """A dashboard time window and the width of its chart buckets."""

    name: str
    seconds: int
    bucket: int


WINDOWS = {
    w.name: w
    for w in (
        Window("1h", 3600, 60),
        Window("6h", 6 * 3600, 300),
        Window("24h", DAY, 3600),
        Window("7d", 7 * DAY, DAY),
        Window("30d", 30 * DAY, DAY),
    )
}


def parse_window(value: str | None) -> Window:
    """The named window (default 24h); 400 for anything else."""
    name = value or "24h"
    if name not in WINDOWS:
        raise InvalidRequest(f"window: must be one of {', '.join(WINDOWS)}", param="window")
    return WINDOWS[name]


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) with linear interpolation; None when empty."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def strongest(route: RouteConfig, models: dict[str, ModelConfig]) -> ModelConfig | None:
    """The route's strongest candidate: highest quality, then highest price."""
    cands = [models[c] for c in route.candidates if c in models]
    if not cands:
        return None
    return max(cands, key=lambda m: (m.quality, m.price.input + m.price.output))


# --- queries -------------------------------------------------------------------


def _bucket_expr(conn: AsyncConnection, width: int) -> Any:
    e = usage_events.c
    if conn.dialect.name == "postgresql":
        return cast(func.floor(e.ts / width), Integer)
    return cast(e.ts / width, Integer)  # SQLite truncates toward zero: floor for ts > 0


def _scoped(q: Any, table: Any, scope: str | None) -> Any:
    return q if scope is None else q.where(table.c.key_id == scope)


async def _series(conn: AsyncConnection, since: float, width: int, scope: str | None) -> dict[int, list[float]]:
    e = usage_events.c
    b = _bucket_expr(conn, width).label("b")
    q = (
        select(
            b,
            func.count(),
            func.sum(case((e.status >= 400, 1), else_=0)),
            func.sum(e.prompt_tokens + e.completion_tokens),
            func.sum(e.cost_usd),
        )
        .where(e.ts >= since)
        .group_by(b)
    )
    rows = (await conn.execute(_scoped(q, usage_events, scope))).all()
    return {int(r[0]): [float(v or 0) for v in r[1:]] for r in rows}


async def _route_model(conn: AsyncConnection, since: float, scope: str | None) -> dict[tuple[str, str], list[float]]:
    """(route, model) -> [requests, errors, prompt_tokens, completion_tokens, cost]."""
    first_full_day = math.ceil(since / DAY)
    d = usage_daily.c
    q1 = (
        select(
            d.route,
            d.model,
            func.sum(d.requests),
            func.sum(d.errors),
            func.sum(d.prompt_tokens),
            func.sum(d.completion_tokens),
            func.sum(d.cost_usd),
        )
        .where(d.day >= first_full_day)
        .group_by(d.route, d.model)
    )
    queries = [_scoped(q1, usage_daily, scope)]
    if since < first_full_day * DAY:
        e = usage_events.c
        route, model = func.coalesce(e.route, ""), func.coalesce(e.model, "")
        q2 = (
            select(
                route,
                model,
                func.count(),
                func.sum(case((e.status >= 400, 1), else_=0)),
                func.sum(e.prompt_tokens),
                func.sum(e.completion_tokens),
                func.sum(e.cost_usd),
            )
            .where(e.ts >= since, e.ts < first_full_day * DAY)
            .group_by(route, model)
        )
        queries.append(_scoped(q2, usage_events, scope))
    out: dict[tuple[str, str], list[float]] = {}
    for q in queries:
        for r in (await conn.execute(q)).all():
            acc = out.setdefault((r[0] or "", r[1] or ""), [0.0] * 5)
            for i, v in enumerate(r[2:]):
                acc[i] += float(v or 0)
    return out


async def _latencies(conn: AsyncConnection, since: float, scope: str | None) -> list[float]:
    e = usage_events.c
    q = select(e.latency_s).where(e.ts >= since, e.latency_s.is_not(None))
    q = _scoped(q, usage_events, scope).order_by(e.ts.desc()).limit(LATENCY_SAMPLE)
    return [float(v) for v in (await conn.execute(q)).scalars().all()]


async def _recent(conn: AsyncConnection, scope: str | None) -> list[dict[str, Any]]:
    e = usage_events.c
    q = select(
        e.ts,
        e.key_id,
        e.requested,
        e.route,
        e.model,
        e.status,
        e.error,
        e.prompt_tokens,
        e.completion_tokens,
        e.cost_usd,
        e.latency_s,
        e.privacy_action,
        e.privacy_counts,
    )
    q = _scoped(q, usage_events, scope).order_by(e.ts.desc()).limit(RECENT)
    # Column names are SQLAlchemy quoted_name (a str subclass): plain str for JSON.
    return [{str(k): v for k, v in r._mapping.items()} for r in (await conn.execute(q)).all()]


# --- assembly --------------------------------------------------------------------


def _routing(
    matrix: dict[tuple[str, str], list[float]], routes: dict[str, RouteConfig], models: dict[str, ModelConfig]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The routing mix per route and the savings per route."""
    per_route: dict[str, dict[str, list[float]]] = {}
    for (route, model), acc in matrix.items():
        if route:
            per_route.setdefault(route, {})[model] = acc
    mix: list[dict[str, Any]] = []
    savings: list[dict[str, Any]] = []
    for route, by_model in sorted(per_route.items()):
        total = sum(a[0] for a in by_model.values())
        mix.append(
            {
                "route": route,
                "requests": int(total),
                "models": [
                    {
                        "model": m or "(failed)",
                        "requests": int(a[0]),
                        "share": a[0] / total if total else 0.0,
                        "cost_usd": a[4],
                    }
                    for m, a in sorted(by_model.items(), key=lambda kv: -kv[1][0])
                ],
            }
        )
        cfg = routes.get(route)
        top = strongest(cfg, models) if cfg is not None else None
        if top is None:
            continue
        actual = sum(a[4] for a in by_model.values())
        baseline = sum(top.price.cost(int(a[2]), int(a[3])) for a in by_model.values())
        on_top = sum(a[0] for m, a in by_model.items() if m == top.name)
        savings.append(
            {
                "route": route,
                "strongest": top.name,
                "requests": int(total),
                "share_on_strongest": on_top / total if total else 0.0,
                "actual_usd": actual,
                "baseline_usd": baseline,
                "savings_usd": baseline - actual,
                "savings_pct": (baseline - actual) / baseline if baseline > 0 else None,
            }
        )
    return mix, savings


def _fill_series(raw: dict[int, list[float]], since: float, now: float, width: int) -> list[dict[str, Any]]:
    out = []
    for b in range(int(since // width), int(now // width) + 1):
        v = raw.get(b, [0.0, 0.0, 0.0, 0.0])
        out.append({"t": b * width, "requests": int(v[0]), "errors": int(v[1]), "tokens": int(v[2]), "cost_usd": v[3]})
    return out


def _row(r: Any, label: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = r.to_dict()
    if label is not None:
        d["label"] = label
    return d


def _clean_recent(rows: list[dict[str, Any]], names: dict[str, str], show_key: bool) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        counts = r.pop("privacy_counts")
        try:
            r["privacy"] = json.loads(counts) if counts else None
        except ValueError:
            r["privacy"] = None
        key_id = r.pop("key_id")
        if show_key:
            r["key"] = names.get(key_id, key_id)
        out.append(r)
    return out


async def build_dashboard(
    store: Any,
    window: Window,
    scope: str | None,
    routes: dict[str, RouteConfig],
    models: dict[str, ModelConfig],
    *,
    show_keys: bool,
    now: float | None = None,
) -> dict[str, Any]:
    """Everything the dashboard page shows, for the keys in ``scope`` (None: all)."""
    now = time.time() if now is None else now
    since = now - window.seconds
    by_model = await store.usage_summary("model", since, scope)
    by_route = await store.usage_summary("route", since, scope)
    by_key = await store.usage_summary("key", since, scope)
    async with store.engine.connect() as conn:
        if window.bucket >= DAY:
            days = await store.usage_summary("day", since, scope)
            epoch = dt.date(1970, 1, 1).toordinal()
            raw = {
                dt.date.fromisoformat(r.group).toordinal() - epoch: [
                    r.requests,
                    r.errors,
                    r.prompt_tokens + r.completion_tokens,
                    r.cost_usd,
                ]
                for r in days
            }
        else:
            raw = await _series(conn, since, window.bucket, scope)
        matrix = await _route_model(conn, since, scope)
        lat = await _latencies(conn, since, scope)
        recent = await _recent(conn, scope)
    requests = sum(r.requests for r in by_model)
    errors = sum(r.errors for r in by_model)
    mix, savings = _routing(matrix, routes, models)
    names = {k: rec.name for k, rec in store.keys.by_id.items()}
    totals = {
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else 0.0,
        "prompt_tokens": sum(r.prompt_tokens for r in by_model),
        "completion_tokens": sum(r.completion_tokens for r in by_model),
        "total_tokens": sum(r.prompt_tokens + r.completion_tokens for r in by_model),
        "cost_usd": sum(r.cost_usd for r in by_model),
        "latency_p50_s": percentile(lat, 0.5),
        "latency_p95_s": percentile(lat, 0.95),
        "latency_sample": len(lat),
        "baseline_usd": sum(s["baseline_usd"] for s in savings),
        "savings_usd": sum(s["savings_usd"] for s in savings),
    }
    return {
        "window": window.name,
        "since": since,
        "now": now,
        "bucket_seconds": window.bucket,
        "totals": totals,
        "series": _fill_series(raw, since, now, window.bucket),
        "by_key": [_row(r, r.name or r.group) for r in by_key],
        "by_model": [_row(r, r.group or "(no model)") for r in by_model],
        "by_route": [_row(r, r.group or "(direct)") for r in by_route],
        "routing_mix": mix,
        "savings": savings,
        "recent": _clean_recent(recent, names, show_keys),
    }
