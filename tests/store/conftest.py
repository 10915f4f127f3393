"""Fixtures for the store tests: the same suite over SQLite and PostgreSQL.

PostgreSQL cases run when ``TANDEM_TEST_POSTGRES_URL`` is set (see
``.ci/services.sh``) and skip otherwise; Redis cases likewise with
``TANDEM_TEST_REDIS_URL``. Each PostgreSQL test starts from an empty schema.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tandem.call import Call, Usage
from tandem.config import AuthConfig, Config, ModelConfig, ServerConfig, StoreConfig
from tandem.store import Store, open_store

PG_URL = os.environ.get("TANDEM_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TANDEM_TEST_REDIS_URL")
ADMIN_SECRET = "tk-admin-test-secret-0123456789abcdefghijklmnop"

StoreFactory = Callable[..., Awaitable[Store]]


def make_config(url: str, **store: Any) -> Config:
    workers = store.pop("workers", 1)
    return Config(
        models=[ModelConfig(name="m1", provider="fake"), ModelConfig(name="m2", provider="fake")],
        auth=AuthConfig(mode=store.pop("auth_mode", "keys"), admin_key_env="TANDEM_TEST_ADMIN_KEY"),
        server=ServerConfig(workers=workers),
        store=StoreConfig(url=url, ledger_flush_seconds=store.pop("flush", 0.02), **store),
    )


def make_call(key: Any, *, requested: str = "m1", cost: float = 0.0, tokens: int = 0) -> Call:
    call = Call(endpoint="chat", requested=requested, body={}, params=None, key=key)
    call.model, call.provider = requested, "fake"
    call.cost_usd = cost
    call.usage = Usage(tokens, 0)
    call.latency_s = 0.25
    return call


async def _reset_pg(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from tandem.store.db import parse_database_url

    engine = create_async_engine(parse_database_url(url).sqlalchemy_url)
    async with engine.begin() as conn:
        for table in (
            "usage_daily",
            "usage_events",
            "budget_state",
            "api_keys",
            "store_meta",
            "store_alembic_version",
        ):
            await conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for each backend (PostgreSQL skipped when not configured)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tandem.db'}"
    if not PG_URL:
        pytest.skip("TANDEM_TEST_POSTGRES_URL is not set")
    return PG_URL


@pytest.fixture
def redis_url() -> str:
    """A Redis URL (the test is skipped when not configured)."""
    if not REDIS_URL:
        pytest.skip("TANDEM_TEST_REDIS_URL is not set")
    return REDIS_URL


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The data dir (spool file, PostgreSQL's too) is per test.
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("TANDEM_TEST_ADMIN_KEY", ADMIN_SECRET)
    monkeypatch.delenv("TANDEM_DATABASE_URL", raising=False)
    monkeypatch.delenv("TANDEM_REDIS_URL", raising=False)


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[StoreFactory]:
    """Start Stores on the test database; all are closed at the end."""
    if db_url.startswith("postgresql"):
        await _reset_pg(db_url)
    opened: list[Store] = []

    async def factory(**kw: Any) -> Store:
        coordination = kw.pop("coordination", "auto")
        store = open_store(make_config(db_url, **kw), coordination=coordination)
        await store.start()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        if store.started:
            await store.aclose()


@pytest.fixture
async def store(stores: StoreFactory) -> Store:
    """One started Store."""
    return await stores()
