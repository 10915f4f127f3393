"""AnthropicProvider: request/response/stream translation, errors (MockTransport only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tandem.config import ConfigError, ModelConfig
from tandem.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    UnsupportedParameter,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from tandem.providers.anthropic import AnthropicProvider
from tandem.providers.base import create_provider
from tandem.providers.transport import HTTPRequest, HTTPResponse, MockResponse, MockTransport

KEY = "sk-ant-test-SECRET-0123456789"
MODEL = "claude-sonnet-4-5"


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", KEY)


def make(
    reply: MockResponse | Callable[[HTTPRequest], MockResponse],
    **cfg: Any,
) -> tuple[AnthropicProvider, MockTransport]:
    handler = reply if callable(reply) else (lambda _req: reply)
    mock = MockTransport(handler)
    config = ModelConfig(
        name="claude",
        provider="anthropic",
        model=MODEL,
        api_key_env="TEST_ANTHROPIC_KEY",
        **cfg,
    )
    provider = create_provider(config, transport=mock)
    assert isinstance(provider, AnthropicProvider)
    return provider, mock


def message(
    content: list[dict[str, Any]] | None = None,
    stop_reason: str = "end_turn",
    usage: dict[str, int] | None = None,
) -> MockResponse:
    body = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content if content is not None else [{"type": "text", "text": "Hello!"}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 12, "output_tokens": 5},
    }
    return MockResponse(200, json.dumps(body).encode())


def sse(*events: dict[str, Any]) -> list[bytes]:
    """Anthropic-style SSE frames, one chunk per event."""
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


def chat(**kw: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], **kw}


async def sent_body(body: dict[str, Any], endpoint: Any = "chat") -> dict[str, Any]:
    provider, mock = make(message())
    await provider.send(endpoint, body)
    [sent] = mock.json_bodies()
    assert isinstance(sent, dict)
    return sent


async def collect(it: Any) -> list[dict[str, Any]]:
    return [c async for c in it]


# --- request translation ------------------------------------------------------


async def test_url_headers_and_minimal_body() -> None:
    provider, mock = make(message())
    await provider.send("chat", chat())
    [req] = mock.requests
    assert req.method == "POST"
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.headers["x-api-key"] == KEY
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["content-type"] == "application/json"
    assert mock.json_bodies() == [{"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4096}]


async def test_options_base_url_and_extra_headers() -> None:
    provider, mock = make(
        message(),
        base_url="https://proxy.example/v1/",
        options={
            "anthropic_version": "2024-01-01",
            "default_max_tokens": 100,
            "headers": {"anthropic-beta": "prompt-caching-2024-07-31"},
        },
    )
    await provider.send("chat", chat())
    [req] = mock.requests
    assert req.url == "https://proxy.example/v1/messages"
    assert req.headers["anthropic-version"] == "2024-01-01"
    assert req.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert mock.json_bodies()[0]["max_tokens"] == 100


def test_options_are_validated() -> None:
    for bad in ({"default_max_tokens": 0}, {"headers": {"X-Api-Key": "k"}}, {"nope": 1}):
        config = ModelConfig(name="c", provider="anthropic", options=bad)
        with pytest.raises(ConfigError):
            create_provider(config, transport=MockTransport(lambda _r: message()))


async def test_system_merging_and_params() -> None:
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Speak French."}]},
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "text", "text": "Anyone there?"}]},
            {"role": "assistant", "content": "Oui."},
            {"role": "assistant", "content": "Bonjour."},
            {"role": "user", "content": "Ok"},
        ],
        "max_completion_tokens": 50,
        "max_tokens": 99,
        "temperature": 1.7,
        "top_p": 0.9,
        "stop": "END",
        "user": "u-42",
        "seed": 7,
        "presence_penalty": 0.5,
        "n": 1,
    }
    assert await sent_body(body) == {
        "model": MODEL,
        "system": "Be brief.\n\nSpeak French.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Hi"},
                    {"type": "text", "text": "Anyone there?"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Oui."},
                    {"type": "text", "text": "Bonjour."},
                ],
            },
            {"role": "user", "content": "Ok"},
        ],
        "max_tokens": 50,
        "temperature": 1.0,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-42"},
    }


async def test_max_tokens_and_stop_list() -> None:
    sent = await sent_body(chat(max_tokens=77, stop=["a", "b"]))
    assert sent["max_tokens"] == 77
    assert sent["stop_sequences"] == ["a", "b"]


async def test_tool_use_and_tool_results() -> None:
    body = chat(
        messages=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {
                "role": "tool",
                "tool_call_id": "toolu_2",
                "content": [{"type": "text", "text": "21C"}],
            },
            {"role": "user", "content": "Thanks"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            },
            {"type": "function", "function": {"name": "noop"}},
        ],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    sent = await sent_body(body)
    assert sent["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "21C"}],
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]
    assert sent["tools"] == [
        {
            "name": "weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "noop", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, None),
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", True, {"type": "any"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "function": {"name": "f"}},
            None,
            {"type": "tool", "name": "f"},
        ),
    ],
)
async def test_tool_choice(choice: Any, parallel: Any, expected: Any) -> None:
    body = chat(tools=[{"type": "function", "function": {"name": "f"}}])
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    assert (await sent_body(body)).get("tool_choice") == expected


async def test_tool_choice_without_tools_is_dropped() -> None:
    sent = await sent_body(chat(tool_choice="required"))
    assert "tool_choice" not in sent and "tools" not in sent


async def test_images() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    sent = await sent_body(chat(messages=[{"role": "user", "content": content}]))
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


async def test_response_format_is_emulated_in_system() -> None:
    sent = await sent_body(
        chat(
            messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "x"}],
            response_format={"type": "json_object"},
        )
    )
    assert sent["system"].startswith("Be terse.\n\nRespond with only a single valid JSON object")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    sent = await sent_body(
        chat(response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}})
    )
    assert "conforms to this JSON Schema" in sent["system"]
    assert json.dumps(schema, separators=(",", ":"), sort_keys=True) in sent["system"]
    assert "system" not in await sent_body(chat(response_format={"type": "text"}))


async def test_cache_control_keeps_system_blocks() -> None:
    system = {
        "role": "system",
        "content": [{"type": "text", "text": "Long doc", "cache_control": {"type": "ephemeral"}}],
    }
    sent = await sent_body(chat(messages=[system, {"role": "user", "content": "Q"}]))
    assert sent["system"] == [{"type": "text", "text": "Long doc", "cache_control": {"type": "ephemeral"}}]


async def test_prefill_trailing_whitespace_trimmed() -> None:
    messages = [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "1, 2, "}]
    sent = await sent_body(chat(messages=messages))
    assert sent["messages"][-1] == {"role": "assistant", "content": "1, 2,"}


@pytest.mark.parametrize(
    ("body", "exc", "param"),
    [
        (chat(n=2), UnsupportedParameter, "n"),
        (chat(logprobs=True), UnsupportedParameter, "logprobs"),
        (chat(functions=[{"name": "f"}]), UnsupportedParameter, "functions"),
        (
            chat(messages=[{"role": "user", "content": [{"type": "input_audio"}]}]),
            UnsupportedParameter,
            "messages[0].content[0]",
        ),
        (
            chat(
                messages=[
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "t",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{bad"},
                            }
                        ],
                    },
                ]
            ),
            InvalidRequest,
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}],
                    }
                ]
            ),
            InvalidRequest,
            "messages[0].content[0]",
        ),
        (chat(messages=[{"role": "system", "content": "only"}]), InvalidRequest, "messages"),
    ],
)
async def test_request_errors(body: dict[str, Any], exc: type[Exception], param: str) -> None:
    provider, mock = make(message())
    with pytest.raises(exc) as info:
        await provider.send("chat", body)
    assert getattr(info.value, "param", None) == param
    assert mock.requests == []  # nothing was sent


async def test_embeddings_unsupported() -> None:
    provider, mock = make(message())
    with pytest.raises(UnsupportedParameter):
        await provider.send("embeddings", {"model": MODEL, "input": "x"})
    assert mock.requests == []


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


def anthropic_error(kind: str, msg: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": msg}}).encode()


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


# --- streaming ----------------------------------------------------------------

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


class RecordingTransport(MockTransport):
    """A MockTransport that keeps its responses, to check they get closed."""

    def __init__(self, handler: Callable[[HTTPRequest], MockResponse]) -> None:
        super().__init__(handler)
        self.responses: list[HTTPResponse] = []

    async def request(self, req: HTTPRequest) -> HTTPResponse:
        resp = await super().request(req)
        self.responses.append(resp)
        return resp


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
