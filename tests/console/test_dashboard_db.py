"""The dashboard's queries on both store backends (SQLite and PostgreSQL).

PostgreSQL runs when ``TANDEM_TEST_POSTGRES_URL`` is set (see
``.ci/services.sh``) and is skipped otherwise; its tables are reset first,
as the store tests do.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tandem.call import Call, KeyInfo, RouteDecision, Usage
from tandem.config import AuthConfig, Config, ModelConfig, Price, RouteConfig, StoreConfig
from tandem.console.dashboard import WINDOWS, build_dashboard
from tandem.store import KeySpec, Store, open_store

PG_URL = os.environ.get("TANDEM_TEST_POSTGRES_URL")

MODELS = [
    ModelConfig(name="cheap", provider="fake", quality=0.5, price=Price(input=1, output=2)),
    ModelConfig(name="strong", provider="fake", quality=0.9, price=Price(input=10, output=30)),
]
ROUTES = [RouteConfig(name="auto", candidates=["cheap", "strong"])]


async def _reset_pg(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from tandem.store.db import parse_database_url

    engine = create_async_engine(parse_database_url(url).sqlalchemy_url)
    async with engine.begin() as conn:
        for table in ("usage_daily", "usage_events", "budget_state", "api_keys", "store_meta", "store_alembic_version"):
            await conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Store]:
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path))
    monkeypatch.delenv("TANDEM_DATABASE_URL", raising=False)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tandem.db'}"
    else:
        if not PG_URL:
            pytest.skip("TANDEM_TEST_POSTGRES_URL is not set")
        url = PG_URL
        await _reset_pg(url)
    config = Config(
        models=MODELS,
        routes=ROUTES,
        auth=AuthConfig(mode="keys"),
        store=StoreConfig(url=url, ledger_flush_seconds=0.02),
    )
    s = open_store(config)
    await s.start()
    try:
        yield s
    finally:
        await s.aclose()


def _call(
    key: KeyInfo, model: str, route: str | None, p: int, c: int, *, status: int = 200, latency: float = 0.1
) -> Call:
    call = Call(endpoint="chat", requested=route or model, body={}, params=None, key=key)
    call.model, call.provider = model, "fake"
    price = next(m.price for m in MODELS if m.name == model)
    call.usage = Usage(p, c)
    call.cost_usd = price.cost(p, c)
    call.latency_s = latency
    call.status = status
    call.decision = RouteDecision(route=route, model=model, reason="test")
    return call


async def _flush(store: Store, n: int) -> None:
    deadline = time.monotonic() + 10
    while store.ledger.written < n and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert store.ledger.written >= n


async def test_dashboard_on_each_backend(store: Store) -> None:
    rec_a, _ = await store.create_key(KeySpec(name="a"))
    rec_b, _ = await store.create_key(KeySpec(name="b"))
    a, b = store.keys.infos[rec_a.id], store.keys.infos[rec_b.id]
    for i in range(4):
        store.settle(_call(a, "cheap", "auto", 100, 50, latency=0.1 * (i + 1)))
    store.settle(_call(a, "strong", None, 10, 10, status=200))
    store.settle(_call(b, "strong", "auto", 100, 50))
    failed = _call(b, "cheap", "auto", 0, 0, status=502)
    failed.model = None
    store.settle(failed)
    await _flush(store, 7)
    routes = {r.name: r for r in ROUTES}
    models = {m.name: m for m in MODELS}

    d = await build_dashboard(store, WINDOWS["1h"], rec_a.id, routes, models, show_keys=False)
    t = d["totals"]
    assert t["requests"] == 5 and t["errors"] == 0
    assert t["cost_usd"] == pytest.approx(4 * (100 * 1 + 50 * 2) / 1e6 + (10 * 10 + 10 * 30) / 1e6)
    assert sum(s["requests"] for s in d["series"]) == 5
    assert t["latency_p50_s"] == pytest.approx(0.2) and t["latency_sample"] == 5  # 0.1 0.1 0.2 0.3 0.4
    assert t["latency_p95_s"] == pytest.approx(0.38)
    (sav,) = d["savings"]
    assert sav["baseline_usd"] == pytest.approx(4 * (100 * 10 + 50 * 30) / 1e6)
    assert [r["label"] for r in d["by_key"]] == ["a"]

    everyone = await build_dashboard(store, WINDOWS["24h"], None, routes, models, show_keys=True)
    assert everyone["totals"]["requests"] == 7 and everyone["totals"]["errors"] == 1
    mix = {m["model"]: m["requests"] for m in everyone["routing_mix"][0]["models"]}
    assert mix == {"cheap": 4, "strong": 1, "(failed)": 1}
    assert {r["key"] for r in everyone["recent"]} == {"a", "b"}
    week = await build_dashboard(store, WINDOWS["30d"], rec_b.id, routes, models, show_keys=False)
    assert week["totals"]["requests"] == 2 and week["totals"]["error_rate"] == 0.5
    assert sum(s["errors"] for s in week["series"]) == 1
