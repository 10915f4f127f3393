"""Usage summaries: rollup plus partial days, filters, injection."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tandem.errors import InvalidRequest, NotFound
from tandem.store import KeySpec, Store, parse_since
from tandem.store.budgets import periods

from .conftest import StoreFactory
from .test_keys import INJECTIONS

DAY0 = dt.datetime(2025, 3, 10, tzinfo=dt.UTC).timestamp()
_next_id = iter(range(1, 10**9))


def _record(key_id: str, ts: float, model: str, route: str | None, cost: float, status: int = 200) -> dict[str, Any]:
    day, month = periods(ts)
    return {
        "id": next(_next_id),
        "ts": ts,
        "day": day,
        "month": month,
        "key_id": key_id,
        "request_id": None,
        "endpoint": "chat",
        "requested": route or model,
        "route": route,
        "model": model,
        "provider": "fake",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": cost,
        "latency_s": 0.5,
        "ttft_s": None,
        "status": status,
        "error": None,
        "retries": 0,
        "fallbacks": 0,
        "cache_hit": False,
        "escalated": False,
        "privacy_action": None,
        "privacy_counts": None,
        "release": 0.0,
    }


@pytest.fixture
async def seeded(store: Store) -> tuple[Store, str, str]:
    a, _ = await store.create_key(KeySpec(name="team-a"))
    b, _ = await store.create_key(KeySpec(name="team-b"))
    h = 3600.0
    records = [
        _record(a.id, DAY0 + 1 * h, "m1", "auto", 1.0),
        _record(a.id, DAY0 + 13 * h, "m1", "auto", 2.0),
        _record(a.id, DAY0 + 13.5 * h, "m2", None, 4.0, status=500),
        _record(b.id, DAY0 + 14 * h, "m2", "auto", 8.0),
        _record(a.id, DAY0 + 34 * h, "m2", "auto", 16.0),  # next day
        _record(b.id, DAY0 + 60 * h, "m1", None, 32.0),  # day after
    ]
    await store._write_batch(records[:3], False)
    await store._write_batch(records[3:], False)
    return store, a.id, b.id


async def test_summary_by_key_model_route_day(seeded: tuple[Store, str, str]) -> None:
    store, a, b = seeded
    by_key = {r.group: r for r in await store.usage_summary("key", DAY0)}
    assert by_key[a].cost_usd == 23.0 and by_key[a].requests == 4 and by_key[a].errors == 1
    assert by_key[a].name == "team-a" and by_key[b].cost_usd == 40.0
    by_model = {r.group: r.cost_usd for r in await store.usage_summary("model", DAY0)}
    assert by_model == {"m1": 35.0, "m2": 28.0}
    by_route = {r.group: r.cost_usd for r in await store.usage_summary("route", DAY0)}
    assert by_route == {"auto": 27.0, "": 36.0}
    by_day = [(r.group, r.cost_usd) for r in await store.usage_summary("day", DAY0)]
    assert by_day == [("2025-03-10", 15.0), ("2025-03-11", 16.0), ("2025-03-12", 32.0)]
    one = await store.usage_summary("model", DAY0, a)
    assert {r.group: r.cost_usd for r in one} == {"m1": 3.0, "m2": 20.0}
    assert one[0].prompt_tokens + one[1].prompt_tokens == 40
    assert one[0].avg_latency_s == pytest.approx(0.5)


async def test_since_inside_a_day_reads_the_raw_rows(seeded: tuple[Store, str, str]) -> None:
    store, a, _b = seeded
    since = DAY0 + 12 * 3600  # noon of the first day: excludes the 01:00 record
    by_key = {r.group: r.cost_usd for r in await store.usage_summary("key", since)}
    assert by_key[a] == 2.0 + 4.0 + 16.0
    by_day = [(r.group, r.cost_usd) for r in await store.usage_summary("day", since, a)]
    assert by_day == [("2025-03-10", 6.0), ("2025-03-11", 16.0)]
    assert await store.usage_summary("key", DAY0 + 100 * 3600) == []


async def test_rollup_rebuild_matches_incremental(seeded: tuple[Store, str, str]) -> None:
    store, _a, _b = seeded
    before = {by: await store.usage_summary(by, DAY0) for by in ("key", "model", "route", "day")}
    await store.rebuild_rollup()
    after = {by: await store.usage_summary(by, DAY0) for by in ("key", "model", "route", "day")}
    assert before == after


@pytest.mark.parametrize("evil", INJECTIONS)
async def test_injection_in_usage_parameters(seeded: tuple[Store, str, str], evil: str) -> None:
    store, a, _b = seeded
    with pytest.raises(InvalidRequest):
        await store.usage_summary(evil, DAY0)
    with pytest.raises(NotFound):
        await store.usage_summary("key", DAY0, evil)
    with pytest.raises(InvalidRequest):
        parse_since(evil)
    assert {r.group for r in await store.usage_summary("key", DAY0)} >= {a}


def test_parse_since() -> None:
    now = 1_000_000.0
    assert parse_since("7d", now=now) == now - 7 * 86400
    assert parse_since("24h", now=now) == now - 86400
    assert parse_since("30m", now=now) == now - 1800
    assert parse_since("2025-03-10") == DAY0
    assert parse_since("2025-03-10T01:00:00+01:00") == DAY0
    assert parse_since(None) is None


async def test_usage_from_the_request_path(stores: StoreFactory) -> None:
    store = await stores()
    _rec, secret = await store.create_key(KeySpec(name="live"))
    from .conftest import make_call

    info = await store.authenticate(secret)
    for model in ("m1", "m1", "m2"):
        call = make_call(info, requested=model, cost=0.25, tokens=4)
        await store.admit(call, 0.25)
        store.settle(call)
    await store.ledger.flush()
    rows = {r.group: r for r in await store.usage_summary("model", parse_since("1h"), info.id)}
    assert rows["m1"].requests == 2 and rows["m2"].cost_usd == 0.25
