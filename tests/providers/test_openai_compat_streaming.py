"""OpenAICompatProvider: streaming (SSE parsing, stream options, errors, closing).

MockTransport only: no test here touches the network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from tandem.config import ModelConfig
from tandem.errors import (
    ContextLengthExceeded,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tandem.providers.base import create_provider
from tandem.providers.transport import MockResponse, MockTransport
from tests.providers.openai_compat_helpers import (
    CHAT,
    KEY,
    _api_key,  # noqa: F401 (autouse fixture: the test key in the environment)
    error_body,
    make,
    ok,
)


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


async def test_pass_through_yields_content_chunks_as_the_upstream_bytes() -> None:
    body = sse(*STREAM_EVENTS, "[DONE]")
    headers = {"content-type": "text/event-stream"}
    provider, _ = make(MockResponse(200, pieces(body, (4096,)), headers))
    got = [c async for c in provider.stream("chat", CHAT, passthrough=True)]
    # Content and finish chunks as written (json.dumps spacing); the usage chunk parsed.
    assert got[:-1] == [json.dumps(event).encode() for event in STREAM_EVENTS[:-1]]
    assert got[-1] == USAGE_CHUNK
    provider, _ = make(MockResponse(200, pieces(body, (4096,)), headers))
    assert [c async for c in provider.stream("chat", CHAT)] == STREAM_EVENTS


async def test_pass_through_still_ends_a_stream_on_an_error_event() -> None:
    body = sse(chunk({"content": "Hel"}), {"error": {"message": "overloaded"}})
    provider, _ = make(MockResponse(200, [body], {"content-type": "text/event-stream"}))
    got: list[Any] = []
    with pytest.raises(UpstreamError, match="overloaded"):
        async for c in provider.stream("chat", CHAT, passthrough=True):
            got.append(c)
    assert got == [json.dumps(chunk({"content": "Hel"})).encode()]


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
    # Even the client's own stream_options stay home: the server does not know them.
    _ = [c async for c in provider.stream("chat", {**CHAT, "stream_options": {"include_usage": True}})]
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
