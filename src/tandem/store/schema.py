"""The store's tables, as SQLAlchemy Core objects for building queries.

This module mirrors the schema that the Alembic migrations in
``tandem/store/migrations/versions`` produce; the migrations are the source
of truth and are append-only (a change is a new revision, never an edit).
A test checks that the two agree.

Times are UTC epoch seconds (``DOUBLE``), so that both dialects compare and
index them the same way; ``day`` columns are whole days since the epoch.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["api_keys", "budget_state", "metadata", "store_meta", "usage_daily", "usage_events"]

metadata = MetaData()

#: Small key/value facts; ``keys_epoch`` grows by one on every key change.
store_meta = Table(
    "store_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    #: The first characters of the secret, shown in listings ("tk-AbC12xYz").
    Column("prefix", String(16), nullable=False, index=True),
    #: SHA-256 of the secret, hex. The secret itself is never stored.
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("owner", String(200)),
    Column("team", String(200)),
    Column("tags", Text),  # JSON list of strings
    Column("allowed_models", Text),  # JSON list, NULL = any
    Column("allowed_routes", Text),  # JSON list, NULL = any
    Column("budget_day_usd", Float),
    Column("budget_month_usd", Float),
    Column("budget_total_usd", Float),
    Column("rpm_limit", Integer),
    Column("tpm_limit", Integer),
    Column("privacy_policy", String(16)),
    Column("expires_at", Float),
    Column("revoked_at", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    #: The ``keys_epoch`` of the last change: workers reload ``seq > seen``.
    Column("seq", BigInteger, nullable=False, index=True),
)

#: Spend per key for the current day and month and in total, plus the
#: estimates reserved by requests in flight (shared coordination mode).
budget_state = Table(
    "budget_state",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("day", Integer, nullable=False),
    Column("day_spent", Float, nullable=False),
    Column("month", Integer, nullable=False),
    Column("month_spent", Float, nullable=False),
    Column("total_spent", Float, nullable=False),
    Column("reserved", Float, nullable=False),
)

#: The ledger: one row per request. Privacy columns hold entity-type counts,
#: never values.
usage_events = Table(
    "usage_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", Float, nullable=False),
    Column("day", Integer, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("request_id", String(64)),
    Column("endpoint", String(16)),
    Column("requested", String(200)),
    Column("route", String(200)),
    Column("model", String(200)),
    Column("provider", String(64)),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("latency_s", Float),
    Column("ttft_s", Float),
    Column("status", Integer, nullable=False),
    Column("error", String(64)),
    Column("retries", Integer, nullable=False),
    Column("fallbacks", Integer, nullable=False),
    Column("cache_hit", Boolean, nullable=False),
    Column("escalated", Boolean, nullable=False),
    Column("privacy_action", String(16)),
    Column("privacy_counts", Text),  # JSON {entity_type: count}
    Index("ix_usage_events_key_ts", "key_id", "ts"),
    Index("ix_usage_events_ts", "ts"),
)

#: Daily rollup of ``usage_events`` kept by the ledger writer in the same
#: transaction, so summaries over months read thousands of rows, not millions.
#: ``model`` and ``route`` are '' rather than NULL so the primary key works.
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("day", Integer, primary_key=True),
    Column("key_id", String(32), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("route", String(200), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_n", BigInteger, nullable=False),
    Column("cache_hits", BigInteger, nullable=False),
    Index("ix_usage_daily_key_day", "key_id", "day"),
)
