"""The SSE parser: the same events whatever the chunking, through the
one-event-per-chunk fast path and through the line-by-line parse."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

from tandem.providers.http_common import iter_sse

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
