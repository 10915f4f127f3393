"""Keys: secrets, authentication, revocation, expiry, injection, constant time."""

from __future__ import annotations

import asyncio
import hmac
import time

import pytest
from sqlalchemy import func, select

from tandem.errors import AuthenticationError, NotFound, PermissionDenied
from tandem.store import KeySpec, KeyUpdate, Store
from tandem.store.schema import api_keys

from .conftest import ADMIN_SECRET, StoreFactory, make_call

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE api_keys; --",
    "tk-x' UNION SELECT secret_hash FROM api_keys --",
    'Robert"); DELETE FROM usage_events; --',
    "%",
    "_",
    "\\",
]


async def _count_keys(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(api_keys))).scalar_one())


async def test_create_returns_secret_once_and_stores_only_a_hash(store: Store) -> None:
    rec, secret = await store.create_key(KeySpec(name="alice", owner="a@x", tags=["t2", "t1"]))
    assert secret.startswith("tk-") and len(secret) >= 40
    assert rec.prefix == secret[:11]
    assert rec.tags == ("t1", "t2")
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(api_keys))).mappings().all()
    assert len(rows) == 1
    for value in rows[0].values():
        assert secret not in str(value)
    assert "secret_hash" not in rec.public() and secret not in str(rec.public())
    info = await store.authenticate(secret)
    assert info is not None and info.id == rec.id and not info.is_admin
    # Listed by prefix.
    assert (await store.get_key(rec.prefix)).id == rec.id


async def test_unknown_missing_and_admin_keys(store: Store) -> None:
    with pytest.raises(AuthenticationError):
        await store.authenticate(None)
    with pytest.raises(AuthenticationError):
        await store.authenticate("tk-" + "x" * 43)
    with pytest.raises(AuthenticationError):
        await store.authenticate("x" * 100_000)
    admin = await store.authenticate(ADMIN_SECRET)
    assert admin is not None and admin.is_admin
    with pytest.raises(AuthenticationError):
        await store.authenticate(ADMIN_SECRET[:-1])


async def test_auth_off_returns_none(stores: StoreFactory) -> None:
    store = await stores(auth_mode="off")
    assert await store.authenticate(None) is None
    assert await store.authenticate("anything") is None
    # The admin API's check ignores the mode.
    assert (await store.verify(ADMIN_SECRET)).is_admin


async def test_revocation_takes_effect_on_next_request(store: Store) -> None:
    rec, secret = await store.create_key(KeySpec(name="bob"))
    assert await store.authenticate(secret)
    await store.revoke_key(rec.prefix)
    with pytest.raises(AuthenticationError, match="revoked"):
        await store.authenticate(secret)
    first = (await store.get_key(rec.id)).revoked_at
    await store.revoke_key(rec.id)  # idempotent: the first time is kept
    assert (await store.get_key(rec.id)).revoked_at == first


async def test_expiry_takes_effect_on_next_request(store: Store) -> None:
    rec, secret = await store.create_key(KeySpec(name="temp", expires_at=time.time() + 0.3))
    info = await store.authenticate(secret)
    await asyncio.sleep(0.35)
    with pytest.raises(AuthenticationError, match="expired"):
        await store.authenticate(secret)
    with pytest.raises(AuthenticationError):
        await store.admit(make_call(info), 0.0)
    await store.update_key(rec.id, KeyUpdate(expires_at=None))
    assert await store.authenticate(secret)


async def _eventually_rejected(store: Store, secret: str, db_url: str) -> float:
    """Seconds until ``store`` rejects ``secret``: 0 on SQLite (the very next
    request), a notification's delivery time on PostgreSQL."""
    start = time.monotonic()
    deadline = start + (0.0 if db_url.startswith("sqlite") else 2.0)
    while True:
        try:
            await store.authenticate(secret)
        except AuthenticationError:
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            raise AssertionError("the other store still accepts a revoked key")
        await asyncio.sleep(0.001)


