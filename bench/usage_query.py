"""Usage-summary latency at a million ledger rows, and the per-request overhead.

    python bench/usage_query.py [--rows 1000000] [--keys 100]

Seeds ``--rows`` ledger rows (``--keys`` keys, 10 models, 5 routes, spread
over the last 30 days) with the store's bulk import, rebuilds the daily
rollup, then times the usage summaries the CLI, admin API and console run
(median of 7). Runs on SQLite (a temp file) and, when
``TANDEM_TEST_POSTGRES_URL`` is set, on PostgreSQL (its tables are dropped
and recreated: use a scratch database). Then it times
authenticate + admit + settle on the single-node SQLite default, including
the ledger writer's share of the work. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from tandem.call import Call, Usage
from tandem.config import AuthConfig, Config, ModelConfig, StoreConfig
from tandem.store import KeySpec, Store, open_store
from tandem.store.budgets import periods

TARGET_MS = 200.0


def _rows(n: int, key_ids: list[str], now: float) -> Iterator[dict[str, Any]]:
    rnd = random.Random(7)
    models = [f"model-{i}" for i in range(10)]
    routes = [None, "auto", "cheap", "smart", "private"]
    start = now - 30 * 86400
    for i in range(n):
        ts = start + (now - start) * i / n
        day, _month = periods(ts)
        ok = rnd.random() > 0.02
        yield {
            "id": i + 1,
            "ts": ts,
            "day": day,
            "key_id": rnd.choice(key_ids),
            "request_id": None,
            "endpoint": "chat",
            "requested": "auto",
            "route": rnd.choice(routes),
            "model": rnd.choice(models),
            "provider": "bench",
            "prompt_tokens": rnd.randint(10, 2000),
            "completion_tokens": rnd.randint(1, 500),
            "cost_usd": rnd.random() / 100,
            "latency_s": rnd.random() * 3,
            "ttft_s": None,
            "status": 200 if ok else 502,
            "error": None if ok else "upstream_error",
            "retries": 0,
            "fallbacks": 0,
            "cache_hit": rnd.random() < 0.1,
            "escalated": False,
            "privacy_action": None,
            "privacy_counts": None,
        }


async def _median_ms(fn: Callable[[], Awaitable[object]], repeat: int = 7) -> float:
    await fn()  # warm caches once
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


async def _drop_pg(store: Store) -> None:
    from sqlalchemy import text

    async with store.engine.begin() as conn:
        for table in (
            "usage_daily",
            "usage_events",
            "budget_state",
            "api_keys",
            "store_meta",
            "store_alembic_version",
        ):
            await conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))


async def bench_queries(label: str, url: str, rows: int, nkeys: int) -> list[tuple[str, ...]]:
    """Seed ``rows`` rows at ``url`` and time the summaries."""
    config = Config(models=[ModelConfig(name="m", provider="fake")], store=StoreConfig(url=url))
    if url.startswith("postgresql"):
        scratch = open_store(config)
        await _drop_pg(scratch)
        await scratch.engine.dispose()
    store = open_store(config, coordination="shared")
    await store.start()
    keys = [(await store.create_key(KeySpec(name=f"bench-{i}")))[0].id for i in range(nkeys)]
    now = time.time()
    t = time.perf_counter()
    await store.import_events(_rows(rows, keys, now))
    await store.rebuild_rollup()
    seed_s = time.perf_counter() - t
    month = now - 30 * 86400
    cases = [
        ("one key, 30 days, by model", lambda: store.usage_summary("model", month, keys[0])),
        ("one key, 30 days, by day", lambda: store.usage_summary("day", month, keys[0])),
        ("all keys, 30 days, by key", lambda: store.usage_summary("key", month)),
        ("all keys, 30 days, by route", lambda: store.usage_summary("route", month)),
        (
            "one key, last 24 h, by model",
            lambda: store.usage_summary("model", now - 86400, keys[0]),
        ),
        ("all keys, last 24 h, by model", lambda: store.usage_summary("model", now - 86400)),
    ]
    out = []
    for name, fn in cases:
        ms = await _median_ms(fn)
        out.append((label, f"{rows:,}", name, f"{ms:.1f}", "yes" if ms < TARGET_MS else "NO"))
    out.append((label, f"{rows:,}", f"(seeding + rollup: {seed_s:.0f} s)", "", ""))
    await store.aclose()
    return out


async def bench_overhead(n: int = 20_000) -> list[tuple[str, ...]]:
    """authenticate + admit + settle on the SQLite default, limits far away."""
    os.environ["TANDEM_HOME"] = tempfile.mkdtemp(prefix="tandem-bench-")
    config = Config(models=[ModelConfig(name="m", provider="fake")], auth=AuthConfig(mode="keys"))
    store = open_store(config)
    await store.start()
    _rec, secret = await store.create_key(
        KeySpec(
            name="hot",
            budget_day_usd=1e6,
            budget_month_usd=1e6,
            rpm_limit=10**9,
            tpm_limit=10**9,
        )
    )
    calls = []
    for _ in range(n):
        call = Call(endpoint="chat", requested="m", body={}, params=None)
        call.cost_usd, call.usage, call.model, call.latency_s = 1e-5, Usage(100, 20), "m", 0.2
        calls.append(call)
    out = []
    hot = 0.0
    t_all = time.perf_counter()
    for i in range(0, n, 100):  # let the ledger writer run between bursts, as a server does
        t = time.perf_counter()
        for call in calls[i : i + 100]:
            call.key = await store.authenticate(secret)
            await store.admit(call, 2e-5)
            store.settle(call)
        hot += time.perf_counter() - t
        await asyncio.sleep(0)
    await store.ledger.flush()
    total = time.perf_counter() - t_all
    await store.aclose()
    out.append(("authenticate + admit + settle (request path)", f"{hot / n * 1e6:.1f}"))
    out.append(("the same plus the ledger writer's batched insert", f"{total / n * 1e6:.1f}"))
    return out


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--no-overhead", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp:
        os.environ["TANDEM_HOME"] = tmp
        results += await bench_queries("SQLite", f"sqlite:///{tmp}/bench.db", args.rows, args.keys)
    if pg := os.environ.get("TANDEM_TEST_POSTGRES_URL"):
        results += await bench_queries("PostgreSQL", pg, args.rows, args.keys)
    print(_table(("database", "rows", "summary", "median ms", f"< {TARGET_MS:.0f} ms"), results))
    if not args.no_overhead:
        print()
        print(_table(("per request (SQLite default, one worker)", "µs"), await bench_overhead()))


if __name__ == "__main__":
    asyncio.run(main())
