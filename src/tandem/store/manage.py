"""Key management and usage queries: what the CLI, admin API and console call.

These are methods of :class:`tandem.store.Store` (mixed in from here to keep
modules small). A key change commits, publishes the new keys epoch and
reloads this Store's table before returning, so the next request on this
worker, and on every worker sharing the epoch, sees it.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.errors import InvalidRequest
from tandem.store import keys as keydb
from tandem.store.models import KeyRecord, KeySpec, KeyUpdate, UsageRow
from tandem.store.schema import budget_state
from tandem.store.usage import EVENT_COLUMNS, GroupBy, insert_rows, rebuild_rollup, summarize

if TYPE_CHECKING:
    from tandem.store.budgets import LocalBook
    from tandem.store.keyring import KeyRing

__all__ = ["ManageMixin", "parse_since"]

_RELATIVE = re.compile(r"^(\d{1,6})([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str | None, *, now: float | None = None) -> float | None:
    """``7d``, ``24h``, ``30m``, an ISO date or datetime (UTC if no zone) -> epoch seconds."""
    if value is None or value == "":
        return None
    text = value.strip()
    m = _RELATIVE.match(text)
    if m:
        return (time.time() if now is None else now) - int(m.group(1)) * _UNIT[m.group(2)]
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            "since: use an ISO date (2025-01-31), a datetime, or a span like 7d, 24h, 30m",
            param="since",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


class ManageMixin:
    """Key administration and usage summaries (part of :class:`Store`)."""

    engine: AsyncEngine
    keys: KeyRing
    book: LocalBook
    coordination: str

    async def _changed(self, epoch: int) -> None:
        self.keys.observe(epoch)
        await self.keys.refresh()

    async def create_key(self, spec: KeySpec) -> tuple[KeyRecord, str]:
        """Create a key; returns its record and its secret (shown once, never stored)."""
        record, secret, epoch = await keydb.create_key(self.engine, spec)
        await self._changed(epoch)
        return record, secret

    async def update_key(self, ref: str, change: KeyUpdate) -> KeyRecord:
        """Change a key's fields (those set in ``change``)."""
        record, epoch = await keydb.update_key(self.engine, ref, change)
        await self._changed(epoch)
        return record

    async def revoke_key(self, ref: str) -> KeyRecord:
        """Revoke a key: refused from the next request on, on every worker."""
        record, epoch = await keydb.revoke_key(self.engine, ref)
        await self._changed(epoch)
        return record

    async def get_key(self, ref: str) -> KeyRecord:
        """The key with this id or prefix (raises :class:`tandem.errors.NotFound`)."""
        return await keydb.find_key(self.engine, ref)

    async def list_keys(self, *, include_revoked: bool = False) -> list[KeyRecord]:
        """All keys (without secrets)."""
        return await keydb.list_keys(self.engine, include_revoked=include_revoked)

    async def key_spend(self, key_id: str) -> dict[str, float]:
        """Spend of a key today, this month and in total, and what is reserved."""
        if self.coordination == "local" and key_id in self.book:
            return self.book.spent(key_id)
        stmt = select(budget_state).where(budget_state.c.key_id == key_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return {"day": 0.0, "month": 0.0, "total": 0.0, "reserved": 0.0}
        from tandem.store.budgets import periods

        day, month = periods(time.time())
        return {
            "day": row.day_spent if row.day >= day else 0.0,
            "month": row.month_spent if row.month >= month else 0.0,
            "total": row.total_spent,
            "reserved": row.reserved,
        }

    async def usage_summary(
        self, by: str = "key", since: float | None = None, key: str | None = None
    ) -> list[UsageRow]:
        """Usage grouped by key, model, route or UTC day, since ``since`` (epoch
        seconds), for the key ``key`` (id or prefix) or all keys."""
        if by not in get_args(GroupBy):
            raise InvalidRequest("by: must be one of key, model, route, day", param="by")
        key_id = None
        if key is not None:
            key_id = key if key in ("admin", "anonymous") else (await self.get_key(key)).id
        async with self.engine.connect() as conn:
            rows = await summarize(conn, by, since, key_id)  # type: ignore[arg-type]
        if by == "key":
            names = {k: r.name for k, r in self.keys.by_id.items()}
            rows = [_with_name(r, names.get(r.group)) for r in rows]
        return rows

    async def rebuild_rollup(self) -> None:
        """Recompute the daily rollup from the ledger (after a bulk import)."""
        async with self.engine.begin() as conn:
            await rebuild_rollup(conn)

    async def import_events(self, rows: Iterable[Mapping[str, Any]], chunk: int = 20_000) -> int:
        """Bulk-insert ledger rows as they are (benchmarks, migrations from other
        systems); call :meth:`rebuild_rollup` afterwards."""
        done, buf = 0, []
        for row in rows:
            buf.append(dict(row))
            if len(buf) >= chunk:
                done += await self._insert_events(buf)
                buf = []
        if buf:
            done += await self._insert_events(buf)
        return done

    async def _insert_events(self, rows: list[dict[str, Any]]) -> int:
        async with self.engine.begin() as conn:
            await insert_rows(conn, [tuple(r.get(c) for c in EVENT_COLUMNS) for r in rows])
        return len(rows)


def _with_name(row: UsageRow, name: str | None) -> UsageRow:
    from dataclasses import replace

    return replace(row, name=name)
