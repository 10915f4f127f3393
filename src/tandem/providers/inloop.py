"""tandem's HTTP client: HTTP/1.1 on the event loop itself.

pyreqwest reads the network on its own Tokio thread and hands every result
to the event loop across threads: one hand-off, with its thread wake-ups
and GIL transfers, per reply and per streamed chunk. aiohttp stays on the
loop but spends more Python per request. Here the loop reads the socket
itself, ``httptools`` (the parser uvicorn uses) decodes the reply in C, and
the reader wakes once per reply or chunk. Measured against pyreqwest in
same-run A/Bs (``bench/RESULTS.md``): 27% less CPU per proxied request at
concurrency 32, 17% less per relayed stream.

Scope: HTTP/1.1 over TCP or TLS, keep-alive connections pooled per host,
``Content-Length``, chunked and close-delimited bodies; no redirects, no
proxies (:func:`tandem.providers.http_common.http_transport` takes pyreqwest
where a proxy applies) and no compression (``accept-encoding`` is not sent).

Errors follow :class:`~tandem.providers.transport.PooledTransport`: a failure
to connect (nothing was sent) is a connect error, which the gateway may
retry; a connection lost after the request was written is a broken
connection, which it must not retry (the upstream may have billed it).
Cancelling a request or closing a reply early closes its connection, which
stops the upstream's work.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict

from tandem.config import Timeouts
from tandem.deadline import Deadline
from tandem.providers.transport import HTTPRequest, HTTPResponse, PooledTransport

__all__ = ["InLoopTransport"]

#: Mark the end of the response head, and a connection that ended (or sent
#: bytes that are not HTTP) before the reply did, in a connection's events.
_HEAD = object()
_LOST = object()
#: A reader that has all it wanted (a stream's ``[DONE]``) leaves the rest
#: of the reply to the connection: at most this many bytes, within this many
#: seconds, or the connection is closed instead of reused.
DRAIN_BYTES = 65536
DRAIN_S = 2.0
#: Seconds a pooled connection may wait for its next request. Servers close
#: idle keep-alive connections (uvicorn, under vLLM, after 5 s); a request
#: written as such a close crosses it would fail after it was sent, so
#: connections are retired before that.
IDLE_S = 4.0
#: Bytes of body waiting for a slow reader at which the connection stops
#: reading the socket (the upstream then waits in TCP), and below which it
#: reads again.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one exchange at a time, its events queued in order.

    Events: ``_HEAD`` once the head is parsed, then each body chunk as bytes,
    then ``None`` when the reply is complete, or ``_LOST``.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.events: deque[Any] = deque()
        #: Bytes of body in ``events``; above :data:`HIGH_WATER` reading pauses.
        self.queued = 0
        self._paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.alive = True
        #: The current reply ended and the server keeps the connection open.
        self.reusable = False
        #: ``loop.time()`` when the connection last went back to the pool.
        self.idle_since = 0.0
        #: Called when a reply whose reader has left ends (see :meth:`drain`).
        self._drained: Callable[[_Connection], None] | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._drain_left = 0
        self._in_reply = False
        self._framed = True

    # --- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail()  # not HTTP/1.1

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        self._stop_draining()
        if self._in_reply:
            if self.status and not self._framed:  # a body delimited by the close
                self._in_reply = False
                self._push(None)
            else:
                self._push(_LOST)

    # --- httptools callbacks -------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        h = self.headers
        self._framed = "content-length" in h or "chunked" in h.get("transfer-encoding", "").lower()
        self._push(_HEAD)

    def on_body(self, body: bytes) -> None:
        if self._drained is None:
            self._push(body)
            self.queued += len(body)
            if self.queued > HIGH_WATER and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()
            return
        self._drain_left -= len(body)
        if self._drain_left < 0:  # more than the end of a reply: not worth keeping
            self.close()

    def on_message_complete(self) -> None:
        self._in_reply = False
        self.reusable = self.alive and self.parser.should_keep_alive()
        drained = self._drained
        if drained is None:
            self._push(None)
            return
        self._stop_draining()
        if self.reusable:
            drained(self)
        else:
            self.close()

    # --- the exchange ------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Start an exchange: write the whole request."""
        assert self.transport is not None
        self.status, self.headers, self.reusable = 0, CIMultiDict(), False
        self._in_reply, self._framed = True, True
        self.transport.write(data)

    async def next_event(self) -> Any:
        """The next event of the exchange, waiting for it if need be."""
        while not self.events:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.take()

    def take(self) -> Any:
        """The next queued event (there is one)."""
        event = self.events.popleft()
        if type(event) is bytes:
            self.queued -= len(event)
            if self._paused and self.queued < LOW_WATER:
                self._resume()
        return event

    def clear(self) -> None:
        """Drop the queued events (a reply the reader has left)."""
        self.events.clear()
        self.queued = 0
        if self._paused:
            self._resume()

    def _resume(self) -> None:
        self._paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def drain(self, then: Callable[[_Connection], None]) -> None:
        """The reader has what it wanted; the rest of the reply (its last
        bytes, say the end of a chunked body) is discarded as it arrives, and
        ``then(self)`` runs when the reply ends. The connection closes if the
        rest is longer than :data:`DRAIN_BYTES` or takes over :data:`DRAIN_S`."""
        self.clear()
        self._drained = then
        self._drain_left = DRAIN_BYTES
        self._drain_timer = asyncio.get_running_loop().call_later(DRAIN_S, self.close)

    def _stop_draining(self) -> None:
        self._drained = None
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None

    def close(self) -> None:
        """Drop the connection (the upstream sees it close)."""
        self.alive = False
        self._stop_draining()
        if self.transport is not None:
            self.transport.abort()

    def _push(self, event: Any) -> None:
        self.events.append(event)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self) -> None:
        self._in_reply = False
        self._push(_LOST)
        self.close()


