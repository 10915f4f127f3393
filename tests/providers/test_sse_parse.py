"""The SSE parser: the same events whatever the chunking, through the
one-event-per-chunk fast path and through the line-by-line parse."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator

import orjson
import pytest

from tandem.providers.http_common import iter_sse, passes_through

STREAMS = [
    # OpenAI-style: one data line per event.
    [b'data: {"a":1}\n\n', b'data: {"b":"x y"}\n\n', b"data: [DONE]\n\n"],
    # CRLF lines, an event name, a comment, a multi-line data event, an empty data.
    [b"event: message_start\r\ndata: {}\r\n\r\n", b": keep-alive\n\n", b"data: one\ndata: two\n\n", b"data: \n\n"],
    # No space after the colon, an extra space kept, a last line without newline.
    [b"data:{}\n\n", b"data:  spaced\n\n", b"data: tail"],
]


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


async def _events(parts: list[bytes]) -> list[tuple[str | None, bytes]]:
    return [(e.event, e.data) for e in [ev async for ev in iter_sse(_chunks(parts))]]


def _split(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6))))
    return [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)], strict=True)]


async def test_events_do_not_depend_on_how_the_bytes_are_chunked() -> None:
    rng = random.Random(7)
    for events in STREAMS:
        whole = b"".join(events)
        byte_by_byte = await _events([whole[i : i + 1] for i in range(len(whole))])
        assert await _events(events) == byte_by_byte  # one event per chunk: the fast path
        assert await _events([whole]) == byte_by_byte
        for _ in range(50):
            assert await _events(_split(whole, rng)) == byte_by_byte


async def test_parsed_values() -> None:
    assert await _events(STREAMS[0]) == [(None, b'{"a":1}'), (None, b'{"b":"x y"}'), (None, b"[DONE]")]
    assert await _events(STREAMS[1]) == [("message_start", b"{}"), (None, b"one\ntwo"), (None, b"")]
    assert await _events(STREAMS[2]) == [(None, b"{}"), (None, b" spaced"), (None, b"tail")]


_CONTENT = {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}


@pytest.mark.parametrize(
    "data",
    [
        orjson.dumps(_CONTENT),  # compact, as vLLM writes
        json.dumps(_CONTENT).encode(),  # Python's spacing, as llama.cpp's Python server writes
        orjson.dumps({**_CONTENT, "x_vendor": {"latency_ms": 3}}),  # unknown members go along as they are
    ],
)
def test_content_chunks_pass_through(data: bytes) -> None:
    assert passes_through(data)


@pytest.mark.parametrize(
    "data",
    [
        orjson.dumps({**_CONTENT, "usage": None}),  # usage is read (and dropped when the client did not ask)
        orjson.dumps({**_CONTENT, "choices": [], "usage": {"prompt_tokens": 1}}),
        orjson.dumps({"error": {"message": "overloaded"}}),
        orjson.dumps({"choices": []}),  # nothing to count: the gateway drops it
        orjson.dumps([_CONTENT]),  # not an object
        b'{"choices" : [ {"delta": {}}]}',  # other spacing: parsed, to be safe
        b"[DONE]",
        orjson.dumps({**_CONTENT, "choices": [{"index": 0, "delta": {"content": "error"}}]}),  # errs towards parsing
    ],
)
def test_other_events_are_parsed(data: bytes) -> None:
    assert not passes_through(data)
