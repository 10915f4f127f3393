"""The usage ledger: batches, flush on close, spool and replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tandem.call import RouteDecision
from tandem.store import KeySpec, Store
from tandem.store.schema import usage_events

from .conftest import StoreFactory, make_call


async def _rows(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(usage_events))).scalar_one())


def _settle_many(store: Store, info: Any, n: int) -> None:
    for i in range(n):
        call = make_call(info, cost=0.001, tokens=10)
        call.request_id = f"req-{i}"
        store.settle(call)


class _Outage:
    """Makes the ledger's database writes fail, as if the database were down."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.real = store.ledger._write
        self.batches: list[int] = []

    async def down(self, records: list[dict[str, Any]], dedupe: bool) -> int:
        raise OSError("connection refused")

    async def counting(self, records: list[dict[str, Any]], dedupe: bool) -> int:
        self.batches.append(len(records))
        return await self.real(records, dedupe)


async def test_records_are_written_in_batches(stores: StoreFactory) -> None:
    store = await stores(ledger_batch_size=50, flush=0.05)
    outage = _Outage(store)
    store.ledger._write = outage.counting
    _rec, secret = await store.create_key(KeySpec(name="l"))
    _settle_many(store, await store.authenticate(secret), 500)
    await store.ledger.flush()
    assert await _rows(store) == 500
    # A backlog of ten batches is drained in bigger ones (up to 5x), fewer transactions.
    assert sum(outage.batches) == 500 and len(outage.batches) <= 12
    assert 50 < max(outage.batches) <= 250


async def test_without_a_backlog_batches_stay_small(stores: StoreFactory) -> None:
    store = await stores(ledger_batch_size=50, flush=0.05)
    outage = _Outage(store)
    store.ledger._write = outage.counting
    _rec, secret = await store.create_key(KeySpec(name="t"))
    key = await store.authenticate(secret)
    for _ in range(5):
        _settle_many(store, key, 60)  # a little over one batch at a time
        await store.ledger.flush()
    assert await _rows(store) == 300
    assert max(outage.batches) == 50


async def test_every_field_is_recorded(store: Store) -> None:
    _rec, secret = await store.create_key(KeySpec(name="f"))
    info = await store.authenticate(secret)
    call = make_call(info, requested="auto", cost=0.5, tokens=7)
    call.decision = RouteDecision(route="auto", model="m2", reason="cheapest")
    call.model, call.provider = "m2", "fake"
    call.usage.completion_tokens = 3
    call.first_token_s, call.retries, call.fallbacks = 0.05, 2, 1
    call.status, call.error = 502, "upstream_error"
    call.privacy_counts, call.privacy_action = {"EMAIL": 2, "PHONE": 1}, "redact"
    call.cache_hit, call.escalated, call.request_id = True, True, "r1"
    store.settle(call)
    await store.ledger.flush()
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(usage_events))).mappings().one()
    assert row["key_id"] == info.id and row["route"] == "auto" and row["model"] == "m2"
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_usd"]) == (7, 3, 0.5)
    assert (row["status"], row["error"], row["retries"], row["fallbacks"]) == (
        502,
        "upstream_error",
        2,
        1,
    )
    assert row["cache_hit"] and row["escalated"] and row["ttft_s"] == 0.05
    assert json.loads(row["privacy_counts"]) == {"EMAIL": 2, "PHONE": 1}
    assert row["privacy_action"] == "redact" and row["latency_s"] == 0.25


async def test_aclose_flushes_everything(stores: StoreFactory) -> None:
    store = await stores(flush=30.0, ledger_batch_size=10_000)
    _rec, secret = await store.create_key(KeySpec(name="c"))
    _settle_many(store, await store.authenticate(secret), 1000)
    assert store.status()["queue_depth"] == 1000
    await store.aclose()
    reopened = await stores()
    assert await _rows(reopened) == 1000


async def test_database_down_spools_and_replays(stores: StoreFactory) -> None:
    store = await stores()
    _rec, secret = await store.create_key(KeySpec(name="s", budget_total_usd=10.0))
    info = await store.authenticate(secret)
    outage = _Outage(store)
    store.ledger._write = outage.down
    _settle_many(store, info, 100)
    await store.ledger.flush()
    status = store.status()
    assert status["ledger"] == "degraded" and status["spooled"] == 100
    spool = Path(store.ledger.spool_path)
    assert len(spool.read_bytes().splitlines()) == 100
    assert await _rows(store) == 0
    # Keep serving while down.
    await store.admit(make_call(info), 0.01)

    store.ledger._write = outage.real  # the database is back
    store.ledger._retry_at = 0.0
    _settle_many(store, info, 1)
    await store.ledger.flush()
    assert await _rows(store) == 101
    assert not spool.exists() and not list(spool.parent.glob("ledger-spool.*.replay"))
    assert store.status()["ledger"] == "ok" and store.status()["spooled"] == 0
    # Replayed records count toward the budget too.
    assert (await store.key_spend(info.id))["total"] == pytest.approx(0.101)


async def test_full_queue_spools_instead_of_dropping(stores: StoreFactory) -> None:
    store = await stores(ledger_queue_size=10)
    _rec, secret = await store.create_key(KeySpec(name="q"))
    _settle_many(store, await store.authenticate(secret), 50)  # no await: the queue fills
    assert store.status()["spooled"] == 40
    await store.ledger.flush()
    assert await _rows(store) == 50


async def test_close_while_down_spools_then_next_start_replays(stores: StoreFactory) -> None:
    store = await stores(flush=30.0)
    _rec, secret = await store.create_key(KeySpec(name="d"))
    store.ledger._write = _Outage(store).down
    _settle_many(store, await store.authenticate(secret), 25)
    await store.aclose()
    assert Path(store.ledger.spool_path).exists()
    reopened = await stores()
    assert await _rows(reopened) == 25


async def test_replay_is_idempotent(store: Store) -> None:
    _rec, secret = await store.create_key(KeySpec(name="i"))
    _settle_many(store, await store.authenticate(secret), 5)
    records = list(store.ledger._queue)
    store.ledger._queue.clear()
    await store._write_batch(records, False)
    # The same records spooled again (a write that timed out but committed).
    store.ledger._spool(records)
    assert await store.ledger.replay() == 0
    assert await _rows(store) == 5
