"""AnthropicProvider: stream translation, stream errors and closing (MockTransport only)."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.config import ModelConfig
from tandem.errors import (
    UnsupportedParameter,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from tandem.providers.base import create_provider
from tandem.providers.transport import MockResponse
from tests.providers.anthropic_helpers import (
    KEY,
    MODEL,
    _api_key,  # noqa: F401 (autouse fixture: the test key in the environment)
    anthropic_error,
    chat,
    collect,
    make,
    sse,
)
from tests.providers.helpers import RecordingTransport

START = {
    "type": "message_start",
    "message": {
        "id": "msg_s1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 25, "cache_read_input_tokens": 5, "output_tokens": 1},
    },
}


def tool_stream() -> list[bytes]:
    return sse(
        START,
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Let me "},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "check."},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_7", "name": "weather", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 42},
        },
        {"type": "message_stop"},
    )


async def test_stream_text_then_tool_call() -> None:
    provider, mock = make(MockResponse(200, tool_stream()))
    chunks = await collect(provider.stream("chat", chat()))
    sent = mock.json_bodies()[0]
    assert sent["stream"] is True
    assert mock.requests[0].headers["accept"] == "text/event-stream"
    for c in chunks:
        assert (c["id"], c["object"], c["model"]) == ("msg_s1", "chat.completion.chunk", MODEL)
    deltas = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks[:-1]]
    assert deltas == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Let me "}, None),
        ({"content": "check."}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_7",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}, None),
        ({}, "tool_calls"),
    ]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 30,
        "completion_tokens": 42,
        "total_tokens": 72,
        "prompt_tokens_details": {"cached_tokens": 5},
    }


async def test_stream_tool_index_counts_tool_calls_only() -> None:
    def tool(index: int, tid: str) -> list[dict[str, Any]]:
        return [
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "tool_use", "id": tid, "name": "f", "input": {}},
            },
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": "{}"},
            },
        ]

    events: list[dict[str, Any]] = [
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "A"}},
        *tool(1, "t1"),
        *tool(2, "t2"),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 3},
        },
        {"type": "message_stop"},
    ]
    provider, _ = make(MockResponse(200, sse(*events)))
    chunks = await collect(provider.stream("chat", chat()))
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [(tc["index"], tc.get("id")) for tc in calls] == [
        (0, "t1"),
        (0, None),
        (1, "t2"),
        (1, None),
    ]
    assert chunks[1]["choices"][0]["delta"] == {"content": "A"}


async def test_stream_split_across_chunks_and_crlf() -> None:
    raw = b"".join(
        sse(
            START,
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hi"},
            },
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 2},
            },
            {"type": "message_stop"},
        )
    ).replace(b"\n", b"\r\n")
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    provider, _ = make(MockResponse(200, pieces))
    chunks = await collect(provider.stream("chat", chat()))
    assert [c["choices"][0]["delta"] for c in chunks[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 2


async def test_stream_error_event_mid_stream() -> None:
    events: list[dict[str, Any]] = [
        START,
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Par"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]
    provider, _ = make(MockResponse(200, sse(*events)))
    got: list[dict[str, Any]] = []
    with pytest.raises(UpstreamUnavailable, match="Overloaded"):
        async for chunk in provider.stream("chat", chat()):
            got.append(chunk)
    assert [c["choices"][0]["delta"] for c in got] == [
        {"role": "assistant", "content": ""},
        {"content": "Par"},
    ]
    events[-1] = {"type": "error", "error": {"type": "api_error", "message": "Internal"}}
    provider, _ = make(MockResponse(200, sse(*events)))
    with pytest.raises(UpstreamError, match="mid-stream: Internal") as info:
        await collect(provider.stream("chat", chat()))
    assert type(info.value) is UpstreamError


async def test_stream_http_errors_before_stream() -> None:
    provider, _ = make(MockResponse(429, anthropic_error("rate_limit_error", "slow"), {"retry-after": "3"}))
    with pytest.raises(UpstreamRateLimited) as info:
        await collect(provider.stream("chat", chat()))
    assert info.value.retry_after == 3.0
    provider, _ = make(MockResponse(529, anthropic_error("overloaded_error", "Overloaded")))
    with pytest.raises(UpstreamUnavailable):
        await collect(provider.stream("chat", chat()))
    provider, _ = make(MockResponse(401, anthropic_error("authentication_error", "bad key")))
    with pytest.raises(UpstreamError) as err:
        await collect(provider.stream("chat", chat()))
    assert KEY not in str(err.value)


@pytest.mark.parametrize(
    "frames",
    [
        [b"event: message_start\ndata: {not json\n\n"],
        sse(START, {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}}),
        [b"data: [1, 2]\n\n"],
    ],
)
async def test_stream_malformed_event(frames: list[bytes]) -> None:
    provider, _ = make(MockResponse(200, frames))
    with pytest.raises(UpstreamError, match="malformed stream event"):
        await collect(provider.stream("chat", chat()))


async def test_stream_truncated() -> None:
    events: list[dict[str, Any]] = [
        START,
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}},
    ]
    provider, _ = make(MockResponse(200, sse(*events)))
    with pytest.raises(UpstreamError, match="ended before"):
        await collect(provider.stream("chat", chat()))


async def test_stream_transport_error_mid_stream_propagates() -> None:
    boom = UpstreamError("Upstream claude closed the connection unexpectedly.")
    provider, _ = make(MockResponse(200, sse(START), error_after=boom))
    got: list[dict[str, Any]] = []
    with pytest.raises(UpstreamError, match="closed the connection"):
        async for chunk in provider.stream("chat", chat()):
            got.append(chunk)
    assert len(got) == 1


async def test_stream_request_error_sends_nothing() -> None:
    provider, mock = make(MockResponse(200, tool_stream()))
    with pytest.raises(UnsupportedParameter):
        await collect(provider.stream("chat", chat(n=3)))
    assert mock.requests == []


async def test_stream_completions() -> None:
    events: list[dict[str, Any]] = [
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Once"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": " upon"},
        },
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens"},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
    provider, _ = make(MockResponse(200, sse(*events)))
    chunks = await collect(provider.stream("completions", {"model": MODEL, "prompt": "Tell"}))
    assert all(c["object"] == "text_completion" for c in chunks)
    assert [c["choices"][0]["text"] for c in chunks[:-1]] == ["Once", " upon", ""]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 32


async def test_stream_closes_response_on_early_exit() -> None:
    mock = RecordingTransport(lambda _req: MockResponse(200, tool_stream()))
    config = ModelConfig(name="claude", provider="anthropic", model=MODEL)
    provider = create_provider(config, transport=mock)
    it = provider.stream("chat", chat())
    first = await anext(it)
    assert first["choices"][0]["delta"]["role"] == "assistant"
    await it.aclose()  # type: ignore[attr-defined]
    assert getattr(mock.responses[0], "closed", False) is True
    assert "x-api-key" not in mock.requests[0].headers  # no key configured: none sent
