"""uvicorn's HTTP protocol with the writes of one event-loop step sent together.

uvicorn writes a response's status line and headers as soon as the app
sends ``http.response.start``, and the body with the next message: two
``send`` system calls, and on loopback two trips through the kernel's TCP
stack, for every small JSON reply. :class:`CoalescingTransport` holds the
first write of an event-loop step: a second write in the same step (the
body after its head) joins it and both leave at once, in one system call;
a write left alone goes from a ``call_soon`` callback, which runs before
the loop polls for I/O again. Nothing waits longer than the step that wrote
it, and ``close()`` flushes first. So a JSON reply, and a stream's head with
its first event, each leave in one system call without waiting for the rest
of the step. Measured with ``bench/run`` in ``bench/RESULTS.md``.

``tandem serve`` runs uvicorn with ``http=CoalescingHttpToolsProtocol``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol", "CoalescingTransport"]


class CoalescingTransport:
    """An :class:`asyncio.Transport` proxy that joins a step's first two writes.

    Every other method goes to the wrapped transport; those that end or
    measure the output (``close``, ``write_eof``, ``get_write_buffer_size``)
    see the held data first.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        """Hold the step's first write; send it with the second, or when the step ends."""
        if type(data) is not bytes:
            data = bytes(data)  # the caller may reuse a bytearray once write returns
        held = self._held
        if held is None:
            self._held = [data]
            self._loop.call_soon(self.flush)
        else:  # the second write of the step (a reply's body after its head): both leave now
            self._held = None
            held.append(data)
            self._transport.write(b"".join(held))

    def writelines(self, lines: Any) -> None:
        """Hold each of ``lines``."""
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Write what is held now (the scheduled callback, or before closing)."""
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        """Flush, then close the connection."""
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Flush, then half-close."""
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        """Drop what is held and abort the connection."""
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        """The transport's buffer plus what is held."""
        held = sum(len(d) for d in self._held) if self._held else 0
        return self._transport.get_write_buffer_size() + held

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
