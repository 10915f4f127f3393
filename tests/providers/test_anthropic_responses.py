"""AnthropicProvider: response translation and HTTP error mapping (MockTransport only)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tandem.errors import (
    ContextLengthExceeded,
    UnsupportedParameter,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from tandem.providers.transport import MockResponse
from tests.providers.anthropic_helpers import (
    KEY,
    MODEL,
    _api_key,  # noqa: F401 (autouse fixture: the test key in the environment)
    anthropic_error,
    chat,
    make,
    message,
)

# --- response translation -----------------------------------------------------


async def test_text_response() -> None:
    provider, _ = make(
        message(
            [{"type": "text", "text": "Hello"}, {"type": "text", "text": " world"}],
            usage={
                "input_tokens": 10,
                "cache_creation_input_tokens": 3,
                "cache_read_input_tokens": 20,
                "output_tokens": 4,
            },
        )
    )
    result = await provider.send("chat", chat())
    body = result.body
    assert body["id"] == "msg_01"
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    assert isinstance(body["created"], int)
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello world"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert body["usage"] == {
        "prompt_tokens": 33,
        "completion_tokens": 4,
        "total_tokens": 37,
        "prompt_tokens_details": {"cached_tokens": 20},
    }
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (33, 4)


async def test_tool_call_response() -> None:
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_9", "name": "weather", "input": {"city": "Paris"}},
    ]
    provider, _ = make(message(content, stop_reason="tool_use"))
    choice = (await provider.send("chat", chat())).body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "toolu_9",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    provider, _ = make(message(content[1:], stop_reason="tool_use"))
    assert (await provider.send("chat", chat())).body["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
async def test_finish_reasons(stop: str, finish: str) -> None:
    provider, _ = make(message(stop_reason=stop))
    assert (await provider.send("chat", chat())).body["choices"][0]["finish_reason"] == finish


async def test_completions_endpoint() -> None:
    provider, mock = make(message([{"type": "text", "text": " there"}], stop_reason="max_tokens"))
    result = await provider.send("completions", {"model": MODEL, "prompt": ["Hello"], "max_tokens": 5, "stop": "\n"})
    assert mock.json_bodies() == [
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 5,
            "stop_sequences": ["\n"],
        }
    ]
    assert result.body["object"] == "text_completion"
    assert result.body["choices"] == [{"index": 0, "text": " there", "finish_reason": "length", "logprobs": None}]
    assert result.body["usage"]["total_tokens"] == 17
    with pytest.raises(UnsupportedParameter):
        await provider.send("completions", {"model": MODEL, "prompt": ["a", "b"]})


@pytest.mark.parametrize("body", [b"not json", b'{"id": "msg_1"}', b'{"content": [{"type": "text"}]}', b"[1]"])
async def test_malformed_reply(body: bytes) -> None:
    provider, _ = make(MockResponse(200, body))
    with pytest.raises(UpstreamError, match="claude sent"):
        await provider.send("chat", chat())


# --- HTTP errors --------------------------------------------------------------


async def test_429_with_retry_after() -> None:
    provider, _ = make(MockResponse(429, anthropic_error("rate_limit_error", "Slow down"), {"retry-after": "7"}))
    with pytest.raises(UpstreamRateLimited) as info:
        await provider.send("chat", chat())
    assert info.value.retry_after == 7.0
    assert "Slow down" in info.value.message


async def test_529_overloaded() -> None:
    provider, _ = make(MockResponse(529, anthropic_error("overloaded_error", "Overloaded")))
    with pytest.raises(UpstreamUnavailable):
        await provider.send("chat", chat())


async def test_401_never_leaks_the_key() -> None:
    body = anthropic_error("authentication_error", f"invalid x-api-key {KEY}")
    provider, _ = make(MockResponse(401, body))
    with pytest.raises(UpstreamError) as info:
        await provider.send("chat", chat())
    assert type(info.value) is UpstreamError
    assert KEY not in str(info.value) and KEY not in info.value.message
    assert KEY not in json.dumps(info.value.to_dict())


async def test_upstream_message_echoing_key_is_scrubbed() -> None:
    provider, _ = make(MockResponse(500, anthropic_error("api_error", f"boom {KEY}")))
    with pytest.raises(UpstreamError) as info:
        await provider.send("chat", chat())
    assert KEY not in str(info.value) and "[redacted]" in info.value.message


async def test_400_and_context_length() -> None:
    provider, _ = make(MockResponse(400, anthropic_error("invalid_request_error", "bad role")))
    with pytest.raises(UpstreamBadRequest):
        await provider.send("chat", chat())
    too_long = anthropic_error("invalid_request_error", "prompt is too long: 210000 tokens > 200000")
    provider, _ = make(MockResponse(400, too_long))
    with pytest.raises(ContextLengthExceeded):
        await provider.send("chat", chat())
