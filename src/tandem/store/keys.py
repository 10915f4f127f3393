"""Key rows in the database: create, update, revoke, look up, reload.

Every change runs in one transaction that also increments the
``keys_epoch`` counter in ``store_meta`` and stamps the row with it
(``seq``), so a worker brings its in-memory key table up to date with one
indexed query, ``seq > last seen``. On PostgreSQL the same transaction
sends ``NOTIFY tandem_keys`` so that every replica learns of the change as
it commits. All SQL is built with SQLAlchemy Core: values are always bound
parameters, never formatted into the statement.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tandem.errors import InvalidRequest, NotFound
from tandem.store.models import (
    PREFIX_LEN,
    KeyRecord,
    KeySpec,
    KeyUpdate,
    hash_secret,
    new_key_id,
    new_secret,
)
from tandem.store.schema import api_keys, budget_state, store_meta

__all__ = [
    "NOTIFY_CHANNEL",
    "create_key",
    "find_key",
    "list_keys",
    "load_changed",
    "read_epoch",
    "revoke_key",
    "update_key",
]

NOTIFY_CHANNEL = "tandem_keys"
_JSON_FIELDS = ("tags", "allowed_models", "allowed_routes")


def _row_to_record(row: RowMapping) -> KeyRecord:
    def lst(name: str) -> list[str] | None:
        raw = row[name]
        return None if raw is None else list(json.loads(raw))

    models, routes = lst("allowed_models"), lst("allowed_routes")
    return KeyRecord(
        id=row["id"],
        prefix=row["prefix"],
        secret_hash=row["secret_hash"],
        name=row["name"],
        owner=row["owner"],
        team=row["team"],
        tags=tuple(lst("tags") or ()),
        allowed_models=None if models is None else frozenset(models),
        allowed_routes=None if routes is None else frozenset(routes),
        budget_day_usd=row["budget_day_usd"],
        budget_month_usd=row["budget_month_usd"],
        budget_total_usd=row["budget_total_usd"],
        rpm_limit=row["rpm_limit"],
        tpm_limit=row["tpm_limit"],
        privacy_policy=row["privacy_policy"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for name in _JSON_FIELDS:
        if name in out and out[name] is not None:
            out[name] = json.dumps(out[name])
    return out


async def _bump_epoch(conn: AsyncConnection) -> int:
    stmt = (
        update(store_meta)
        .where(store_meta.c.name == "keys_epoch")
        .values(value=store_meta.c.value + 1)
        .returning(store_meta.c.value)
    )
    epoch = int((await conn.execute(stmt)).scalar_one())
    if conn.dialect.name == "postgresql":
        # Delivered to every listener when (and only if) the transaction commits.
        await conn.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": str(epoch)},
        )
    return epoch


async def read_epoch(conn: AsyncConnection) -> int:
    """The current ``keys_epoch``."""
    stmt = select(store_meta.c.value).where(store_meta.c.name == "keys_epoch")
    return int((await conn.execute(stmt)).scalar_one())


async def create_key(engine: AsyncEngine, spec: KeySpec) -> tuple[KeyRecord, str, int]:
    """Store a new key; returns its record, its secret (shown once) and the new epoch."""
    secret = new_secret()
    now = time.time()
    async with engine.begin() as conn:
        epoch = await _bump_epoch(conn)
        key_id = new_key_id()
        values = _columns(spec.model_dump())
        values.update(
            id=key_id,
            prefix=secret[:PREFIX_LEN],
            secret_hash=hash_secret(secret),
            created_at=now,
            updated_at=now,
            seq=epoch,
        )
        await conn.execute(api_keys.insert().values(**values))
        await conn.execute(
            budget_state.insert().values(
                key_id=key_id,
                day=0,
                day_spent=0.0,
                month=0,
                month_spent=0.0,
                total_spent=0.0,
                reserved=0.0,
            )
        )
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().one()
    return _row_to_record(row), secret, epoch


async def _resolve(conn: AsyncConnection, ref: str) -> str:
    """The id of the key named by ``ref``: its id, its prefix, or a unique
    start of its prefix (at least 6 characters)."""
    exact = or_(api_keys.c.id == ref, api_keys.c.prefix == ref)
    ids = (await conn.execute(select(api_keys.c.id).where(exact))).scalars().all()
    if not ids and len(ref) >= 6:
        starts = api_keys.c.prefix.startswith(ref, autoescape=True)
        ids = (await conn.execute(select(api_keys.c.id).where(starts).limit(2))).scalars().all()
    if not ids:
        raise NotFound("no such key")
    if len(ids) > 1:
        raise InvalidRequest("key reference is ambiguous: give the key id", param="key")
    return str(ids[0])


async def find_key(engine: AsyncEngine, ref: str) -> KeyRecord:
    """The key with id or prefix ``ref``; raises :class:`NotFound`."""
    async with engine.connect() as conn:
        key_id = await _resolve(conn, ref)
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().one()
    return _row_to_record(row)


async def list_keys(engine: AsyncEngine, *, include_revoked: bool = False) -> list[KeyRecord]:
    """Every key, oldest first (revoked ones only when asked)."""
    stmt = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    if not include_revoked:
        stmt = stmt.where(api_keys.c.revoked_at.is_(None))
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [_row_to_record(r) for r in rows]


async def update_key(engine: AsyncEngine, ref: str, change: KeyUpdate) -> tuple[KeyRecord, int]:
    """Apply the fields set in ``change``; returns the new record and epoch."""
    fields = {k: getattr(change, k) for k in change.model_fields_set}
    if "name" in fields and fields["name"] is None:
        raise InvalidRequest("name cannot be cleared", param="name")
    return await _change(engine, ref, _columns(fields))


async def revoke_key(engine: AsyncEngine, ref: str) -> tuple[KeyRecord, int]:
    """Revoke a key (idempotent: the first revocation time is kept)."""
    return await _change(engine, ref, {}, revoke=True)


async def _change(
    engine: AsyncEngine, ref: str, values: dict[str, Any], *, revoke: bool = False
) -> tuple[KeyRecord, int]:
    now = time.time()
    async with engine.begin() as conn:
        epoch = await _bump_epoch(conn)
        key_id = await _resolve(conn, ref)
        if revoke:
            values = {"revoked_at": func.coalesce(api_keys.c.revoked_at, now)}
        stmt = update(api_keys).where(api_keys.c.id == key_id)
        await conn.execute(stmt.values(**values, updated_at=now, seq=epoch))
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().one()
    return _row_to_record(row), epoch


async def load_changed(engine: AsyncEngine, since_seq: int) -> tuple[list[KeyRecord], int]:
    """Keys changed after epoch ``since_seq`` and the epoch they are current to."""
    async with engine.connect() as conn:
        epoch = await read_epoch(conn)
        stmt = select(api_keys).where(api_keys.c.seq > since_seq, api_keys.c.seq <= epoch)
        rows = (await conn.execute(stmt)).mappings().all()
    return [_row_to_record(r) for r in rows], epoch
