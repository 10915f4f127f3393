"""Migrations: they produce what schema.py describes, run once, and SQLite uses WAL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from tandem.config import Config, ModelConfig
from tandem.store import Store, open_store
from tandem.store.db import migrate
from tandem.store.schema import metadata

from .conftest import StoreFactory


async def test_migrations_match_schema_module(store: Store) -> None:
    def describe(sync_conn: object) -> dict[str, tuple[set[str], set[str]]]:
        insp = inspect(sync_conn)
        return {
            t: ({c["name"] for c in insp.get_columns(t)}, {i["name"] for i in insp.get_indexes(t)})
            for t in insp.get_table_names()
            if t != "store_alembic_version"
        }

    async with store.engine.connect() as conn:
        actual = await conn.run_sync(describe)
    expected = {
        t.name: ({c.name for c in t.columns}, {i.name for i in t.indexes if i.name}) for t in metadata.sorted_tables
    }
    assert set(actual) == set(expected)
    for name, (columns, indexes) in expected.items():
        assert actual[name][0] == columns, name
        assert indexes <= actual[name][1], name
    # Migrating again is a no-op.
    await migrate(store.engine, store.db)
    async with store.engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM store_alembic_version"))).all()
    assert len(version) == 1


async def test_default_database_is_sqlite_wal_in_data_dir(tmp_path: Path) -> None:
    store = open_store(Config(models=[ModelConfig(name="m", provider="fake")]))
    await store.start()
    try:
        assert store.db.sqlite_path == tmp_path / "home" / "tandem.db"
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert store.coordination == "local"
        # A second serving process on the same file coordinates through the database.
        second = open_store(Config(models=[ModelConfig(name="m", provider="fake")]))
        await second.start()
        assert second.coordination == "shared"
        await second.aclose()
    finally:
        await store.aclose()


async def test_status_reports_ledger_facts(stores: StoreFactory) -> None:
    store = await stores()
    status = store.status()
    for field in ("ledger", "queue_depth", "spooled", "written", "coordination", "rate_limits"):
        assert field in status