class _Target:
    """What a URL needs for a request: where to connect and the request line."""

    __slots__ = ("authority", "host", "key", "port", "target", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {parts.scheme!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.authority = parts.netloc.rpartition("@")[2]
        path = parts.path or "/"
        self.target = f"{path}?{parts.query}" if parts.query else path
        self.key = (self.tls, self.host, self.port)


def _header_lines(headers: Mapping[str, str]) -> str:
    lines = []
    for name, value in headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError("a header holds a line break")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)


class _Reply(HTTPResponse):
    """A reply whose head has arrived; its body is read from the connection."""

    __slots__ = ("_conn", "_owner", "_target", "headers", "status")

    def __init__(self, conn: _Connection, owner: InLoopTransport, target: _Target) -> None:
        self._conn: _Connection | None = conn
        self._owner = owner
        self._target = target
        self.status = conn.status
        self.headers = conn.headers

    async def read(self) -> bytes:
        conn = self._conn
        if conn is None:
            return b""
        deadline = Deadline(self._owner.timeouts.idle)
        parts = []
        try:
            while (event := await self._event(conn, deadline, "reading the reply")) is not None:
                parts.append(event)
        finally:
            self._release()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        deadline = Deadline(self._owner.timeouts.idle)
        try:
            while (event := await self._event(conn, deadline, "the stream stalled")) is not None:
                yield event
        finally:
            self._release()

    async def _event(self, conn: _Connection, deadline: Deadline, waiting_for: str) -> bytes | None:
        """The next body chunk, or ``None`` at the end of the body."""
        if conn.events:  # already here: no wait, no deadline to arm
            event = conn.take()
        else:
            try:
                with deadline:
                    event = await conn.next_event()
            except TimeoutError:
                raise self._owner.timeout_error(waiting_for) from None
        if event is _LOST:
            raise self._owner.broken_error()
        return event  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        self._release()

    async def finish(self) -> None:
        self._release(finished=True)

    def _release(self, *, finished: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._owner.release(self._target, conn, finished=finished)


class InLoopTransport(PooledTransport):
    """Pooled keep-alive HTTP/1.1 connections to one upstream, read by the event loop."""

    def __init__(self, provider: str, timeouts: Timeouts, max_connections: int = 100) -> None:
        super().__init__(provider, timeouts, max_connections)
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._targets: dict[str, _Target] = {}
        self._slots: asyncio.Semaphore | None = None
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) > 64:  # URLs are per endpoint: a handful
                self._targets.clear()
            target = self._targets[url] = _Target(url)
        return target

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        context = None
        if target.tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        try:
            with Deadline(self.timeouts.connect):
                _, conn = await loop.create_connection(
                    _Connection, target.host, target.port, ssl=context, server_hostname=target.host if context else None
                )
        except (OSError, TimeoutError, ssl.SSLError):
            raise self.connect_error() from None
        return conn

    def _pooled(self, target: _Target) -> _Connection | None:
        idle = self._idle.get(target.key)
        if not idle:
            return None
        fresh = asyncio.get_running_loop().time() - IDLE_S
        while idle:
            conn = idle.pop()  # the most recently used first
            if conn.idle_since < fresh:  # so are all below it: retire them
                for old in (conn, *idle):
                    old.close()
                idle.clear()
                return None
            if conn.alive:  # False once closed, by either side
                return conn
        return None

    def release(self, target: _Target, conn: _Connection, *, finished: bool = False) -> None:
        """The exchange on ``conn`` is over. A connection whose reply has ended
        goes back to the pool; one whose reader ``finished`` early (it has all
        it wanted) is drained, then pooled; any other is closed, which stops
        the upstream's work."""
        if self._slots is not None:
            self._slots.release()
        if not conn.alive or self._closed:
            conn.close()
        elif conn.reusable:
            conn.clear()
            self._pool(conn, target.key)
        elif finished:
            key = target.key
            conn.drain(lambda c: self._pool(c, key))
        else:
            conn.close()

    def _pool(self, conn: _Connection, key: tuple[bool, str, int]) -> None:
        if conn.alive and not self._closed:
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.setdefault(key, []).append(conn)
        else:
            conn.close()

    async def request(self, req: HTTPRequest) -> HTTPResponse:
        target = self._target(req.url)
        head = (
            f"{req.method} {target.target} HTTP/1.1\r\nhost: {target.authority}\r\n"
            f"{_header_lines(req.headers)}content-length: {len(req.body)}\r\n\r\n"
        ).encode("latin-1")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        if self._slots.locked():  # every connection busy: wait, within the first-byte timeout
            try:
                with Deadline(self.timeouts.first_byte):
                    await self._slots.acquire()
            except TimeoutError:
                raise self.timeout_error("waiting for a free connection") from None
        else:
            await self._slots.acquire()
        conn: _Connection | None = None
        try:
            conn = self._pooled(target) or await self._connect(target)
            conn.send(head + req.body)
            try:
                with Deadline(self.timeouts.first_byte):
                    event = await conn.next_event()
            except TimeoutError:
                raise self.timeout_error("waiting for the first byte") from None
            if event is _LOST:
                raise self.broken_error()
        except BaseException:
            if conn is not None:
                conn.close()
            self._slots.release()
            raise
        return _Reply(conn, self, target)

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
