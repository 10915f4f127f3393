"""Budgets without races, and rate limits per process and through Redis."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import select

from tandem.errors import BudgetExceeded, RateLimited
from tandem.store import KeySpec, KeyUpdate, Store
from tandem.store.schema import budget_state

from .conftest import StoreFactory, make_call

BUDGET = 1.0
EST = 0.01


async def _spend(store: Store, info: object, amount: float) -> None:
    call = make_call(info, cost=amount)
    await store.admit(call, 0.0)
    store.settle(call)
    await store.ledger.flush()


async def _db_spent(store: Store, key_id: str) -> tuple[float, float]:
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(budget_state).where(budget_state.c.key_id == key_id))).one()
    return row.total_spent, row.reserved


async def _race(stores: list[Store], secret: str, n: int) -> int:
    """``n`` concurrent requests spread over ``stores``; returns how many ran."""
    admitted = 0

    async def one(i: int) -> None:
        nonlocal admitted
        store = stores[i % len(stores)]
        info = await store.authenticate(secret)
        call = make_call(info, cost=EST)
        try:
            await store.admit(call, EST)
        except BudgetExceeded:
            return
        admitted += 1
        await asyncio.sleep(random.uniform(0, 0.02))  # the upstream call
        store.settle(call)

    await asyncio.gather(*(one(i) for i in range(n)))
    for store in stores:
        await store.ledger.flush()
    return admitted


@pytest.mark.parametrize("mode", ["local", "shared"])
async def test_budget_race_single_store(stores: StoreFactory, db_url: str, mode: str) -> None:
    if mode == "local" and not db_url.startswith("sqlite"):
        pytest.skip("local coordination is SQLite's single-process mode")
    store = await stores(coordination=mode)
    rec, secret = await store.create_key(KeySpec(name="b", budget_total_usd=BUDGET))
    info = await store.authenticate(secret)
    await _spend(store, info, 0.95)
    admitted = await _race([store], secret, 60)
    spent, reserved = await _db_spent(store, rec.id)
    assert 1 <= admitted <= 5
    assert spent <= BUDGET + EST + 1e-9
    assert reserved == pytest.approx(0.0, abs=1e-9)
    # Whatever is left decides the next request.
    if spent + EST > BUDGET + 1e-9:
        with pytest.raises(BudgetExceeded):
            await store.admit(make_call(info), EST)
    else:
        await store.admit(make_call(info), EST)


async def test_budget_race_two_replicas(stores: StoreFactory) -> None:
    a = await stores(coordination="shared")
    b = await stores(coordination="shared")
    rec, secret = await a.create_key(KeySpec(name="b2", budget_day_usd=BUDGET))
    info = await a.authenticate(secret)
    await _spend(a, info, 0.9)
    admitted = await _race([a, b], secret, 80)
    spent, reserved = await _db_spent(a, rec.id)
    assert 1 <= admitted <= 10
    assert spent <= BUDGET + EST + 1e-9
    assert reserved == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("mode", ["auto", "shared"])
async def test_reservations_block_concurrent_overspend(stores: StoreFactory, mode: str) -> None:
    """All admitted before any settles: the reservations alone stop the rest,
    and a request whose estimate does not fit is refused even if money is left."""
    store = await stores(coordination=mode)
    _rec, secret = await store.create_key(KeySpec(name="r", budget_month_usd=0.1))
    info = await store.authenticate(secret)
    calls = [make_call(info, cost=0.03) for _ in range(20)]
    ok = []
    for call in calls:
        try:
            await store.admit(call, 0.03)
            ok.append(call)
        except BudgetExceeded:
            pass
    assert len(ok) == 3  # 0.09 reserved; a 4th (0.12) would not fit
    assert sum(c.reserved_usd for c in ok) <= 0.1 + 1e-9
    for call in ok:
        store.settle(call)
    await store.ledger.flush()
    with pytest.raises(BudgetExceeded):
        await store.admit(make_call(info), 0.02)
    await store.admit(make_call(info), 0.005)  # what is left still serves a small request
    # Raising the budget lets it through again, from the next request.
    await store.update_key(info.id, KeyUpdate(budget_month_usd=1.0))
    await store.admit(make_call(info), 0.02)


async def test_budget_survives_restart(stores: StoreFactory, db_url: str) -> None:
    store = await stores()
    rec, secret = await store.create_key(KeySpec(name="persist", budget_total_usd=0.5))
    await _spend(store, await store.authenticate(secret), 0.5)
    await store.aclose()
    again = await stores()
    info = await again.authenticate(secret)
    with pytest.raises(BudgetExceeded):
        await again.admit(make_call(info), 0.01)
    assert (await again.key_spend(rec.id))["total"] == pytest.approx(0.5)


async def test_local_rate_limits(store: Store) -> None:
    _rec, secret = await store.create_key(KeySpec(name="rl", rpm_limit=3, tpm_limit=100))
    info = await store.authenticate(secret)
    for _ in range(3):
        await store.admit(make_call(info), 0.0)
    with pytest.raises(RateLimited) as exc:
        await store.admit(make_call(info), 0.0)
    assert exc.value.retry_after is not None and 0 < exc.value.retry_after <= 60

    _rec2, secret2 = await store.create_key(KeySpec(name="tl", tpm_limit=100))
    info2 = await store.authenticate(secret2)
    call = make_call(info2, tokens=150)
    await store.admit(call, 0.0)
    store.settle(call)
    with pytest.raises(RateLimited, match="tokens"):
        await store.admit(make_call(info2), 0.0)


@pytest.mark.redis
async def test_redis_rate_limits_shared_by_two_replicas(stores: StoreFactory, redis_url: str) -> None:
    a = await stores(redis_url=redis_url, coordination="shared")
    b = await stores(redis_url=redis_url, coordination="shared")
    assert a.status()["rate_limits"] == "redis"
    _rec, secret = await a.create_key(KeySpec(name="rr", rpm_limit=4, tpm_limit=1000))
    ia = await a.authenticate(secret)
    ib = await b.authenticate(secret) if await _visible(b, secret) else None
    assert ib is not None
    for store, info in ((a, ia), (b, ib), (a, ia), (b, ib)):
        await store.admit(make_call(info), 0.0)
    for store, info in ((a, ia), (b, ib)):
        with pytest.raises(RateLimited):
            await store.admit(make_call(info), 0.0)

    # Tokens counted on one replica limit the other.
    _rec2, secret2 = await a.create_key(KeySpec(name="rt", tpm_limit=100))
    ia2 = await a.authenticate(secret2)
    call = make_call(ia2, tokens=120)
    await a.admit(call, 0.0)
    a.settle(call)
    assert a._redis is not None
    await a._redis.flush()
    assert await _visible(b, secret2)
    ib2 = await b.authenticate(secret2)
    with pytest.raises(RateLimited, match="tokens"):
        await b.admit(make_call(ib2), 0.0)


async def _visible(store: Store, secret: str) -> bool:
    for _ in range(200):
        try:
            await store.authenticate(secret)
            return True
        except Exception:
            await asyncio.sleep(0.01)
    return False


async def test_sqlite_workers_share_rate_limits_through_a_file(stores: StoreFactory, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the shared file is SQLite's mechanism (PostgreSQL deployments use Redis)")
    # Two worker processes on one SQLite file, without Redis.
    a = await stores(coordination="shared")
    b = await stores(coordination="shared")
    assert a.status()["rate_limits"] == b.status()["rate_limits"] == "host"
    _rec, secret = await a.create_key(KeySpec(name="fr", rpm_limit=4))
    ia = await a.authenticate(secret)
    assert await _visible(b, secret)
    ib = await b.authenticate(secret)
    for store, info in ((a, ia), (b, ib), (a, ia), (b, ib)):
        await store.admit(make_call(info), 0.0)
    for store, info in ((a, ia), (b, ib)):
        with pytest.raises(RateLimited):
            await store.admit(make_call(info), 0.0)

    # Tokens settled on one worker limit the other at once.
    _rec2, secret2 = await a.create_key(KeySpec(name="ft", tpm_limit=100))
    ia2 = await a.authenticate(secret2)
    call = make_call(ia2, tokens=120)
    await a.admit(call, 0.0)
    a.settle(call)
    assert await _visible(b, secret2)
    with pytest.raises(RateLimited, match="tokens"):
        await b.admit(make_call(await b.authenticate(secret2)), 0.0)


def test_file_limiter_table_full_falls_back_to_process_counts(tmp_path, monkeypatch) -> None:
    from tandem.store import limits

    monkeypatch.setattr(limits, "_SLOTS", 2)
    lim = limits.FileLimiter(tmp_path / "t.limits")
    try:
        for key in ("k1", "k2", "k3"):  # k3 finds no slot: counted in the process
            lim.check(key, 1, None, 1000.0)
            with pytest.raises(RateLimited):
                lim.check(key, 1, None, 1000.5)
        # A minute later the window has moved on.
        lim.check("k1", 1, None, 1000.0 + 2 * limits.WINDOW)
    finally:
        lim.close()
