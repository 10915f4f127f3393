"""An optional HTTP transport: pyreqwest (Rust reqwest and hyper).

``options: {http_client: reqwest}``, and the transport wherever an HTTP
proxy applies (reqwest honours ``HTTPS_PROXY`` and the like; tandem's own
client does not). It costs about half aiohttp's CPU per request, because
pooling, HTTP/1.1 framing and body reading run in Rust outside the GIL, but
each reply and each streamed chunk crosses from reqwest's thread to the
event loop (``bench/RESULTS.md``).

Timeouts: reqwest enforces ``connect``; the wait for the reply and the gaps
between streamed chunks are bounded with :class:`tandem.deadline.Deadline`,
as in :class:`~tandem.providers.transport.AiohttpTransport`, so both
transports time out the same way. Cancelling a wait (deadline, or the
client went away) drops the request, which closes its connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta

from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import ConnectError, ConnectTimeoutError, PyreqwestError, RequestTimeoutError
from pyreqwest.request import StreamRequest
from pyreqwest.response import Response

from tandem.config import Timeouts
from tandem.deadline import Deadline
from tandem.errors import UpstreamError
from tandem.providers.transport import HTTPRequest, HTTPResponse, PooledTransport

__all__ = ["ReqwestTransport"]

# By default pyreqwest buffers up to 64 KiB of a streamed body before it
# returns the response, so the first token would wait for the whole stream.
# One byte means: hand over each chunk as it arrives.
_STREAM_BUFFER = 1
#: Seconds to let reqwest drop its connections after close (see aclose).
_DRAIN_S = 0.05


def _never_sent(exc: ConnectError) -> bool:
    """Whether the request failed while connecting, before any byte was sent.

    pyreqwest raises ``ConnectError`` for a connection that the upstream
    closed after reading the request too ("connection closed before message
    completed", which hyper reports as a ``SendRequest`` error). That one may
    have reached the model and been billed, so it must not count as a
    connect error, which the gateway retries. The error's causes, from
    hyper-util's ``client error (Connect)``, tell the two apart.
    """
    details = exc.details if isinstance(exc.details, dict) else {}
    causes = details.get("causes") or ()
    return any(isinstance(c, dict) and "(Connect)" in str(c.get("message")) for c in causes)


class _Buffered(HTTPResponse):
    """A reply whose body reqwest has already read."""

    __slots__ = ("_body", "headers", "status")

    def __init__(self, resp: Response, body: bytes) -> None:
        self.status = resp.status
        self.headers = resp.headers
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        yield self._body

    async def aclose(self) -> None:
        return None


class _Streamed(HTTPResponse):
    """A reply whose body is read chunk by chunk, each within the idle timeout."""

    __slots__ = ("_request", "_resp", "_transport", "headers", "status")

    def __init__(self, request: StreamRequest, resp: Response, transport: ReqwestTransport) -> None:
        self._request: StreamRequest | None = request
        self._resp = resp
        self._transport = transport
        self.status = resp.status
        self.headers = resp.headers

    async def read(self) -> bytes:
        t = self._transport
        try:
            with t.mapped_errors("reading the reply"), Deadline(t.timeouts.idle):
                return bytes(await self._resp.bytes())
        finally:
            await self.aclose()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        t = self._transport
        reader = self._resp.body_reader
        deadline = Deadline(t.timeouts.idle)
        try:
            with t.mapped_errors("the stream stalled"):
                while True:
                    with deadline:
                        chunk = await reader.read_chunk()
                    if chunk is None:
                        return
                    yield bytes(chunk)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        request, self._request = self._request, None
        if request is not None:  # idempotent: the body readers close too
            await request.__aexit__(None, None, None)


class ReqwestTransport(PooledTransport):
    """Pooled keep-alive HTTP client for one upstream (one per provider).

    ``headers`` are the ones every request to this upstream carries (the
    provider's content type and credentials). They become the client's
    default headers: reqwest sends those about 25 µs of CPU cheaper per
    request than the same headers set on each request (measured here at
    concurrency 32). Each request's own headers must include them; only
    the ones that differ (e.g. ``accept`` for streams) are set per request.
    """

    def __init__(
        self, provider: str, timeouts: Timeouts, max_connections: int = 100, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(provider, timeouts, max_connections)
        self._defaults = dict(headers or {})
        self._client: Client | None = None

    def _extra_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers of a request that the client defaults do not already send."""
        if not self._defaults.keys() <= headers.keys():
            missing = sorted(self._defaults.keys() - headers.keys())
            raise ValueError(f"request headers lack the transport's default headers {missing}")
        return {k: v for k, v in headers.items() if self._defaults.get(k) != v}

    def _get_client(self) -> Client:
        if self._client is None:
            self._client = (
                ClientBuilder()
                .connect_timeout(timedelta(seconds=self.timeouts.connect))
                .max_connections(self.max_connections)
                .pool_idle_timeout(timedelta(seconds=30))
                .follow_redirects(False)
                .default_headers(self._defaults)
                .build()
            )
        return self._client

    def map_error(self, exc: PyreqwestError) -> UpstreamError:
        """Map a pyreqwest error to tandem's tree, without its text (it holds the URL)."""
        if isinstance(exc, ConnectTimeoutError) or (isinstance(exc, ConnectError) and _never_sent(exc)):
            return self.connect_error()
        if isinstance(exc, RequestTimeoutError):
            return self.timeout_error("waiting for the connection pool")
        return self.broken_error()

    @contextmanager
    def mapped_errors(self, waiting_for: str) -> Iterator[None]:
        """Turn a deadline into :class:`UpstreamTimeout` naming ``waiting_for``,
        and pyreqwest errors into tandem's tree (for the body reads; ``request``
        spells the same out inline, being on every request's path)."""
        try:
            yield
        except TimeoutError:
            raise self.timeout_error(waiting_for) from None
        except PyreqwestError as exc:
            raise self.map_error(exc) from exc

    async def request(self, req: HTTPRequest) -> HTTPResponse:
        builder = self._get_client().request(req.method, req.url)
        extra = self._extra_headers(req.headers)
        if extra:
            builder = builder.headers(extra)
        builder = builder.body_bytes(req.body)
        try:
            with Deadline(self.timeouts.first_byte):
                if not req.stream:
                    resp = await builder.build().send()
                    return _Buffered(resp, bytes(await resp.bytes()))
                streamed = builder.streamed_read_buffer_limit(_STREAM_BUFFER).build_streamed()
                resp = await streamed.__aenter__()
        except TimeoutError:
            raise self.timeout_error("waiting for the first byte") from None
        except PyreqwestError as exc:
            raise self.map_error(exc) from exc
        return _Streamed(streamed, resp, self)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            # reqwest drops the pooled connections on its own (Tokio) thread
            # after close() returns. Were the interpreter to exit meanwhile,
            # that thread could touch Python during finalization and abort
            # the process ("PyGILState_Release ... finalizing"; seen in about
            # 1 in 8 exits when upstreams close connections). A short pause
            # lets it finish: 0 aborts in 60 such exits here.
            await asyncio.sleep(_DRAIN_S)
