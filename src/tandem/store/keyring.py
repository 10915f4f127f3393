"""Every key in memory, kept current through the shared keys epoch.

Authentication never queries the database for a known-current table: it
hashes the token, looks the hash up in a dict and checks expiry against the
clock. Before that it compares the epoch the table is current to with the
shared epoch (see :mod:`tandem.store.epoch`); only when a key changed
somewhere does it await one ``seq > last`` query. An unknown token costs
the same dict miss, never a database query, so a flood of random tokens
cannot reach the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.call import KeyInfo
from tandem.errors import TandemError
from tandem.store.db import DatabaseURL
from tandem.store.epoch import EpochFile, PgEpochListener
from tandem.store.keys import NOTIFY_CHANNEL, load_changed, read_epoch
from tandem.store.models import KeyRecord

__all__ = ["KeyRing"]

log = logging.getLogger("tandem.store")
POLL_SECONDS = 2.0


class KeyRing:
    """The in-memory key table of one Store."""

    def __init__(
        self,
        engine: AsyncEngine,
        db: DatabaseURL,
        on_loaded: Callable[[list[KeyRecord]], object] | None = None,
    ) -> None:
        self._engine = engine
        self._db = db
        self._on_loaded = on_loaded
        self.by_hash: dict[str, KeyRecord] = {}
        self.by_id: dict[str, KeyRecord] = {}
        self.infos: dict[str, KeyInfo] = {}
        #: The epoch the table is current to.
        self.epoch = -1
        #: The newest epoch known to exist (PostgreSQL: from NOTIFY).
        self._seen = 0
        self._file: EpochFile | None = None
        self._listener: PgEpochListener | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Open the epoch source and load every key."""
        if self._db.sqlite_path is not None:
            path = self._db.sqlite_path
            self._file = EpochFile(path.with_name(path.name + ".keys-epoch"))
        elif self._db.pg_dsn is not None:
            self._listener = PgEpochListener(self._db.pg_dsn, NOTIFY_CHANNEL, self.observe)
            try:
                await self._listener.start()
            except Exception as exc:
                log.warning("key-change listener unavailable (%s)", type(exc).__name__)
        await self.refresh(force=True)

    def observe(self, epoch: int) -> None:
        """Record that ``epoch`` exists (from NOTIFY, a poll or a local change)."""
        if epoch > self._seen:
            self._seen = epoch
        if self._file is not None:
            self._file.publish(epoch)

    def stale(self) -> bool | None:
        """True if a newer epoch is known, False if not, None if it cannot be
        known without reading the database (listener down)."""
        if self._file is not None:
            return self._file.read() > self.epoch
        if self._listener is not None and self._listener.connected:
            return self._seen > self.epoch
        return None

    async def ensure_current(self) -> None:
        """Reload changed keys if any changed (cheap when none did)."""
        stale = self.stale()
        if stale is False:
            return
        if stale is None:
            try:
                async with self._engine.connect() as conn:
                    self.observe(await read_epoch(conn))
            except Exception as exc:
                log.warning("cannot read the keys epoch (%s); using cached keys", type(exc).__name__)
                return
            if self._seen <= self.epoch:
                return
        try:
            await self.refresh()
        except Exception as exc:
            # A key changed and we cannot see how: refuse rather than trust stale keys.
            raise TandemError("the key store is unavailable") from exc

    async def refresh(self, *, force: bool = False) -> None:
        """Apply every key changed since the table's epoch."""
        async with self._lock:
            if not force and self.stale() is False:
                return
            records, epoch = await load_changed(self._engine, max(self.epoch, 0) if not force else 0)
            for rec in records:
                old = self.by_id.get(rec.id)
                if old is not None:
                    self.by_hash.pop(old.secret_hash, None)
                self.by_id[rec.id] = rec
                self.by_hash[rec.secret_hash] = rec
                self.infos[rec.id] = rec.key_info()
            self.epoch = max(self.epoch, epoch)
            self.observe(epoch)
            if records and self._on_loaded is not None:
                result = self._on_loaded(records)
                if asyncio.iscoroutine(result):
                    await result

    async def poll(self) -> None:
        """Backstop: read the database epoch (repairs a stale file, a lost NOTIFY)."""
        async with self._engine.connect() as conn:
            self.observe(await read_epoch(conn))

    async def aclose(self) -> None:
        """Stop listening and unmap the epoch file."""
        if self._listener is not None:
            await self._listener.close()
        if self._file is not None:
            self._file.close()

    @property
    def listening(self) -> bool | None:
        """Whether the PostgreSQL listener is connected (None on SQLite)."""
        return None if self._listener is None else self._listener.connected
