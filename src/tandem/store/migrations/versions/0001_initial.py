"""Keys, budget state, usage ledger and its daily rollup.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Append-only: once released, never edit this file; add a new revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the initial tables."""
    op.create_table(
        "store_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(
        sa.table("store_meta", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        # keys_epoch: +1 per key change; writer_seq: +1 per Store start (ledger ids).
        [{"name": "keys_epoch", "value": 0}, {"name": "writer_seq", "value": 0}],
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("team", sa.String(200)),
        sa.Column("tags", sa.Text),
        sa.Column("allowed_models", sa.Text),
        sa.Column("allowed_routes", sa.Text),
        sa.Column("budget_day_usd", sa.Float),
        sa.Column("budget_month_usd", sa.Float),
        sa.Column("budget_total_usd", sa.Float),
        sa.Column("rpm_limit", sa.Integer),
        sa.Column("tpm_limit", sa.Integer),
        sa.Column("privacy_policy", sa.String(16)),
        sa.Column("expires_at", sa.Float),
        sa.Column("revoked_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("secret_hash", name="uq_api_keys_secret_hash"),
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"])
    op.create_index("ix_api_keys_seq", "api_keys", ["seq"])
    op.create_table(
        "budget_state",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("day_spent", sa.Float, nullable=False),
        sa.Column("month", sa.Integer, nullable=False),
        sa.Column("month_spent", sa.Float, nullable=False),
        sa.Column("total_spent", sa.Float, nullable=False),
        sa.Column("reserved", sa.Float, nullable=False),
    )
    op.create_table(
        "usage_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("endpoint", sa.String(16)),
        sa.Column("requested", sa.String(200)),
        sa.Column("route", sa.String(200)),
        sa.Column("model", sa.String(200)),
        sa.Column("provider", sa.String(64)),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("latency_s", sa.Float),
        sa.Column("ttft_s", sa.Float),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error", sa.String(64)),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("fallbacks", sa.Integer, nullable=False),
        sa.Column("cache_hit", sa.Boolean, nullable=False),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("privacy_action", sa.String(16)),
        sa.Column("privacy_counts", sa.Text),
    )
    op.create_index("ix_usage_events_key_ts", "usage_events", ["key_id", "ts"])
    op.create_index("ix_usage_events_ts", "usage_events", ["ts"])
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("route", sa.String(200), primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("latency_sum", sa.Float, nullable=False),
        sa.Column("latency_n", sa.BigInteger, nullable=False),
        sa.Column("cache_hits", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_usage_daily_key_day", "usage_daily", ["key_id", "day"])


def downgrade() -> None:
    """Not supported: migrations are append-only."""
    raise NotImplementedError("tandem migrations are append-only")
