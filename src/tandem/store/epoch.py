"""How every worker and replica learns, cheaply, that a key changed.

Every key change increments ``keys_epoch`` in the database (see
:mod:`tandem.store.keys`). A worker keeps all keys in memory together with
the epoch they are current to, and before trusting them compares that epoch
with a *shared* copy that costs almost nothing to read:

* SQLite (one host): an 8-byte memory-mapped file next to the database.
  The process that changes a key writes the new epoch there right after its
  commit; reading it is a memory load (about 0.2 µs), so the very next
  request on any worker process sees the change.
* PostgreSQL (many hosts): each Store holds one idle ``LISTEN tandem_keys``
  connection; the changing transaction sends ``NOTIFY`` on commit and each
  replica's listener updates its copy as the notification arrives (well
  under a millisecond on a LAN). While the listener is disconnected the
  Store reads the epoch from the database on every request instead (one
  indexed primary-key read), so a lost connection never means stale keys.

Both are backed by a poll of the database epoch every few seconds, which
repairs a file left behind by a process that died between commit and write.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["EpochFile", "PgEpochListener"]

log = logging.getLogger("tandem.store")
_EPOCH = struct.Struct("<q")


class EpochFile:
    """A shared 64-bit counter in a memory-mapped file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < mmap.PAGESIZE:
                os.ftruncate(fd, mmap.PAGESIZE)
            self._map = mmap.mmap(fd, mmap.PAGESIZE)
        finally:
            os.close(fd)

    def read(self) -> int:
        """The published epoch (a memory read)."""
        value: int = _EPOCH.unpack_from(self._map, 0)[0]
        return value

    def publish(self, epoch: int) -> None:
        """Raise the published epoch to ``epoch`` (never lowers it)."""
        with open(self.path, "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if epoch > self.read():
                    _EPOCH.pack_into(self._map, 0, epoch)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def close(self) -> None:
        """Unmap the file."""
        with contextlib.suppress(BufferError, ValueError):
            self._map.close()


class PgEpochListener:
    """``LISTEN tandem_keys`` on a dedicated asyncpg connection, reconnecting.

    ``connected`` is False until the first connection and whenever it is
    lost; the Store then checks the epoch in the database per request.
    """

    def __init__(self, dsn: str, channel: str, on_epoch: Callable[[int], None]) -> None:
        self._dsn = dsn
        self._channel = channel
        self._on_epoch = on_epoch
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self.connected = False

    async def start(self) -> None:
        """Connect once (raising if the server is unreachable), then keep the
        connection alive in the background."""
        await self._connect()
        self._task = asyncio.create_task(self._keepalive(), name="tandem-keys-listener")

    async def _connect(self) -> None:
        import asyncpg  # type: ignore[import-untyped]  # only needed on PostgreSQL

        conn = await asyncpg.connect(self._dsn)
        conn.add_termination_listener(lambda _c: self._mark_lost())
        await conn.add_listener(self._channel, self._notified)
        # Changes made while we were not listening: read the epoch once.
        epoch = await conn.fetchval("SELECT value FROM store_meta WHERE name = 'keys_epoch'")
        self._on_epoch(int(epoch))
        self._conn = conn
        self._lost.clear()
        self.connected = True

    def _mark_lost(self) -> None:
        self.connected = False
        self._lost.set()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._on_epoch(int(payload))
        except ValueError:
            log.warning("ignoring a malformed key-change notification")

    async def _keepalive(self) -> None:
        while True:
            await self._lost.wait()
            await asyncio.sleep(1.0)
            try:
                await self._connect()
                log.info("key-change listener reconnected")
            except Exception as exc:
                log.warning("key-change listener: cannot reconnect (%s)", type(exc).__name__)

    async def close(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.connected = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
