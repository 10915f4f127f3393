"""The circuit breaker, alone and in routing."""

from __future__ import annotations

import pytest

import tandem.routing.breaker as breaker_mod
from tandem.config import Price
from tandem.errors import NoCandidate
from tandem.routing import CircuitBreaker
from tests.router_helpers import make_call, model, route, router

# --- circuit breaker in routing ---------------------------------------------


def test_open_breaker_filters_candidate() -> None:
    br = CircuitBreaker(threshold=1, cooldown=60)
    br.record_failure()
    r = router([model("a"), model("b", price=Price(input=1))], [route("a", "b")], {"a": br})
    d = r.decide(make_call("r"))
    assert d.model == "b"
    assert d.rejected == {"a": "circuit open (recent failures)"}


def test_all_breakers_open_is_no_candidate() -> None:
    brs = {n: CircuitBreaker(threshold=1) for n in ("a", "b")}
    for b in brs.values():
        b.record_failure()
    r = router([model("a"), model("b")], [route("a", "b")], brs)
    with pytest.raises(NoCandidate) as info:
        r.decide(make_call("r"))
    assert "a: circuit open" in info.value.message
    assert "b: circuit open" in info.value.message


def test_closed_breaker_does_not_filter() -> None:
    br = CircuitBreaker(threshold=3)
    br.record_failure()
    br.record_failure()
    r = router([model("a")], [route("a")], {"a": br})
    assert r.decide(make_call("r")).model == "a"


# --- circuit breaker --------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(breaker_mod.time, "monotonic", c)
    return c


def test_breaker_opens_at_threshold(clock: Clock) -> None:
    br = CircuitBreaker(threshold=3, cooldown=30)
    assert br.state == "closed"
    br.record_failure()
    br.record_failure()
    assert br.state == "closed"
    assert br.available() and br.acquire()
    br.record_failure()
    assert br.state == "open"
    assert not br.available()
    assert not br.acquire()


def test_breaker_success_resets_failure_count(clock: Clock) -> None:
    br = CircuitBreaker(threshold=2, cooldown=30)
    br.record_failure()
    br.record_success()
    br.record_failure()
    assert br.state == "closed"
    br.record_failure()
    assert br.state == "open"


def test_breaker_half_open_single_probe_then_closes(clock: Clock) -> None:
    br = CircuitBreaker(threshold=1, cooldown=30)
    br.record_failure()
    assert br.state == "open"
    clock.now += 29.9
    assert br.state == "open"
    assert not br.acquire()
    clock.now += 0.1
    assert br.state == "half-open"
    assert br.available()
    assert br.acquire()  # the probe
    assert not br.available()
    assert not br.acquire()  # only one probe at a time
    assert br.state == "half-open"
    br.record_success()
    assert br.state == "closed"
    assert br.available()
    assert br.acquire() and br.acquire()


def test_breaker_failed_probe_reopens(clock: Clock) -> None:
    br = CircuitBreaker(threshold=5, cooldown=10)
    for _ in range(5):
        br.record_failure()
    clock.now += 10
    assert br.acquire()
    br.record_failure()
    assert br.state == "open"
    assert not br.available()
    # The cooldown restarts from the failed probe.
    clock.now += 9.9
    assert br.state == "open"
    clock.now += 0.1
    assert br.state == "half-open"
    assert br.acquire()
    br.record_success()
    assert br.state == "closed"


def test_breaker_available_does_not_claim_probe(clock: Clock) -> None:
    br = CircuitBreaker(threshold=1, cooldown=5)
    br.record_failure()
    clock.now += 5
    assert br.available()
    assert br.available()
    assert br.acquire()
    assert not br.acquire()


def test_breaker_in_router_half_open(clock: Clock) -> None:
    br = CircuitBreaker(threshold=1, cooldown=5)
    br.record_failure()
    r = router([model("a"), model("b", price=Price(input=1))], [route("a", "b")], {"a": br})
    assert r.decide(make_call("r")).model == "b"
    clock.now += 5
    assert r.decide(make_call("r")).model == "a"
    assert br.acquire()  # the gateway claims the probe
    assert r.decide(make_call("r")).model == "b"
