"""Alembic migrations of the store (append-only: add revisions, never edit one)."""
