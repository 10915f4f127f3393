"""Keys, budgets, rate limits and the usage ledger (SQLite or PostgreSQL).

The gateway uses it through :class:`tandem.accounting.Accountant`::

    store = open_store(config)      # builds; connects nothing yet
    await store.start()             # migrations, keys, Redis, ledger writer
    info = await store.authenticate(token)
    await store.admit(call, estimated_cost)
    ...
    store.settle(call)              # never blocks
    await store.aclose()            # flushes the ledger

The CLI, the admin API and the console manage keys and read usage through
the same object (``create_key``, ``update_key``, ``revoke_key``,
``list_keys``, ``usage_summary``); nothing else opens the database.
"""

from __future__ import annotations

from tandem.store.manage import parse_since
from tandem.store.models import KeyRecord, KeySpec, KeyUpdate, UsageRow
from tandem.store.store import Coordination, Store, open_store

__all__ = [
    "Coordination",
    "KeyRecord",
    "KeySpec",
    "KeyUpdate",
    "Store",
    "UsageRow",
    "open_store",
    "parse_since",
]
