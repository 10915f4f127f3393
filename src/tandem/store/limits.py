"""Per-key request and token rate limits (per minute).

Both limiters use the sliding-window approximation of two fixed one-minute
windows (the previous window's count weighted by the part of it still inside
the last 60 s, plus the current count): O(1) memory per key, no timestamps
kept, and within a few percent of an exact sliding log.

* :class:`LocalLimiter` keeps the counters in the process: exact for one
  worker, and free (no I/O).
* :class:`FileLimiter` keeps them in a memory-mapped file next to the SQLite
  database, under an exclusive ``flock``: every worker process on the host
  shares them, at two system calls per limited request.
* :class:`RedisLimiter` keeps them in Redis and checks-and-counts in one Lua
  script, so every worker and replica shares them. Tokens are known only
  when a call ends; they are added in batches (a pipeline every 100 ms) off
  the request path. If Redis fails, the limiter logs it and falls back to
  the local counters rather than refusing traffic.

The Store uses Redis when ``redis_url`` is set, else the file when several
processes serve one SQLite database, else the in-process counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import mmap
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tandem.errors import RateLimited

__all__ = ["FileLimiter", "LocalLimiter", "RedisLimiter"]

log = logging.getLogger("tandem.store")
WINDOW = 60.0


def _retry_after(rpm: int, cur: float, prev: float, frac: float) -> float:
    """Seconds until one more request fits, for the two-window estimate."""
    if cur + 1 > rpm or prev <= 0:
        return (1.0 - frac) * WINDOW
    needed = 1.0 - (rpm - cur - 1) / prev  # the fraction at which prev has decayed enough
    return max(0.0, needed - frac) * WINDOW


def _roll(s: list[float], window: int) -> None:
    """Bring counters ``[window, cur_requests, prev_requests, cur_tokens,
    prev_tokens]`` to ``window``."""
    if s[0] != window:
        if s[0] == window - 1:
            s[2], s[4] = s[1], s[3]
        else:
            s[2] = s[4] = 0.0
        s[0], s[1], s[3] = window, 0.0, 0.0


def _admit(s: list[float], rpm: int | None, tpm: int | None, now: float) -> None:
    """Count one request in the counters ``s`` (rolled to ``now``), or raise
    :class:`RateLimited` if it does not fit."""
    frac = (now % WINDOW) / WINDOW
    if rpm is not None and s[1] + s[2] * (1.0 - frac) + 1 > rpm:
        wait = _retry_after(rpm, s[1], s[2], frac)
        raise RateLimited(f"rate limit of {rpm} requests per minute reached", retry_after=wait)
    if tpm is not None and s[3] + s[4] * (1.0 - frac) >= tpm:
        raise RateLimited(f"rate limit of {tpm} tokens per minute reached", retry_after=(1 - frac) * WINDOW)
    s[1] += 1


class LocalLimiter:
    """In-process sliding-window counters."""

    def __init__(self) -> None:
        # key_id -> [window, cur_requests, prev_requests, cur_tokens, prev_tokens]
        self._state: dict[str, list[float]] = {}

    def _slot(self, key_id: str, window: int) -> list[float]:
        s = self._state.get(key_id)
        if s is None:
            s = self._state[key_id] = [window, 0.0, 0.0, 0.0, 0.0]
        _roll(s, window)
        return s

    def check(self, key_id: str, rpm: int | None, tpm: int | None, now: float) -> None:
        """Count one request, or raise :class:`RateLimited` if it does not fit."""
        _admit(self._slot(key_id, int(now // WINDOW)), rpm, tpm, now)

    def add_tokens(self, key_id: str, tokens: int, now: float) -> None:
        """Count the tokens of a finished call."""
        if tokens > 0:
            self._slot(key_id, int(now // WINDOW))[3] += tokens


#: One key's slot in the file: a 64-bit hash of its id, then the five counters.
_SLOT = struct.Struct("<Q5d")
_SLOTS = 4096


class FileLimiter:
    """Sliding-window counters shared by the processes of one host.

    The file holds a fixed table of :data:`_SLOTS` slots, found by a stable
    hash of the key id with linear probing (slots are claimed, never freed:
    only keys with a limit take one). Every read-modify-write holds an
    exclusive ``flock`` on the file. If the table is full, further keys are
    counted per process, with a warning.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        size = _SLOT.size * _SLOTS
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
        self._fd = fd
        self._map = mmap.mmap(fd, size)
        self._index: dict[str, int] = {}  # key id -> slot number, once found
        self._overflow = LocalLimiter()

    def _find(self, key_id: str) -> int | None:
        """The key's slot number, claiming a free one (call under the lock)."""
        found = self._index.get(key_id)
        if found is not None:
            return found
        tag = int.from_bytes(hashlib.blake2b(key_id.encode(), digest_size=8).digest(), "little") or 1
        for probe in range(_SLOTS):
            i = (tag + probe) % _SLOTS
            owner = _SLOT.unpack_from(self._map, i * _SLOT.size)[0]
            if owner == tag or owner == 0:
                if owner == 0:
                    _SLOT.pack_into(self._map, i * _SLOT.size, tag, -1.0, 0.0, 0.0, 0.0, 0.0)
                self._index[key_id] = i
                return i
        log.warning("rate limit table %s is full: key %s is limited per process", self.path, key_id)
        return None

    def _update(self, key_id: str, now: float, change: Callable[[list[float]], None]) -> bool:
        """Apply ``change`` to the key's counters rolled to ``now``; False if it has no slot."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            i = self._find(key_id)
            if i is None:
                return False
            tag, *counters = _SLOT.unpack_from(self._map, i * _SLOT.size)
            _roll(counters, int(now // WINDOW))
            try:
                change(counters)
            finally:
                _SLOT.pack_into(self._map, i * _SLOT.size, tag, *counters)
            return True
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def check(self, key_id: str, rpm: int | None, tpm: int | None, now: float) -> None:
        """Count one request, or raise :class:`RateLimited` if it does not fit."""
        if not self._update(key_id, now, lambda s: _admit(s, rpm, tpm, now)):
            self._overflow.check(key_id, rpm, tpm, now)

    def add_tokens(self, key_id: str, tokens: int, now: float) -> None:
        """Count the tokens of a finished call."""
        if tokens > 0 and not self._update(key_id, now, lambda s: s.__setitem__(3, s[3] + tokens)):
            self._overflow.add_tokens(key_id, tokens, now)

    def close(self) -> None:
        """Unmap and close the file."""
        with contextlib.suppress(BufferError, ValueError):
            self._map.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)


# KEYS: req_cur, req_prev, tok_cur, tok_prev. ARGV: rpm, tpm, frac (0..1), ttl.
# Returns 0 (admitted, counted), 1 (over rpm) or 2 (over tpm).
_CHECK_LUA = """
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local keep = 1 - tonumber(ARGV[3])
if rpm > 0 then
  local r = tonumber(redis.call('GET', KEYS[1]) or '0')
          + keep * tonumber(redis.call('GET', KEYS[2]) or '0')
  if r + 1 > rpm then return 1 end
end
if tpm > 0 then
  local t = tonumber(redis.call('GET', KEYS[3]) or '0')
          + keep * tonumber(redis.call('GET', KEYS[4]) or '0')
  if t >= tpm then return 2 end
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 0
"""


def _names(key_id: str, window: int) -> list[str]:
    # The {hash tag} keeps one key's counters in one Redis Cluster slot.
    base = f"tandem:rl:{{{key_id}}}"
    return [
        f"{base}:r:{window}",
        f"{base}:r:{window - 1}",
        f"{base}:t:{window}",
        f"{base}:t:{window - 1}",
    ]


class RedisLimiter:
    """Counters shared through Redis by every worker and replica."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis  # only needed when redis_url is set

        self._redis: Any = aioredis.Redis.from_url(url, socket_timeout=2.0)
        self._script: Any = self._redis.register_script(_CHECK_LUA)
        self._fallback = LocalLimiter()
        self._pending: dict[tuple[str, int], int] = {}
        self._task: asyncio.Task[None] | None = None
        self._warned = 0.0

    async def start(self) -> None:
        """Check the connection and start the token flusher."""
        await self._redis.ping()
        self._task = asyncio.create_task(self._flush_loop(), name="tandem-rl-flush")

    async def check(self, key_id: str, rpm: int | None, tpm: int | None, now: float) -> None:
        """Count one request in Redis, or raise :class:`RateLimited`."""
        window = int(now // WINDOW)
        frac = (now % WINDOW) / WINDOW
        try:
            code = await self._script(keys=_names(key_id, window), args=[rpm or 0, tpm or 0, repr(frac), 150])
        except Exception as exc:
            self._warn(exc)
            self._fallback.check(key_id, rpm, tpm, now)
            return
        if code == 1:
            raise RateLimited(f"rate limit of {rpm} requests per minute reached", retry_after=(1 - frac) * 60)
        if code == 2:
            raise RateLimited(f"rate limit of {tpm} tokens per minute reached", retry_after=(1 - frac) * 60)

    def add_tokens(self, key_id: str, tokens: int, now: float) -> None:
        """Queue the tokens of a finished call for the next batch (non-blocking)."""
        if tokens > 0:
            slot = (key_id, int(now // WINDOW))
            self._pending[slot] = self._pending.get(slot, 0) + tokens
            self._fallback.add_tokens(key_id, tokens, now)

    async def flush(self) -> None:
        """Send the queued token counts to Redis."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        pipe = self._redis.pipeline(transaction=False)
        for (key_id, window), tokens in pending.items():
            name = _names(key_id, window)[2]
            pipe.incrby(name, tokens)
            pipe.expire(name, 150)
        try:
            await pipe.execute()
        except Exception as exc:
            self._warn(exc)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            await self.flush()

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned > 10:
            self._warned = now
            log.warning("redis rate limiter unavailable (%s); limiting per process", type(exc).__name__)

    async def aclose(self) -> None:
        """Flush pending counts and close the connection pool."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()
        await self._redis.aclose()
