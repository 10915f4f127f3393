"""Budget reservations: reserve an estimate at admit, settle the actual later.

A request may start only if, for each of the key's budgets (day, month,
total), ``spent + reserved + estimate <= budget`` and something is left;
the estimate is then added to ``reserved`` in the same atomic step, and
released when the call settles. So requests in flight together can never
commit more than the remaining budget; the only overspend is a call whose
actual cost exceeds its estimate.

Two modes, chosen by the Store:

* :class:`LocalBook` (one serving process on SQLite, the default): the
  counters live in memory, so admit and settle cost a few dict operations;
  spend is persisted by the ledger writer (``budget_state``) and loaded at
  start.
* :func:`reserve_shared` (several workers or replicas): one conditional
  ``UPDATE ... WHERE spent + reserved + :est <= budget`` per admit, atomic
  under SQLite's write lock or PostgreSQL's row lock; the release happens in
  the ledger writer's batch transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, case, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from tandem.errors import BudgetExceeded
from tandem.store.models import KeyRecord
from tandem.store.schema import budget_state

__all__ = ["LocalBook", "periods", "reserve_shared"]


def periods(now: float) -> tuple[int, int]:
    """(UTC day number, UTC month number) of epoch time ``now``."""
    d = dt.datetime.fromtimestamp(now, dt.UTC)
    return int(now // 86400), d.year * 12 + d.month - 1


def _refuse(key: KeyRecord, window: str, budget: float) -> BudgetExceeded:
    return BudgetExceeded(f"the key's {window} budget of ${budget:.2f} is used up")


class _Spend:
    __slots__ = ("day", "day_spent", "month", "month_spent", "reserved", "total_spent")

    def __init__(self, row: Any = None) -> None:
        self.day = row.day if row is not None else 0
        self.day_spent = row.day_spent if row is not None else 0.0
        self.month = row.month if row is not None else 0
        self.month_spent = row.month_spent if row is not None else 0.0
        self.total_spent = row.total_spent if row is not None else 0.0
        self.reserved = 0.0

    def roll(self, day: int, month: int) -> None:
        if day > self.day:
            self.day, self.day_spent = day, 0.0
        if month > self.month:
            self.month, self.month_spent = month, 0.0


class LocalBook:
    """In-memory spend and reservations for one serving process."""

    def __init__(self) -> None:
        self._spend: dict[str, _Spend] = {}

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._spend

    async def load(self, engine: AsyncEngine, key_ids: list[str] | None = None) -> None:
        """Load persisted spend for ``key_ids`` (None: every key)."""
        stmt = select(budget_state)
        if key_ids is not None:
            stmt = stmt.where(budget_state.c.key_id.in_(key_ids))
        async with engine.connect() as conn:
            for row in (await conn.execute(stmt)).all():
                self._spend.setdefault(row.key_id, _Spend(row))

    def reserve(self, key: KeyRecord, estimate: float, day: int, month: int) -> None:
        """Reserve ``estimate`` or raise :class:`BudgetExceeded`."""
        s = self._spend.get(key.id)
        if s is None:
            s = self._spend[key.id] = _Spend()
        s.roll(day, month)
        committed = s.reserved + estimate
        for window, budget, spent in (
            ("daily", key.budget_day_usd, s.day_spent),
            ("monthly", key.budget_month_usd, s.month_spent),
            ("total", key.budget_total_usd, s.total_spent),
        ):
            if budget is not None and (spent + committed > budget or spent + s.reserved >= budget):
                raise _refuse(key, window, budget)
        s.reserved = committed

    def settle(self, key_id: str, reserved: float, cost: float, day: int, month: int) -> None:
        """Release ``reserved`` and charge ``cost``."""
        s = self._spend.get(key_id)
        if s is None:
            s = self._spend[key_id] = _Spend()
        s.roll(day, month)
        s.reserved = max(0.0, s.reserved - reserved)
        s.day_spent += cost
        s.month_spent += cost
        s.total_spent += cost

    def spent(self, key_id: str) -> dict[str, float]:
        """Current spend and reservations of a key (for status and tests)."""
        s = self._spend.get(key_id) or _Spend()
        return {
            "day": s.day_spent,
            "month": s.month_spent,
            "total": s.total_spent,
            "reserved": s.reserved,
        }


def _window_ok(budget: float | None, spent_now: ColumnElement[Any], estimate: float) -> ColumnElement[bool] | None:
    if budget is None:
        return None
    committed = spent_now + budget_state.c.reserved
    return and_(committed + estimate <= budget, committed < budget)


async def reserve_shared(engine: AsyncEngine, key: KeyRecord, estimate: float, day: int, month: int) -> None:
    """Atomically reserve ``estimate`` in ``budget_state`` or raise :class:`BudgetExceeded`."""
    c = budget_state.c
    day_spent = case((c.day >= day, c.day_spent), else_=0.0)
    month_spent = case((c.month >= month, c.month_spent), else_=0.0)
    checks = [
        cond
        for cond in (
            _window_ok(key.budget_day_usd, day_spent, estimate),
            _window_ok(key.budget_month_usd, month_spent, estimate),
            _window_ok(key.budget_total_usd, c.total_spent, estimate),
        )
        if cond is not None
    ]
    stmt = (
        update(budget_state)
        .where(c.key_id == key.id, *checks)
        .values(
            reserved=c.reserved + estimate,
            day_spent=day_spent,
            day=case((c.day >= day, c.day), else_=day),
            month_spent=month_spent,
            month=case((c.month >= month, c.month), else_=month),
        )
    )
    async with engine.begin() as conn:
        if (await conn.execute(stmt)).rowcount == 1:
            return
    raise BudgetExceeded("the key's remaining budget cannot cover this request")
