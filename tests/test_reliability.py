"""Failure injection against a real local HTTP upstream: retries, fallback,
timeouts, breakers, and one ledger record per client request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tandem.call import Call, KeyInfo
from tandem.config import parse_config
from tandem.errors import TandemError, UpstreamRateLimited, UpstreamTimeout
from tandem.gateway import Gateway, RetryPolicy
from tests.upstream import Upstream


class RecordingAccountant:
    """Records every settled call (what the ledger would store)."""

    def __init__(self) -> None:
        self.settled: list[Call] = []

    async def authenticate(self, token: str | None) -> KeyInfo | None:
        return None

    async def admit(self, call: Call, estimated_cost: float) -> None:
        call.reserved_usd = estimated_cost

    def settle(self, call: Call) -> None:
        self.settled.append(call)

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def status(self) -> dict[str, object]:
        return {}


def _config(up: Upstream, *models: tuple[str, str], routes: str = "", timeouts: str = "") -> str:
    lines = ["models:"]
    for name, upstream_model in models:
        lines += [
            f"  - name: {name}",
            "    provider: openai",
            f"    model: {upstream_model}",
            f"    base_url: {up.base_url}",
            "    price: {input: 1, output: 1}",
            f"    options: {up.client_options}",
        ]
        if timeouts:
            lines.append(f"    timeouts: {timeouts}")
    return "\n".join(lines) + "\n" + routes


#: tandem's in-loop client (the default), pyreqwest, aiohttp.
CLIENT_OPTIONS = {
    "loop": "{}",
    "reqwest": "{http_client: reqwest}",
    "aiohttp": "{http_client: aiohttp}",
}


@pytest.fixture(params=list(CLIENT_OPTIONS))
def up(request: pytest.FixtureRequest) -> AsyncIterator[Upstream]:
    """The upstream, reached through each HTTP client tandem offers."""
    with Upstream(retry_after=0) as u:
        u.client_options = CLIENT_OPTIONS[request.param]
        yield u


async def _gateway(text: str) -> tuple[Gateway, RecordingAccountant]:
    acct = RecordingAccountant()
    gw = Gateway.from_config(
        parse_config(text), accountant=acct, retry=RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.02)
    )
    return gw, acct


BODY = {"messages": [{"role": "user", "content": "hello world"}]}


async def test_429_is_retried_honouring_retry_after_then_reported(up: Upstream) -> None:
    gw, acct = await _gateway(_config(up, ("a", "status-429")))
    with pytest.raises(UpstreamRateLimited) as exc:
        await gw.run("chat", {"model": "a", **BODY})
    assert up.hits["status-429"] == 3  # the first try and two retries
    assert exc.value.status_code == 429
    assert len(acct.settled) == 1 and acct.settled[0].retries == 2 and acct.settled[0].status == 429
    await gw.aclose()


async def test_503_then_success_is_retried(up: Upstream) -> None:
    gw, acct = await _gateway(_config(up, ("a", "flaky-2")))
    result, call = await gw.run("chat", {"model": "a", **BODY})
    assert result.body["choices"][0]["message"]["content"] == "echo: hello world"
    assert call.retries == 2 and up.hits["flaky-2"] == 3
    assert len(acct.settled) == 1 and acct.settled[0].status == 200
    await gw.aclose()


@pytest.mark.parametrize("failing", ["status-500", "status-503", "hang", "reset"])
async def test_failure_falls_back_to_next_candidate(up: Upstream, failing: str) -> None:
    routes = "routes:\n  - name: r\n    candidates: [bad, good]\n    objective: ordered\n"
    gw, acct = await _gateway(
        _config(up, ("bad", failing), ("good", "ok"), routes=routes, timeouts="{first_byte: 0.5}")
    )
    result, call = await gw.run("chat", {"model": "r", **BODY})
    assert call.model == "good" and call.fallbacks == 1
    assert result.body["choices"][0]["message"]["content"] == "echo: hello world"
    # 500 and reset are not retried (they may have billed); 503 is.
    assert up.hits[failing] == {"status-500": 1, "status-503": 3, "hang": 1, "reset": 1}[failing]
    assert len(acct.settled) == 1
    await gw.aclose()


async def test_client_error_does_not_fall_back(up: Upstream) -> None:
    routes = "routes:\n  - name: r\n    candidates: [bad, good]\n    objective: ordered\n"
    gw, _ = await _gateway(_config(up, ("bad", "status-400"), ("good", "ok"), routes=routes))
    with pytest.raises(TandemError) as exc:
        await gw.run("chat", {"model": "r", **BODY})
    assert exc.value.status_code == 400 and up.hits["ok"] == 0
    await gw.aclose()


async def test_hang_before_first_byte_times_out(up: Upstream) -> None:
    gw, acct = await _gateway(_config(up, ("a", "hang"), timeouts="{first_byte: 0.3}"))
    with pytest.raises(UpstreamTimeout):
        await gw.run("chat", {"model": "a", **BODY})
    assert acct.settled[0].status == 504
    await gw.aclose()


async def _collect(gw: Gateway, model: str) -> tuple[list[dict], BaseException | None, Call]:
    call = gw.new_call("chat", {"model": model, "stream": True, **BODY})
    chunks: list[dict] = []
    error: BaseException | None = None
    try:
        async for chunk in gw.stream(call):
            chunks.append(chunk)
    except TandemError as exc:
        error = exc
    return chunks, error, call


async def test_stalled_stream_ends_with_an_error_not_done(up: Upstream) -> None:
    gw, acct = await _gateway(_config(up, ("a", "stall"), timeouts="{idle: 0.3}"))
    chunks, error, call = await _collect(gw, "a")
    assert len(chunks) == 2  # what arrived before the stall reached the client
    assert isinstance(error, UpstreamTimeout)
    assert call.retries == 0 and call.status == 504 and len(acct.settled) == 1
    await gw.aclose()


async def test_reset_mid_stream_is_not_retried(up: Upstream) -> None:
    routes = "routes:\n  - name: r\n    candidates: [bad, good]\n    objective: ordered\n"
    gw, acct = await _gateway(_config(up, ("bad", "reset-stream"), ("good", "ok"), routes=routes))
    chunks, error, _call = await _collect(gw, "r")
    assert chunks and error is not None and error.status_code == 502
    assert up.hits["ok"] == 0  # after the first byte, no fallback: the client has part of an answer
    assert len(acct.settled) == 1
    await gw.aclose()


async def test_stream_failing_before_first_chunk_falls_back(up: Upstream) -> None:
    routes = "routes:\n  - name: r\n    candidates: [bad, good]\n    objective: ordered\n"
    gw, acct = await _gateway(_config(up, ("bad", "status-500"), ("good", "ok"), routes=routes))
    chunks, error, call = await _collect(gw, "r")
    assert error is None and call.model == "good" and call.fallbacks == 1
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "echo: hello world"
    assert len(acct.settled) == 1
    await gw.aclose()


async def test_circuit_breaker_skips_a_failing_deployment(up: Upstream) -> None:
    routes = "routes:\n  - name: r\n    candidates: [bad, good]\n    objective: ordered\n"
    gw, _ = await _gateway(_config(up, ("bad", "status-500"), ("good", "ok"), routes=routes))
    for _ in range(7):
        await gw.run("chat", {"model": "r", **BODY})
    # Five failures open the circuit; later requests skip "bad" entirely.
    assert up.hits["status-500"] == 5
    assert gw.breakers["bad"].state == "open"
    _, call = await gw.run("chat", {"model": "r", **BODY})
    assert call.decision is not None and "circuit open" in call.decision.rejected["bad"]
    await gw.aclose()


async def test_client_disconnect_cancels_the_upstream_stream(up: Upstream) -> None:
    gw, acct = await _gateway(_config(up, ("a", "stall"), timeouts="{idle: 30}"))
    call = gw.new_call("chat", {"model": "a", "stream": True, **BODY})
    agen = gw.stream(call)
    await anext(agen)
    await agen.aclose()  # what the HTTP layer does when the client goes away
    assert len(acct.settled) == 1
    await asyncio.sleep(0.1)
    await gw.aclose()