async def test_revocation_and_changes_across_two_stores(stores: StoreFactory, db_url: str) -> None:
    a = await stores(coordination="shared")
    b = await stores(coordination="shared")
    rec, secret = await a.create_key(KeySpec(name="shared", rpm_limit=5))
    # A key created on replica A works on B from its next request.
    if db_url.startswith("sqlite"):
        info = await b.authenticate(secret)
    else:
        for _ in range(200):
            try:
                info = await b.authenticate(secret)
                break
            except AuthenticationError:
                await asyncio.sleep(0.01)
    assert info is not None and info.rpm_limit == 5
    await a.update_key(rec.id, KeyUpdate(rpm_limit=9, allowed_models=["m2"]))
    await asyncio.sleep(0 if db_url.startswith("sqlite") else 0.2)
    info = await b.authenticate(secret)
    assert info is not None and info.rpm_limit == 9 and info.allowed_models == frozenset({"m2"})
    await a.revoke_key(rec.id)
    assert await _eventually_rejected(b, secret, db_url) < 1.0


async def test_revocation_from_another_process_sees_epoch(stores: StoreFactory, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the shared epoch file is SQLite's mechanism")
    a = await stores()
    _rec, secret = await a.create_key(KeySpec(name="p"))
    assert await a.authenticate(secret)
    # Another process (the CLI) revokes: simulated by a second Store that
    # only writes; `a` has no reason to reload except the shared epoch.
    cli = await stores(coordination="shared")
    await cli.revoke_key(_rec.prefix)
    with pytest.raises(AuthenticationError):
        await a.authenticate(secret)


async def test_allowed_models_enforced_in_admit(store: Store) -> None:
    _rec, secret = await store.create_key(KeySpec(name="narrow", allowed_models=["m1"], allowed_routes=["auto"]))
    info = await store.authenticate(secret)
    assert info is not None and info.allowed_models == frozenset({"m1", "auto"})
    await store.admit(make_call(info, requested="m1"), 0.0)
    await store.admit(make_call(info, requested="auto"), 0.0)
    with pytest.raises(PermissionDenied):
        await store.admit(make_call(info, requested="m2"), 0.0)


@pytest.mark.parametrize("evil", INJECTIONS)
async def test_sql_injection_in_tokens_names_and_refs(store: Store, evil: str) -> None:
    rec, secret = await store.create_key(KeySpec(name="victim"))
    with pytest.raises(AuthenticationError):
        await store.authenticate(evil)
    # A name is stored verbatim and changes nothing else.
    evil_rec, _ = await store.create_key(KeySpec(name=evil, owner=evil, tags=[evil]))
    assert (await store.get_key(evil_rec.id)).name == evil
    with pytest.raises(NotFound):
        await store.get_key(evil)
    with pytest.raises(NotFound):
        await store.revoke_key(evil)
    with pytest.raises(NotFound):
        await store.usage_summary("key", None, evil)
    assert await _count_keys(store) == 2
    assert await store.authenticate(secret)
    assert (await store.get_key(rec.id)).revoked_at is None


async def test_wrong_keys_use_constant_time_comparison(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _rec, secret = await store.create_key(KeySpec(name="ct"))
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for token in (secret, "tk-wrong", secret[:-1] + "A"):
        try:
            await store.authenticate(token)
        except AuthenticationError:
            pass
    # Every token, right or wrong, goes through the same two digest comparisons.
    assert len(calls) == 6
    assert all(len(a) == len(b) == 64 for a, b in calls)


async def test_key_spec_validation() -> None:
    with pytest.raises(ValueError):
        KeySpec(name="")
    with pytest.raises(ValueError):
        KeySpec(name="x\x00y")
    with pytest.raises(ValueError):
        KeySpec(name="x", budget_day_usd=-1)
    with pytest.raises(ValueError):
        KeySpec(name="x", privacy_policy="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        KeySpec(name="x", surprise=1)  # type: ignore[call-arg]
