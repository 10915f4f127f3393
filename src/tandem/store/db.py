"""Database URLs, engines and migrations.

SQLite (the default, in WAL mode, in the data dir) and PostgreSQL are
reached through SQLAlchemy Core's asyncio layer (aiosqlite and asyncpg).
Migrations run at start through Alembic, programmatically, from the scripts
shipped in :mod:`tandem.store.migrations`; several workers starting at once
serialize on a lock (a file lock for SQLite, an advisory lock for
PostgreSQL), so each revision is applied once.
"""

from __future__ import annotations

import asyncio
import fcntl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tandem.config import default_data_dir

__all__ = ["DatabaseURL", "create_engine", "migrate", "parse_database_url"]

#: Arbitrary constant identifying tandem's migration advisory lock.
_PG_MIGRATION_LOCK = 7_346_221_001


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A normalized store URL: the dialect, the SQLAlchemy URL and the data dir."""

    dialect: str  # "sqlite" | "postgresql"
    sqlalchemy_url: str
    #: Where the spool file and (SQLite) the epoch file live.
    data_dir: Path
    #: The SQLite database file, or None for PostgreSQL.
    sqlite_path: Path | None = None
    #: A plain ``postgresql://`` DSN for asyncpg's LISTEN connection.
    pg_dsn: str | None = None


def parse_database_url(url: str | None) -> DatabaseURL:
    """Normalize ``sqlite:///path``, ``postgresql://...`` or None (the default file)."""
    if not url:
        path = default_data_dir() / "tandem.db"
        return DatabaseURL("sqlite", f"sqlite+aiosqlite:///{path}", path.parent, path)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("store.url: SQLite needs a file path (sqlite:///path/tandem.db)")
        path = Path(parsed.database).expanduser().resolve()
        return DatabaseURL("sqlite", f"sqlite+aiosqlite:///{path}", path.parent, path)
    if backend in ("postgresql", "postgres"):
        sa_url = parsed.set(drivername="postgresql+asyncpg")
        dsn = sa_url.set(drivername="postgresql").render_as_string(hide_password=False)
        return DatabaseURL(
            "postgresql",
            sa_url.render_as_string(hide_password=False),
            default_data_dir(),
            pg_dsn=dsn,
        )
    raise ValueError(f"store.url: unsupported database {backend!r} (use sqlite or postgresql)")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (CLI, console) run while the ledger writer writes;
    # synchronous=NORMAL is durable across process crashes in WAL mode and
    # avoids an fsync per transaction; busy_timeout makes concurrent
    # writers (several workers, the CLI) wait instead of failing.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def create_engine(db: DatabaseURL, *, pool_size: int = 5) -> AsyncEngine:
    """An async engine for ``db``, with SQLite pragmas applied on every connection."""
    if db.dialect == "sqlite":
        assert db.sqlite_path is not None
        db.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(db.sqlalchemy_url, pool_size=pool_size, max_overflow=2)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        db.sqlalchemy_url,
        pool_size=pool_size,
        max_overflow=4,
        pool_pre_ping=True,
        # Statements are short; a stuck lock must not hang a worker forever.
        connect_args={"command_timeout": 30},
    )


def _alembic_config(conn: Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "tandem.store:migrations")
    cfg.attributes["connection"] = conn
    return cfg


def _upgrade(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
    command.upgrade(_alembic_config(conn), "head")


async def migrate(engine: AsyncEngine, db: DatabaseURL) -> None:
    """Apply every pending migration (idempotent, safe with concurrent starts)."""
    if db.dialect == "sqlite":
        assert db.sqlite_path is not None
        lock_path = db.sqlite_path.with_name(db.sqlite_path.name + ".migrate.lock")
        fd = await asyncio.to_thread(_lock_file, lock_path)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            fd.close()
        return
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def _lock_file(path: Path) -> Any:
    fd = open(path, "a+b")
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd
