"""The Store: keys, rate limits, budgets and the usage ledger for the gateway.

It implements :class:`tandem.accounting.Accountant`. Per request the gateway
calls ``authenticate`` (a hash and a dict lookup), ``admit`` (in-memory
counters in the single-process default; one Redis script and/or one
conditional UPDATE when coordinating several workers or replicas) and
``settle`` (never waits: counters in memory, the ledger record on a queue).

Coordination modes:

* ``local``: SQLite with ``server.workers == 1`` and no other process
  serving from the same file (checked with a file lock): budgets and, if no
  Redis is configured, rate limits are counted in memory.
* ``shared``: otherwise (PostgreSQL, several workers, or forced): budgets
  are reserved in the database; rate limits live in Redis when
  ``store.redis_url`` is set, else they are per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hmac
import logging
import os
import random
import time
from typing import IO, Any, Literal

from sqlalchemy import update

from tandem.accounting import Accountant
from tandem.call import Call, KeyInfo
from tandem.config import Config
from tandem.errors import AuthenticationError, PermissionDenied, TandemError
from tandem.store.budgets import LocalBook, periods, reserve_shared
from tandem.store.db import create_engine, migrate, parse_database_url
from tandem.store.keyring import POLL_SECONDS, KeyRing
from tandem.store.ledger import LedgerWriter
from tandem.store.limits import FileLimiter, LocalLimiter, RedisLimiter
from tandem.store.manage import ManageMixin
from tandem.store.models import KeyRecord, hash_secret
from tandem.store.schema import store_meta

__all__ = ["Coordination", "Store", "open_store"]

log = logging.getLogger("tandem.store")
Coordination = Literal["auto", "local", "shared"]
ADMIN_ID = "admin"
ANONYMOUS_ID = "anonymous"
_MAX_TOKEN = 512
_ID_EPOCH = 1_577_836_800  # 2020-01-01: ledger ids count seconds from here


class Store(ManageMixin):
    """Keys, budgets, rate limits and the usage ledger over SQLite or PostgreSQL."""

    def __init__(self, config: Config, *, coordination: Coordination = "auto") -> None:
        self.config = config
        self.db = parse_database_url(config.store.url)
        self.engine = create_engine(self.db)
        self.auth_mode = config.auth.mode
        self._coordination_wanted = coordination
        self.coordination: Literal["local", "shared"] = "shared"
        self.book = LocalBook()
        self.keys = KeyRing(self.engine, self.db, on_loaded=self._keys_loaded)
        # Without Redis: in-process counters, or a file the host's processes share.
        self._local_limits: LocalLimiter | FileLimiter = LocalLimiter()
        self._redis: RedisLimiter | None = None
        self.ledger = LedgerWriter(
            self._write_batch,
            self.db.data_dir,
            queue_size=config.store.ledger_queue_size,
            batch_size=config.store.ledger_batch_size,
            flush_seconds=config.store.ledger_flush_seconds,
        )
        self._admin_hash: str | None = None
        self._admin_info = KeyInfo(id=ADMIN_ID, name="admin", is_admin=True)
        self._serve_lock: IO[bytes] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._writer_tag = 0
        self._id_sec = 0
        self._id_ctr = 0
        self._day: tuple[int, int, float] = (-1, 0, 0.0)  # (day, month, day end as epoch seconds)
        self.started = False

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Migrate the schema, load keys, connect Redis, start the ledger writer."""
        await migrate(self.engine, self.db)
        async with self.engine.begin() as conn:
            stmt = (
                update(store_meta)
                .where(store_meta.c.name == "writer_seq")
                .values(value=store_meta.c.value + 1)
                .returning(store_meta.c.value)
            )
            self._writer_tag = int((await conn.execute(stmt)).scalar_one()) % 4096
        self.coordination = self._choose_coordination()
        if self.coordination == "local":
            await self.book.load(self.engine)
        await self.keys.start()
        admin = os.environ.get(self.config.auth.admin_key_env)
        self._admin_hash = hash_secret(admin) if admin else None
        if self.config.store.redis_url:
            self._redis = RedisLimiter(self.config.store.redis_url)
            try:
                await self._redis.start()
            except Exception as exc:
                log.warning("redis unavailable at start (%s): limits per process", type(exc).__name__)
        if self.coordination == "shared" and self.db.sqlite_path is not None:
            # Other processes serve this database too (workers): share the counters.
            path = self.db.sqlite_path
            self._local_limits = FileLimiter(path.with_name(path.name + ".limits"))
        self.ledger.start()
        if self.ledger.spool_path.exists():
            await self.ledger.replay()
        self._poll_task = asyncio.create_task(self._poll(), name="tandem-store-poll")
        self.started = True

    def _choose_coordination(self) -> Literal["local", "shared"]:
        if self._coordination_wanted != "auto":
            return self._coordination_wanted
        if self.db.sqlite_path is None or self.config.server.workers > 1:
            return "shared"
        # Only one process may count budgets in memory for a given file.
        path = self.db.sqlite_path.with_name(self.db.sqlite_path.name + ".serve.lock")
        f = open(path, "a+b")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            log.warning("another process serves %s: coordinating budgets through it", self.db.sqlite_path)
            return "shared"
        self._serve_lock = f
        return "local"

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.keys.poll()
                if not self.ledger.db_ok or self.ledger.spool_path.exists():
                    await self.ledger.replay()
            except Exception as exc:
                log.debug("store poll failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        """Flush the ledger (spooling what cannot be written) and close everything."""
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
        await self.ledger.aclose()
        if self._redis is not None:
            await self._redis.aclose()
        if isinstance(self._local_limits, FileLimiter):
            self._local_limits.close()
            self._local_limits = LocalLimiter()
        await self.keys.aclose()
        await self.engine.dispose()
        if self._serve_lock is not None:
            self._serve_lock.close()
            self._serve_lock = None
        self.started = False

    def status(self) -> dict[str, object]:
        """Health facts for ``/readyz`` and ``/metrics``."""
        return {
            "ledger": "ok" if self.ledger.db_ok else "degraded",
            "database": self.db.dialect,
            "database_ok": self.ledger.db_ok,
            "queue_depth": self.ledger.depth,
            "queue_size": self.config.store.ledger_queue_size,
            "spooled": self.ledger.spooled,
            "spooled_total": self.ledger.spooled_total,
            "written": self.ledger.written,
            "coordination": self.coordination,
            "rate_limits": "redis"
            if self._redis is not None
            else ("host" if isinstance(self._local_limits, FileLimiter) else "process"),
            "keys": len(self.keys.by_id),
            "keys_epoch": self.keys.epoch,
            "keys_listener": self.keys.listening,
        }

    async def _keys_loaded(self, records: list[KeyRecord]) -> None:
        if self.coordination == "local":
            new = [r.id for r in records if r.id not in self.book]
            if new:
                await self.book.load(self.engine, new)

    # --- the request path -------------------------------------------------------

    async def authenticate(self, token: str | None) -> KeyInfo | None:
        """The key for a bearer token; None when ``auth.mode`` is off."""
        if self.auth_mode == "off":
            return None
        return await self.verify(token)

    async def verify(self, token: str | None) -> KeyInfo:
        """The key for a bearer token whatever ``auth.mode`` says (admin API, /v1/usage)."""
        if not token:
            raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
        if self.keys.stale() is not False:
            await self.keys.ensure_current()
        digest = hash_secret(token[:_MAX_TOKEN])
        # Constant time whatever the token: every path hashes, looks up one
        # dict entry and runs two compare_digest calls over 64 hex characters.
        admin = self._admin_hash or "0" * 64
        is_admin = hmac.compare_digest(digest, admin) and self._admin_hash is not None
        rec = self.keys.by_hash.get(digest)
        matched = hmac.compare_digest(digest, rec.secret_hash if rec is not None else "1" * 64)
        if is_admin:
            return self._admin_info
        if rec is None or not matched or len(token) > _MAX_TOKEN:
            log.debug("rejected an unknown API key %.6s...", token)
            raise AuthenticationError("invalid API key")
        if rec.revoked_at is not None:
            raise AuthenticationError("this API key has been revoked")
        if rec.expires_at is not None and time.time() >= rec.expires_at:
            raise AuthenticationError("this API key has expired")
        return self.keys.infos[rec.id]

    async def admit(self, call: Call, estimated_cost: float) -> None:
        """Check the key's model list and rate limits; reserve ``estimated_cost``."""
        call.reserved_usd = 0.0
        info = call.key
        if info is None or info.is_admin:
            return
        rec = self.keys.by_id.get(info.id)
        now = time.time()
        if rec is None or not rec.is_active(now):
            raise AuthenticationError("this API key is no longer valid")
        if info.allowed_models is not None and call.requested not in info.allowed_models:
            raise PermissionDenied(f"this key may not use {call.requested!r}", param="model")
        if rec.rpm_limit is not None or rec.tpm_limit is not None:
            if self._redis is not None:
                await self._redis.check(rec.id, rec.rpm_limit, rec.tpm_limit, now)
            else:
                self._local_limits.check(rec.id, rec.rpm_limit, rec.tpm_limit, now)
        if rec.has_budget:
            estimate = max(0.0, float(estimated_cost))
            day, month = self._periods(now)
            if self.coordination == "local":
                self.book.reserve(rec, estimate, day, month)
            else:
                try:
                    await reserve_shared(self.engine, rec, estimate, day, month)
                except TandemError:
                    raise
                except Exception as exc:
                    # Database down: serve unreserved rather than refuse everyone.
                    log.warning("budget reservation failed (%s); admitting unreserved", type(exc).__name__)
                    return
            call.reserved_usd = estimate

    def settle(self, call: Call) -> None:
        """Release the reservation, charge the cost and queue the ledger record."""
        now = time.time()
        day, month = self._periods(now)
        info = call.key
        key_id = ANONYMOUS_ID if info is None else info.id
        reserved, call.reserved_usd = call.reserved_usd, 0.0
        cost = call.cost_usd
        usage = call.usage
        shared = self.coordination == "shared"
        if info is not None and not info.is_admin:
            if not shared:
                self.book.settle(key_id, reserved, cost, day, month)
            if info.tpm_limit is not None:
                tokens = usage.prompt_tokens + usage.completion_tokens
                if self._redis is not None:
                    self._redis.add_tokens(key_id, tokens, now)
                else:
                    self._local_limits.add_tokens(key_id, tokens, now)
        decision = call.decision
        self.ledger.submit(
            {
                "id": self._next_id(now),
                "ts": now,
                "day": day,
                "month": month,
                "key_id": key_id,
                "request_id": call.request_id[:64] or None,
                "endpoint": call.endpoint,
                "requested": call.requested[:200],
                "route": decision.route if decision is not None else None,
                "model": call.model,
                "provider": call.provider,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cost_usd": cost,
                "latency_s": call.latency_s,
                "ttft_s": call.first_token_s,
                "status": call.status,
                "error": call.error[:64] if call.error else None,
                "retries": call.retries,
                "fallbacks": call.fallbacks,
                "cache_hit": call.cache_hit,
                "escalated": call.escalated,
                "privacy_action": call.privacy_action,
                "privacy_counts": dict(call.privacy_counts) if call.privacy_counts else None,
                "release": reserved if shared else 0.0,
            }
        )

    def _periods(self, now: float) -> tuple[int, int]:
        day, month, end = self._day
        if now >= end or now < end - 86400:
            day, month = periods(now)
            self._day = (day, month, (day + 1) * 86400.0)
        return day, month

    def _next_id(self, now: float) -> int:
        # Time-ordered and unique: seconds since 2020 | writer tag (12 bits) |
        # counter (20 bits). The tag is unique per Store start (mod 4096).
        sec = int(now) - _ID_EPOCH
        if sec > self._id_sec:
            self._id_sec, self._id_ctr = sec, random.getrandbits(10)
        else:
            self._id_ctr += 1
            if self._id_ctr >= 1 << 20:
                self._id_sec, self._id_ctr = self._id_sec + 1, 0
        return (self._id_sec << 32) | (self._writer_tag << 20) | self._id_ctr

    async def _write_batch(self, records: list[dict[str, Any]], dedupe: bool) -> int:
        from tandem.store.usage import write_batch

        async with self.engine.begin() as conn:
            return await write_batch(conn, records, dedupe=dedupe)


def open_store(config: Config, *, coordination: Coordination = "auto") -> Store:
    """A Store for ``config`` (not yet connected: ``await store.start()``)."""
    return Store(config, coordination=coordination)


_check: type[Accountant] = Store  # the Store satisfies the gateway's protocol
