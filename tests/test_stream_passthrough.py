"""Streamed chunks that nothing needs to change pass through as the upstream's
bytes (Gateway.stream_events); usage, errors and placeholders still get read.
Against the real local HTTP upstream, through each HTTP client tandem offers."""

from __future__ import annotations

import json
from typing import Any

from tandem.api.app import build_gateway
from tandem.config import parse_config
from tandem.errors import TandemError, UpstreamTimeout
from tandem.gateway import Gateway
from tests.test_reliability import RecordingAccountant, _config, _gateway, up  # noqa: F401 (fixture)
from tests.upstream import Upstream


async def _events(gw: Gateway, model: str, text: str) -> tuple[list[Any], BaseException | None, Any]:
    call = gw.new_call(
        "chat",
        {
            "model": model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": text}],
        },
    )
    events: list[Any] = []
    error: BaseException | None = None
    try:
        async for event in gw.stream_events(call):
            events.append(event)
    except TandemError as exc:
        error = exc
    return events, error, call


def _content(events: list[Any]) -> str:
    chunks = [json.loads(e) if isinstance(e, bytes) else e for e in events]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


async def test_content_chunks_pass_through_and_usage_is_still_read(up: Upstream) -> None:  # noqa: F811
    gw, acct = await _gateway(_config(up, ("a", "ok")))
    events, error, call = await _events(gw, "a", "hello there world")
    assert error is None
    assert len(events) == 6  # four words, the finish chunk, the usage chunk
    assert all(isinstance(e, bytes) for e in events[:-1])  # passed through, unread
    assert events[-1]["usage"]["completion_tokens"] == 4  # the usage chunk, read for the ledger
    assert _content(events) == "echo: hello there world"
    assert call.usage is not None and call.usage.completion_tokens == 4
    assert len(acct.settled) == 1
    await gw.aclose()


async def test_a_reply_with_placeholders_to_restore_is_read_chunk_by_chunk(up: Upstream) -> None:  # noqa: F811
    config = parse_config(_config(up, ("a", "ok"), routes="privacy: {default_policy: redact}\n"))
    gw = build_gateway(config, RecordingAccountant())  # with the privacy guard, as tandem serve builds it
    events, error, _call = await _events(gw, "a", "write to jane.doe@example.com")
    assert error is None
    assert "jane.doe@example.com" not in json.dumps(up.requests[-1])  # redacted upstream
    assert all(isinstance(e, dict) for e in events)
    assert _content(events) == "echo: write to jane.doe@example.com"  # restored
    await gw.aclose()


async def test_a_stalled_pass_through_stream_still_ends_with_an_error(up: Upstream) -> None:  # noqa: F811
    gw, acct = await _gateway(_config(up, ("a", "stall"), timeouts="{idle: 0.3}"))
    events, error, call = await _events(gw, "a", "hello there world")
    assert len(events) == 2 and all(isinstance(e, bytes) for e in events)
    assert isinstance(error, UpstreamTimeout)
    assert call.status == 504 and len(acct.settled) == 1
    await gw.aclose()
