"""OpenAICompatProvider: URLs, headers, passthrough, streaming, error mapping.

MockTransport only: no test here touches the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from tandem.call import ProviderResult, Usage
from tandem.config import ConfigError, ModelConfig
from tandem.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tandem.providers.base import create_provider
from tandem.providers.openai_compat import OpenAICompatProvider
from tandem.providers.transport import HTTPRequest, HTTPResponse, MockResponse, MockTransport

KEY = "sk-test-SECRET-abcdef0123456789"
ENV = "TEST_OPENAI_COMPAT_KEY"


class RecordingTransport(MockTransport):
    """A MockTransport that also keeps the responses it handed out."""

    def __init__(self, handler: Callable[[HTTPRequest], MockResponse]) -> None:
        super().__init__(handler)
        self.responses: list[HTTPResponse] = []

    async def request(self, req: HTTPRequest) -> HTTPResponse:
        resp = await super().request(req)
        self.responses.append(resp)
        return resp


def make(
    reply: MockResponse | Callable[[HTTPRequest], MockResponse],
    *,
    key_env: str | None = ENV,
    **cfg: Any,
) -> tuple[OpenAICompatProvider, RecordingTransport]:
    handler = reply if callable(reply) else (lambda _req: reply)
    mock = RecordingTransport(handler)
    cfg.setdefault("name", "gpt")
    cfg.setdefault("provider", "openai")
    config = ModelConfig(api_key_env=key_env, **cfg)
    provider = create_provider(config, transport=mock)
    assert isinstance(provider, OpenAICompatProvider)
    return provider, mock


def completion(content: str = "Hello!", usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": usage if usage is not None else {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


def ok(body: Any) -> MockResponse:
    return MockResponse(200, json.dumps(body).encode(), {"content-type": "application/json"})


def error_body(message: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code}}).encode()


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


# --- request building -------------------------------------------------------


async def test_registered_under_both_kinds() -> None:
    for kind in ("openai", "openai_compatible"):
        provider, _ = make(ok(completion()), provider=kind)
        assert isinstance(provider, OpenAICompatProvider)


async def test_body_passes_through_with_unknown_params_and_model() -> None:
    provider, mock = make(ok(completion()), model="gpt-4o-mini")
    body = {
        **CHAT,
        "temperature": 0.3,
        "logit_bias": {"50256": -100},
        "vendor_specific_knob": {"nested": [1, 2, 3]},
        "top_k": 40,
    }
    await provider.send("chat", body)
    [sent] = mock.json_bodies()
    assert sent == body
    assert sent["model"] == "gpt-4o-mini"
    assert sent["vendor_specific_knob"] == {"nested": [1, 2, 3]}
    assert "stream" not in sent
    assert mock.requests[0].method == "POST"


async def test_send_does_not_mutate_caller_body_on_stream() -> None:
    provider, _ = make(MockResponse(200, b"data: [DONE]\n\n"))
    body = dict(CHAT)
    _ = [c async for c in provider.stream("chat", body)]
    assert body == CHAT


async def test_default_url_is_openai() -> None:
    provider, mock = make(ok(completion()))
    await provider.send("chat", CHAT)
    await provider.send("completions", {"model": "m", "prompt": "x"})
    await provider.send("embeddings", {"model": "m", "input": "x"})
    assert [r.url for r in mock.requests] == [
        "https://api.openai.com/v1/chat/completions",
        "https://api.openai.com/v1/completions",
        "https://api.openai.com/v1/embeddings",
    ]


@pytest.mark.parametrize(
    "base_url",
    ["http://localhost:8000/v1", "http://localhost:8000/v1/", "http://localhost:8000/v1//"],
)
async def test_base_url_trailing_slashes(base_url: str) -> None:
    provider, mock = make(ok(completion()), base_url=base_url, key_env=None)
    await provider.send("chat", CHAT)
    assert mock.requests[0].url == "http://localhost:8000/v1/chat/completions"


async def test_custom_paths() -> None:
    provider, mock = make(
        ok(completion()),
        base_url="http://h/api",
        options={"chat_path": "/v2/chat", "embeddings_path": "/v2/embed"},
    )
    await provider.send("chat", CHAT)
    await provider.send("embeddings", {"model": "m", "input": "x"})
    assert [r.url for r in mock.requests] == ["http://h/api/v2/chat", "http://h/api/v2/embed"]


async def test_azure_style_api_key_header_and_api_version_query() -> None:
    provider, mock = make(
        ok(completion()),
        base_url="https://res.openai.azure.com/openai/deployments/gpt4o/",
        options={"auth_header": "api-key", "query": {"api-version": "2024-06-01"}},
    )
    await provider.send("chat", CHAT)
    req = mock.requests[0]
    assert req.url == ("https://res.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-06-01")
    headers = {k.lower(): v for k, v in req.headers.items()}
    assert headers["api-key"] == KEY
    assert "authorization" not in headers


async def test_query_values_are_url_encoded() -> None:
    provider, mock = make(ok(completion()), options={"query": {"a": "x y&z", "b": "1"}})
    await provider.send("chat", CHAT)
    assert mock.requests[0].url == "https://api.openai.com/v1/chat/completions?a=x+y%26z&b=1"


async def test_bearer_header_from_env_and_extra_headers() -> None:
    provider, mock = make(ok(completion()), options={"headers": {"OpenAI-Organization": "org-1"}})
    await provider.send("chat", CHAT)
    headers = {k.lower(): v for k, v in mock.requests[0].headers.items()}
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["content-type"] == "application/json"
    assert headers["openai-organization"] == "org-1"
    assert "api-key" not in headers


async def test_key_is_read_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTHER_KEY_VAR", "sk-other-value")
    provider, mock = make(ok(completion()), key_env="OTHER_KEY_VAR")
    await provider.send("chat", CHAT)
    assert mock.requests[0].headers["authorization"] == "Bearer sk-other-value"


async def test_no_auth_header_without_key_env() -> None:
    provider, mock = make(ok(completion()), key_env=None, base_url="http://localhost:8080/v1")
    await provider.send("chat", CHAT)
    headers = {k.lower() for k in mock.requests[0].headers}
    assert "authorization" not in headers
    assert "api-key" not in headers


async def test_no_auth_header_when_env_var_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV)
    provider, mock = make(ok(completion()))
    await provider.send("chat", CHAT)
    assert "authorization" not in {k.lower() for k in mock.requests[0].headers}


def test_unknown_option_rejected() -> None:
    config = ModelConfig(name="gpt", provider="openai", options={"auth_heder": "api-key"})
    with pytest.raises(ConfigError, match=r"options\.auth_heder"):
        create_provider(config, transport=MockTransport(lambda _r: ok({})))


def test_bad_auth_header_option_rejected() -> None:
    config = ModelConfig(name="gpt", provider="openai", options={"auth_header": "x-key"})
    with pytest.raises(ConfigError, match=r"options\.auth_header"):
        create_provider(config, transport=MockTransport(lambda _r: ok({})))


# --- non-streamed replies ---------------------------------------------------


async def test_send_parses_reply_and_usage() -> None:
    reply = completion("Paris.", {"prompt_tokens": 21, "completion_tokens": 2, "total_tokens": 23})
    provider, _ = make(ok(reply))
    result = await provider.send("chat", CHAT)
    assert isinstance(result, ProviderResult)
    assert result.body == reply
    assert result.body["choices"][0]["message"]["content"] == "Paris."
    assert result.usage == Usage(prompt_tokens=21, completion_tokens=2)
    assert result.usage.total_tokens == 23


async def test_send_without_usage_gives_zero_usage() -> None:
    reply = completion()
    del reply["usage"]
    provider, _ = make(ok(reply))
    result = await provider.send("chat", CHAT)
    assert result.usage == Usage(0, 0)


async def test_embeddings_reply() -> None:
    reply = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 5, "total_tokens": 5},
    }
    provider, _ = make(ok(reply))
    result = await provider.send("embeddings", {"model": "text-embedding-3-small", "input": "x"})
    assert result.body["data"][0]["embedding"] == [0.1, 0.2]
    assert result.usage == Usage(5, 0)


async def test_malformed_json_reply_is_upstream_error() -> None:
    provider, _ = make(MockResponse(200, b"<html>gateway</html>"))
    with pytest.raises(UpstreamError, match="not JSON") as info:
        await provider.send("chat", CHAT)
    assert info.value.status_code == 502


async def test_non_object_json_reply_is_upstream_error() -> None:
    provider, _ = make(ok([1, 2, 3]))
    with pytest.raises(UpstreamError) as info:
        await provider.send("chat", CHAT)
    assert type(info.value) is UpstreamError


# --- error mapping ----------------------------------------------------------


async def test_429_with_retry_after() -> None:
    provider, _ = make(MockResponse(429, error_body("Rate limit reached for requests"), {"Retry-After": "7"}))
    with pytest.raises(UpstreamRateLimited) as info:
        await provider.send("chat", CHAT)
    err = info.value
    assert err.retry_after == 7.0
    assert err.status_code == 429
    assert "Rate limit reached for requests" in err.message
    assert err.headers() == {"retry-after": "7"}


async def test_429_without_retry_after() -> None:
    provider, _ = make(MockResponse(429, error_body("slow down")))
    with pytest.raises(UpstreamRateLimited) as info:
        await provider.send("chat", CHAT)
    assert info.value.retry_after is None


async def test_400_is_bad_request_with_upstream_message() -> None:
    provider, _ = make(MockResponse(400, error_body("Invalid value for 'temperature'.")))
    with pytest.raises(UpstreamBadRequest) as info:
        await provider.send("chat", CHAT)
    err = info.value
    assert "Invalid value for 'temperature'." in err.message
    assert err.status_code == 400
    assert not isinstance(err, ContextLengthExceeded)


async def test_upstream_message_is_truncated() -> None:
    provider, _ = make(MockResponse(400, error_body("x" * 5000)))
    with pytest.raises(UpstreamBadRequest) as info:
        await provider.send("chat", CHAT)
    assert "x" * 500 in info.value.message
    assert "x" * 501 not in info.value.message


async def test_400_with_non_json_body() -> None:
    provider, _ = make(MockResponse(400, b"bad request, plain text"))
    with pytest.raises(UpstreamBadRequest) as info:
        await provider.send("chat", CHAT)
    assert "plain text" not in info.value.message


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
        "Requested tokens exceed context_length of the model",
    ],
)
async def test_context_length_exceeded(message: str) -> None:
    provider, _ = make(MockResponse(400, error_body(message, "context_length_exceeded")))
    with pytest.raises(ContextLengthExceeded) as info:
        await provider.send("chat", CHAT)
    err = info.value
    assert isinstance(err, InvalidRequest)
    assert err.code == "context_length_exceeded"
    assert message in err.message


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_never_leaks_the_key(status: int) -> None:
    body = error_body(f"Incorrect API key provided: {KEY}. You can find your API key at ...")
    provider, _ = make(MockResponse(status, body, {"www-authenticate": f"Bearer {KEY}"}))
    with pytest.raises(UpstreamError) as info:
        await provider.send("chat", CHAT)
    err = info.value
    assert type(err) is UpstreamError
    assert err.status_code == 502
    assert str(status) in err.message
    for text in (err.message, str(err), json.dumps(err.to_dict()), repr(err.args)):
        assert KEY not in text
        assert "sk-test" not in text


async def test_500_is_upstream_error_502() -> None:
    provider, _ = make(MockResponse(500, error_body("The server had an error")))
    with pytest.raises(UpstreamError) as info:
        await provider.send("chat", CHAT)
    err = info.value
    assert type(err) is UpstreamError
    assert err.status_code == 502
    assert err.to_dict()["error"]["type"] == "upstream_error"
    assert "500" in err.message
    assert "The server had an error" in err.message


async def test_503_is_unavailable_with_retry_after() -> None:
    provider, _ = make(MockResponse(503, error_body("overloaded"), {"retry-after": "2.5"}))
    with pytest.raises(UpstreamUnavailable) as info:
        await provider.send("chat", CHAT)
    assert info.value.status_code == 503
    assert info.value.retry_after == 2.5
    assert info.value.retryable


async def test_504_is_timeout() -> None:
    provider, _ = make(MockResponse(504, b""))
    with pytest.raises(UpstreamTimeout) as info:
        await provider.send("chat", CHAT)
    assert info.value.status_code == 504


async def test_unparseable_retry_after_is_ignored() -> None:
    provider, _ = make(MockResponse(429, b"{}", {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    with pytest.raises(UpstreamRateLimited) as info:
        await provider.send("chat", CHAT)
    assert info.value.retry_after is None


# --- streaming --------------------------------------------------------------


def sse(*events: Any, crlf: bool = False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    out = []
    for ev in events:
        data = ev if isinstance(ev, str) else json.dumps(ev)
        out.append(f"data: {data}{nl}{nl}")
    return "".join(out).encode()


def pieces(data: bytes, sizes: Iterable[int] = (1, 2, 3, 5, 7, 11)) -> list[bytes]:
    """Split ``data`` at irregular byte boundaries."""
    out: list[bytes] = []
    i = 0
    sizes = list(sizes)
    k = 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        out.append(data[i : i + n])
        i += n
        k += 1
    assert b"".join(out) == data
    return out


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [],
    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
}


STREAM_EVENTS: list[Any] = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo, wörld ✓"}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk({}, finish="tool_calls"),
    USAGE_CHUNK,
]


def assemble(chunks: list[dict[str, Any]]) -> tuple[str, dict[int, dict[str, str]], str | None]:
    """Rebuild content, tool calls and the finish reason from chunks."""
    content = ""
    tools: dict[int, dict[str, str]] = {}
    finish = None
    for c in chunks:
        for choice in c["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            for tc in delta.get("tool_calls") or ():
                slot = tools.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
                if "id" in tc:
                    slot["id"] = tc["id"]
                fn = tc.get("function") or {}
                if "name" in fn:
                    slot["name"] = fn["name"]
                slot["arguments"] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return content, tools, finish


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("sizes", [(1,), (2, 3), (1, 2, 3, 5, 7, 11), (4096,)])
async def test_stream_split_at_arbitrary_boundaries(crlf: bool, sizes: tuple[int, ...]) -> None:
    body = sse(*STREAM_EVENTS, "[DONE]", crlf=crlf)
    headers = {"content-type": "text/event-stream"}
    provider, mock = make(MockResponse(200, pieces(body, sizes), headers))
    got = [c async for c in provider.stream("chat", CHAT)]
    assert got == STREAM_EVENTS
    content, tools, finish = assemble(got)
    assert content == "Hello, wörld ✓"
    assert tools == {0: {"id": "call_abc", "name": "get_weather", "arguments": '{"city": "Paris"}'}}
    assert json.loads(tools[0]["arguments"]) == {"city": "Paris"}
    assert finish == "tool_calls"
    assert got[-1]["usage"] == {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    assert mock.responses[0].closed  # type: ignore[attr-defined]


async def test_stream_request_shape() -> None:
    provider, mock = make(MockResponse(200, sse("[DONE]")), model="gpt-4o-mini")
    body = {**CHAT, "temperature": 0.1, "custom": True}
    _ = [c async for c in provider.stream("chat", body)]
    [sent] = mock.json_bodies()
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["custom"] is True
    assert sent["temperature"] == 0.1
    assert sent["model"] == "gpt-4o-mini"
    headers = {k.lower(): v for k, v in mock.requests[0].headers.items()}
    assert headers["accept"] == "text/event-stream"
    assert headers["authorization"] == f"Bearer {KEY}"
    assert mock.requests[0].url == "https://api.openai.com/v1/chat/completions"


async def test_stream_include_usage_overrides_client_false() -> None:
    # Usage is needed for accounting even when the client did not ask for it.
    provider, mock = make(MockResponse(200, sse("[DONE]")))
    body = {**CHAT, "stream_options": {"include_usage": False}}
    _ = [c async for c in provider.stream("chat", body)]
    assert mock.json_bodies()[0]["stream_options"] == {"include_usage": True}


async def test_stream_usage_option_false_omits_stream_options() -> None:
    provider, mock = make(MockResponse(200, sse("[DONE]")), options={"stream_usage": False})
    _ = [c async for c in provider.stream("chat", CHAT)]
    sent = mock.json_bodies()[0]
    assert sent["stream"] is True
    assert "stream_options" not in sent


async def test_stream_completions_endpoint() -> None:
    events = [
        {"id": "c1", "object": "text_completion", "choices": [{"index": 0, "text": "ab"}]},
        {"id": "c1", "object": "text_completion", "choices": [{"index": 0, "text": "cd"}]},
    ]
    provider, mock = make(MockResponse(200, pieces(sse(*events, "[DONE]"), (3,))))
    got = [c async for c in provider.stream("completions", {"model": "m", "prompt": "x"})]
    assert got == events
    assert mock.requests[0].url.endswith("/v1/completions")
    assert mock.json_bodies()[0]["stream_options"] == {"include_usage": True}


async def test_done_ends_the_stream_and_later_data_is_ignored() -> None:
    body = sse(chunk({"content": "a"}), "[DONE]") + b"data: {not json\n\n"
    body += sse(chunk({"content": "b"}))
    provider, mock = make(MockResponse(200, pieces(body, (4,))))
    got = [c async for c in provider.stream("chat", CHAT)]
    assert [c["choices"][0]["delta"]["content"] for c in got] == ["a"]
    assert mock.responses[0].closed  # type: ignore[attr-defined]


async def test_stream_ignores_comments_and_event_names() -> None:
    body = (
        b": keep-alive\n\n"
        b"event: message\ndata: " + json.dumps(chunk({"content": "x"})).encode() + b"\n\n"
        b": ping\r\n\r\n"
        b"data: [DONE]\n\n"
    )
    provider, _ = make(MockResponse(200, pieces(body, (2,))))
    got = [c async for c in provider.stream("chat", CHAT)]
    assert got == [chunk({"content": "x"})]


async def test_stream_without_done_ends_at_eof() -> None:
    # Some servers just close the connection after the last data line; that
    # final event (no blank line after it) must still be delivered.
    body = sse(chunk({"content": "a"})) + b"data: " + json.dumps(USAGE_CHUNK).encode() + b"\n"
    provider, mock = make(MockResponse(200, pieces(body, (5,))))
    got = [c async for c in provider.stream("chat", CHAT)]
    assert got == [chunk({"content": "a"}), USAGE_CHUNK]
    assert mock.responses[0].closed  # type: ignore[attr-defined]


async def test_stream_multiline_data_joined() -> None:
    # An SSE event may spread its data over several data: lines (joined by \n).
    payload = json.dumps(chunk({"content": "y"}), indent=1).split("\n")
    body = "".join(f"data: {line}\n" for line in payload).encode() + b"\n" + sse("[DONE]")
    provider, _ = make(MockResponse(200, pieces(body, (3,))))
    got = [c async for c in provider.stream("chat", CHAT)]
    assert got == [chunk({"content": "y"})]


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (429, UpstreamRateLimited),
        (400, UpstreamBadRequest),
        (500, UpstreamError),
        (503, UpstreamUnavailable),
        (504, UpstreamTimeout),
    ],
)
async def test_stream_status_error_before_first_chunk(status: int, exc_type: type) -> None:
    provider, mock = make(MockResponse(status, error_body("nope"), {"retry-after": "3"}))
    agen = provider.stream("chat", CHAT)
    with pytest.raises(exc_type) as info:
        await agen.__anext__()
    assert type(info.value) is exc_type
    assert "nope" in info.value.message
    assert mock.responses[0].closed  # type: ignore[attr-defined]


async def test_stream_context_length_before_first_chunk() -> None:
    provider, _ = make(MockResponse(400, error_body("This model's maximum context length is 4096 tokens")))
    with pytest.raises(ContextLengthExceeded):
        _ = [c async for c in provider.stream("chat", CHAT)]


async def test_mid_stream_error_event_raises_after_chunks() -> None:
    body = sse(
        chunk({"content": "par"}),
        chunk({"content": "tial"}),
        {"error": {"message": "The server overloaded mid-generation", "type": "server_error"}},
        chunk({"content": "never"}),
        "[DONE]",
    )
    provider, mock = make(MockResponse(200, pieces(body, (6,))))
    got: list[dict[str, Any]] = []
    with pytest.raises(UpstreamError, match="overloaded mid-generation") as info:
        async for c in provider.stream("chat", CHAT):
            got.append(c)
    assert [c["choices"][0]["delta"]["content"] for c in got] == ["par", "tial"]
    assert type(info.value) is UpstreamError
    assert mock.responses[0].closed  # type: ignore[attr-defined]


async def test_mid_stream_error_event_as_string() -> None:
    body = sse(chunk({"content": "a"}), {"error": "worker died"})
    provider, _ = make(MockResponse(200, body))
    got: list[dict[str, Any]] = []
    with pytest.raises(UpstreamError, match="worker died"):
        async for c in provider.stream("chat", CHAT):
            got.append(c)
    assert len(got) == 1


async def test_mid_stream_transport_error_propagates() -> None:
    boom = UpstreamError("Upstream gpt closed the connection unexpectedly.", provider="gpt")
    body = sse(chunk({"content": "a"}), chunk({"content": "b"}))
    provider, mock = make(MockResponse(200, pieces(body, (9,)), error_after=boom))
    got: list[dict[str, Any]] = []
    with pytest.raises(UpstreamError) as info:
        async for c in provider.stream("chat", CHAT):
            got.append(c)
    assert info.value is boom
    assert [c["choices"][0]["delta"]["content"] for c in got] == ["a", "b"]
    assert mock.responses[0].closed  # type: ignore[attr-defined]


async def test_malformed_stream_event_is_upstream_error() -> None:
    body = sse(chunk({"content": "a"})) + b"data: {oops\n\n"
    provider, mock = make(MockResponse(200, body))
    got: list[dict[str, Any]] = []
    with pytest.raises(UpstreamError, match="malformed"):
        async for c in provider.stream("chat", CHAT):
            got.append(c)
    assert len(got) == 1
    assert mock.responses[0].closed  # type: ignore[attr-defined]


async def test_early_stop_closes_the_response() -> None:
    body = sse(*[chunk({"content": str(i)}) for i in range(50)], "[DONE]")
    provider, mock = make(MockResponse(200, pieces(body, (17,))))
    agen = provider.stream("chat", CHAT)
    first = await agen.__anext__()
    assert first["choices"][0]["delta"]["content"] == "0"
    resp = mock.responses[0]
    assert not resp.closed  # type: ignore[attr-defined]
    await agen.aclose()  # what the consumer does on a client disconnect
    assert resp.closed  # type: ignore[attr-defined]


async def test_stream_is_lazy_until_iterated() -> None:
    provider, mock = make(MockResponse(200, sse("[DONE]")))
    agen = provider.stream("chat", CHAT)
    assert mock.requests == []
    _ = [c async for c in agen]
    assert len(mock.requests) == 1


async def test_aclose_closes_transport() -> None:
    closed: list[bool] = []

    class T(MockTransport):
        async def aclose(self) -> None:
            closed.append(True)

    config = ModelConfig(name="gpt", provider="openai")
    provider = create_provider(config, transport=T(lambda _r: ok({})))
    await provider.aclose()
    assert closed == [True]
