"""Per-deployment circuit breaker: closed -> open -> half-open -> closed.

After ``threshold`` consecutive upstream failures a deployment is *open*
(skipped by routing) for ``cooldown`` seconds; then it is *half-open*: one
probe request may go through; success closes it, failure opens it again.
Only failures of the upstream count (5xx, timeouts, resets), never a
client's bad request.
"""

from __future__ import annotations

import time
from typing import Literal

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Tracks the health of one deployment."""

    __slots__ = ("_failures", "_opened_at", "_probing", "cooldown", "threshold")

    def __init__(self, threshold: int = 5, cooldown: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        """The current state."""
        if self._opened_at is None:
            return "closed"
        if time.monotonic() - self._opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def available(self) -> bool:
        """Whether routing may pick this deployment now (without claiming the probe)."""
        state = self.state
        return state == "closed" or (state == "half-open" and not self._probing)

    def acquire(self) -> bool:
        """Claim the right to send one request; in half-open, only one probe."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._probing:
            self._probing = True
            return True
        return False

    def release(self) -> None:
        """The claimed call ended without a verdict (client error, cancellation):
        give the probe back so that another request may try."""
        self._probing = False

    def record_success(self) -> None:
        """A call succeeded: close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        """An upstream failure: count it, open the circuit at the threshold."""
        self._failures += 1
        if self._probing or self._failures >= self.threshold:
            self._opened_at = time.monotonic()
        self._probing = False
