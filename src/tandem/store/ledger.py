"""The usage ledger writer: a bounded queue, batches, and a spool file.

``submit`` is called on the request path and never waits: it appends the
record to a bounded queue (a deque: one event loop owns it, so it needs
none of :class:`asyncio.Queue`'s waiter bookkeeping). One background task takes
records off the queue in batches (up to ``batch_size`` records, or whatever
arrived within ``flush_seconds`` of the first) and writes each batch in one
transaction.

When the queue is full, or the database fails, records go to a local JSONL
spool file (``ledger-spool.jsonl`` in the data dir, appended with one
``write`` per batch so concurrent workers never interleave lines) instead of
being dropped, and serving goes on. After the next successful write the
spool is replayed: it is renamed under a lock, so one process replays it
while others keep appending to a fresh file, and records already stored are
skipped by id, so a replay interrupted half-way can simply run again.
``aclose`` drains the queue; records it cannot write are spooled, so none
is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

__all__ = ["LedgerWriter"]

log = logging.getLogger("tandem.store")
Writer = Callable[[list[dict[str, Any]], bool], Awaitable[int]]
_RETRY_SECONDS = 2.0
_WRITE_TIMEOUT = 15.0
#: Batch size multiplier while a backlog of more than two batches waits.
_BACKLOG_FACTOR = 5


class LedgerWriter:
    """Batches ledger records off the request path into the database."""

    def __init__(
        self,
        write: Writer,
        spool_dir: Path,
        *,
        queue_size: int,
        batch_size: int,
        flush_seconds: float,
    ) -> None:
        self._write = write
        self._queue: deque[dict[str, Any]] = deque()
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._full = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._busy = False
        self.spool_path = spool_dir / "ledger-spool.jsonl"
        self._lock_path = spool_dir / "ledger-spool.lock"
        self._retry_at = 0.0
        self.db_ok = True
        self.written = 0
        self.spooled = 0
        self.spooled_total = 0

    @property
    def depth(self) -> int:
        """Records waiting in the queue."""
        return len(self._queue)

    def start(self) -> None:
        """Start the background writer task."""
        self._task = asyncio.create_task(self._run(), name="tandem-ledger")

    def submit(self, record: dict[str, Any]) -> None:
        """Queue one record (never blocks; spools when the queue is full)."""
        if self._closing or self._task is None:
            self._spool([record])
            return
        queue = self._queue
        if len(queue) >= self._queue_size:
            self._spool([record])
            return
        queue.append(record)
        if not self._wake.is_set():
            self._wake.set()
        if len(queue) >= self._batch_size:
            self._full.set()

    async def _run(self) -> None:
        # Never cancelled: aclose() sets _closing and this loop drains the
        # queue and returns, so no batch is abandoned half-written.
        while True:
            queue = self._queue
            if not queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(queue) < self._batch_size and not self._closing:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._flush_seconds)
            # Batches stay small while the writer keeps up (each one holds the
            # loop for a moment: small ones keep the latency tail short); with
            # a backlog, bigger ones drain it at less CPU per record, so the
            # queue, and the memory it holds, stays small under saturation.
            limit = self._batch_size * (_BACKLOG_FACTOR if len(queue) > 2 * self._batch_size else 1)
            batch = [queue.popleft() for _ in range(min(limit, len(queue)))]
            self._busy = True
            try:
                await self._store(batch)
            finally:
                self._busy = False

    async def flush(self, timeout: float = 30.0) -> None:
        """Wait until every record queued so far is written or spooled."""
        deadline = time.monotonic() + timeout
        while (self._queue or self._busy) and self._task is not None:
            self._full.set()
            if time.monotonic() > deadline:
                raise TimeoutError("ledger flush timed out")
            await asyncio.sleep(0.005)

    async def _store(self, batch: list[dict[str, Any]]) -> None:
        if not self.db_ok and time.monotonic() < self._retry_at:
            self._spool(batch)
            return
        try:
            # A timed-out write may still have committed: the spooled copy is
            # then skipped by id on replay.
            await asyncio.wait_for(self._write(batch, False), _WRITE_TIMEOUT)
        except Exception as exc:
            if self.db_ok:
                log.warning(
                    "ledger: database write failed (%s); spooling to %s",
                    type(exc).__name__,
                    self.spool_path,
                )
            self.db_ok = False
            self._retry_at = time.monotonic() + _RETRY_SECONDS
            self._spool(batch)
            return
        self.written += len(batch)
        if not self.db_ok:
            log.info("ledger: database is back")
        self.db_ok = True
        if self.spooled or self.spool_path.exists():
            await self.replay()

    def _spool(self, records: list[dict[str, Any]]) -> None:
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        fd = os.open(self.spool_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self.spooled += len(records)
        self.spooled_total += len(records)

    async def replay(self) -> int:
        """Write spooled records to the database; returns how many were new."""
        lock = open(self._lock_path, "a+b")
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # another process is replaying
            if self.spool_path.exists():
                name = f"ledger-spool.{os.getpid()}.{time.time_ns()}.replay"
                os.replace(self.spool_path, self.spool_path.with_name(name))
            done = 0
            for path in sorted(self.spool_path.parent.glob("ledger-spool.*.replay")):
                done += await self._replay_file(path)
            self.spooled = 0
            return done
        except Exception as exc:
            log.warning("ledger: spool replay failed (%s); will retry", type(exc).__name__)
            self.db_ok = False
            self._retry_at = time.monotonic() + _RETRY_SECONDS
            return 0
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()

    async def _replay_file(self, path: Path) -> int:
        records = []
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                log.warning("ledger: skipping a corrupt spool line in %s", path.name)
        done = 0
        for i in range(0, len(records), self._batch_size):
            done += await self._write(records[i : i + self._batch_size], True)
        path.unlink()
        log.info("ledger: replayed %d spooled records from %s", done, path.name)
        return done

    async def aclose(self) -> None:
        """Write everything queued (spooling what cannot be written), then stop."""
        self._closing = True
        self._retry_at = 0.0  # try the database once more, whatever happened before
        self._wake.set()
        self._full.set()
        if self._task is not None:
            await self._task
            self._task = None
