"""The accounting interface the gateway uses: keys, limits, budgets, ledger.

The gateway knows only this small protocol; :mod:`tandem.store` implements it
over SQLite or PostgreSQL (plus Redis for limits shared across replicas).
:class:`NoAccounting` is the null object for embedded uses (tests, the
in-process ``tandem chat``) that keep no ledger.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tandem.call import Call, KeyInfo

__all__ = ["Accountant", "NoAccounting"]


@runtime_checkable
class Accountant(Protocol):
    """Keys, rate limits, budgets and the usage ledger, as the gateway sees them."""

    async def authenticate(self, token: str | None) -> KeyInfo | None:
        """The key for a bearer token.

        Returns None when auth is off. Raises
        :class:`tandem.errors.AuthenticationError` for a missing, unknown,
        revoked or expired key (in constant time for wrong keys).
        """
        ...

    async def admit(self, call: Call, estimated_cost: float) -> None:
        """Check rate limits and reserve ``estimated_cost`` of the key's budget.

        Raises :class:`tandem.errors.RateLimited` or
        :class:`tandem.errors.BudgetExceeded`. Sets ``call.reserved_usd``.
        """
        ...

    def settle(self, call: Call) -> None:
        """Release the reservation, charge ``call.cost_usd`` and record the
        call in the ledger. Never blocks: the write happens off the request
        path, in batches."""
        ...

    async def start(self) -> None:
        """Open connections, run migrations, start the ledger writer."""
        ...

    async def aclose(self) -> None:
        """Flush the ledger and close connections (called on shutdown)."""
        ...

    def status(self) -> dict[str, object]:
        """Health facts for ``/readyz`` and metrics (queue depth, spooled records)."""
        ...


class NoAccounting:
    """No keys, no limits, no ledger: for embedded and test use."""

    async def authenticate(self, token: str | None) -> KeyInfo | None:
        return None

    async def admit(self, call: Call, estimated_cost: float) -> None:
        call.reserved_usd = 0.0

    def settle(self, call: Call) -> None:
        return None

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def status(self) -> dict[str, object]:
        return {"ledger": "off"}
