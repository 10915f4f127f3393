"""Alembic environment for the store.

Migrations are run programmatically by :func:`tandem.store.db.migrate`, which
passes an open connection in ``config.attributes["connection"]``; there is no
``alembic.ini`` and no URL here.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from the alembic CLI
    raise RuntimeError("run migrations through tandem.store.db.migrate()")

context.configure(
    connection=connection,
    target_metadata=None,
    # SQLite cannot ALTER most things in place; batch mode copies the table.
    render_as_batch=connection.dialect.name == "sqlite",
    version_table="store_alembic_version",
)
with context.begin_transaction():
    context.run_migrations()
