"""Alembic revisions, applied in order by :func:`tandem.store.db.migrate`."""
