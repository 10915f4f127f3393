"""Coarse deadlines for the hot path: one ticking timer per event loop.

``asyncio.timeout`` schedules a timer handle on the loop's heap for every
block and reschedules or cancels it on the way out; a request crossed three
of them (total, first byte, read) and a stream one more per relayed chunk,
together about 6% of a worker's CPU in the load benchmark
(``bench/RESULTS.md``). Upstream timeouts are seconds long and need no
millisecond precision, so :class:`Deadline` registers the task in a dict
that one loop-wide ticker scans every :data:`RESOLUTION` seconds:
entering and leaving is a dict insert and a pop, and a stream moves its
idle deadline by re-entering the same :class:`Deadline` instead of arming a
new timer per chunk.

Semantics follow ``asyncio.timeout``: when the deadline passes, the task is
cancelled, and the cancellation becomes :class:`TimeoutError` when it leaves
the ``with`` block. A deadline fires up to :data:`RESOLUTION` late.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["RESOLUTION", "Deadline"]

#: Seconds between two scans of a loop's deadlines (the lateness bound).
RESOLUTION = 0.05


class _Ticker:
    """The deadlines of one event loop, scanned by one repeating timer."""

    __slots__ = ("active", "handle", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # Insertion-ordered set of live deadlines.
        self.active: dict[Deadline, None] = {}
        self.handle: asyncio.TimerHandle | None = None

    def add(self, deadline: Deadline) -> None:
        self.active[deadline] = None
        if self.handle is None:
            _tickers[self.loop] = self  # back in the registry if it had left
            self.handle = self.loop.call_later(RESOLUTION, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        expired = [d for d in self.active if d.when <= now]
        for d in expired:
            del self.active[d]
            d.expire()
        if self.active:
            self.handle = self.loop.call_later(RESOLUTION, self._tick)
        else:  # stop ticking while nothing waits, so an idle loop stays idle
            self.handle = None
            if _tickers.get(self.loop) is self:
                del _tickers[self.loop]


# Per-loop registry. A ticker leaves it once it has nothing left to watch,
# so a finished loop (tests open many) is not kept alive by it; a plain dict
# lookup, because this runs on every request.
_tickers: dict[asyncio.AbstractEventLoop, _Ticker] = {}


def _ticker(loop: asyncio.AbstractEventLoop) -> _Ticker:
    ticker = _tickers.get(loop)
    if ticker is None:
        ticker = _tickers[loop] = _Ticker(loop)
    return ticker


class Deadline:
    """``with Deadline(seconds):`` cancels the block's task when time runs out.

    Use inside a task; the ``with`` block raises :class:`TimeoutError` when
    the deadline fired. The clock starts at each entry, so one instance can
    bound many waits in turn (e.g. each read of a stream): only hold it
    around awaits that belong to the wait, never across a ``yield``, or
    the consumer's own awaits would count against it.
    """

    __slots__ = ("_ticker", "expired", "seconds", "task", "when")

    def __init__(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Deadline must be used inside a task")
        self.task = task
        self.seconds = seconds
        self.when = 0.0
        self.expired = False
        self._ticker = _ticker(loop)

    def expire(self) -> None:
        """Called by the ticker: cancel the task (it sees TimeoutError)."""
        self.expired = True
        self.task.cancel()

    def __enter__(self) -> Deadline:
        self.when = self._ticker.loop.time() + self.seconds
        self.expired = False
        self._ticker.add(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._ticker.active.pop(self, None)
        if self.expired and exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            # Our cancellation, unless someone else cancelled the task as well.
            if self.task.uncancel() == 0:
                raise TimeoutError from exc
