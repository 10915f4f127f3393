"""The write-coalescing transport under uvicorn's protocol: a reply's head and
body leave in one call at once, a lone write when its event-loop step ends,
everything in order, and nothing is held past the step or lost on close."""

from __future__ import annotations

import asyncio
from typing import Any

from tandem.api.coalesce import CoalescingTransport


class _Recorder:
    """The wrapped transport: records each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = self.eof = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def write_eof(self) -> None:
        self.eof = True

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str) -> Any:
        return {"peername": ("127.0.0.1", 1234)}.get(name)


def _wrap() -> tuple[CoalescingTransport, _Recorder]:
    inner = _Recorder()
    return CoalescingTransport(inner, asyncio.get_running_loop()), inner  # type: ignore[arg-type]


async def test_a_head_and_its_body_leave_as_one_buffer_at_once() -> None:
    t, inner = _wrap()
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert inner.writes == []  # the head waits for its body
    assert t.get_write_buffer_size() == 7 + 38
    t.write(b"{}")
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]  # no wait for the step's end
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert len(inner.writes) == 1


async def test_a_lone_write_leaves_when_its_step_ends_in_order() -> None:
    t, inner = _wrap()
    t.write(b"event 1")
    assert inner.writes == []
    await asyncio.sleep(0)
    assert inner.writes == [b"event 1"]
    t.write(b"a")
    t.write(b"b")
    t.write(b"c")  # a third write of the step is held again, after the first two
    assert inner.writes == [b"event 1", b"ab"]
    await asyncio.sleep(0)
    assert inner.writes == [b"event 1", b"ab", b"c"]


async def test_close_and_eof_flush_first_abort_drops() -> None:
    t, inner = _wrap()
    t.write(b"last words")
    t.close()
    assert inner.writes == [b"last words"] and inner.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert inner.writes == [b"last words"]

    t, inner = _wrap()
    t.writelines([b"a", b"b"])
    t.write_eof()
    assert inner.writes == [b"ab"] and inner.eof

    t, inner = _wrap()
    t.write(b"never sent")
    t.abort()
    await asyncio.sleep(0)
    assert inner.writes == [] and inner.aborted


async def test_held_bytearray_is_copied_and_other_calls_pass_through() -> None:
    t, inner = _wrap()
    buf = bytearray(b"abc")
    t.write(buf)
    buf[:] = b"xyz"  # the caller may reuse its buffer once write returns
    await asyncio.sleep(0)
    assert inner.writes == [b"abc"]
    assert t.get_extra_info("peername") == ("127.0.0.1", 1234)
    assert not t.is_closing()
