"""HTTP transports for providers that talk to an upstream over HTTP.

Providers never touch an HTTP library directly; they call a
:class:`Transport`, in the manner of httpx transports. Production uses
:class:`tandem.providers.inloop.InLoopTransport` (tandem's own HTTP/1.1
client on the event loop) or, as options,
:class:`tandem.providers.reqwest.ReqwestTransport` (pyreqwest) and
:class:`AiohttpTransport`; they were chosen in that order by measurement
(``bench/RESULTS.md``). Each keeps one pool of keep-alive connections per
upstream. Unit tests inject :class:`MockTransport`, so they never touch the
network.

Transport errors are mapped to :mod:`tandem.errors` here, once. Their
messages name the provider only: never a URL, header or key.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from tandem.config import Timeouts
from tandem.deadline import Deadline
from tandem.errors import UpstreamConnectError, UpstreamError, UpstreamTimeout

__all__ = [
    "AiohttpTransport",
    "HTTPRequest",
    "HTTPResponse",
    "MockResponse",
    "MockTransport",
    "PooledTransport",
    "Transport",
]


@dataclass(slots=True)
class HTTPRequest:
    """An outgoing upstream request."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""
    #: The caller reads the body as a stream (a transport may read a
    #: non-streamed body whole before it returns).
    stream: bool = False


class HTTPResponse(ABC):
    """An upstream response whose headers have arrived; the body has not."""

    status: int
    headers: Mapping[str, str]

    @abstractmethod
    async def read(self) -> bytes:
        """The whole body."""

    @abstractmethod
    def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, bounded by the idle timeout between chunks."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the connection (early close cancels the upstream call)."""

    async def finish(self) -> None:
        """The caller has all it wanted of the body (a stream's ``[DONE]``):
        a transport may keep the connection for reuse once the rest, the end
        of the body, arrives. By default the same as :meth:`aclose`."""
        await self.aclose()


class Transport(ABC):
    """Sends requests to one upstream."""

    @abstractmethod
    async def request(self, req: HTTPRequest) -> HTTPResponse:
        """Send ``req``; return once the response headers have arrived."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Close pooled connections."""


class PooledTransport(Transport):
    """Base of the pooled HTTP transports: one upstream, its timeouts, and the
    errors they raise. Messages name the provider only: never a URL, header
    or key (the client libraries' own messages hold the URL)."""

    def __init__(self, provider: str, timeouts: Timeouts, max_connections: int) -> None:
        self.provider = provider
        self.timeouts = timeouts
        self.max_connections = max_connections

    def timeout_error(self, what: str) -> UpstreamTimeout:
        """A wait for ``what`` ran out."""
        return UpstreamTimeout(f"Upstream {self.provider} timed out ({what}).", provider=self.provider)

    def connect_error(self) -> UpstreamConnectError:
        """No connection: nothing was sent, so a retry cannot bill twice."""
        return UpstreamConnectError(f"Could not connect to upstream {self.provider}.", provider=self.provider)

    def broken_error(self) -> UpstreamError:
        """The connection failed after the request may have been sent."""
        return UpstreamError(f"Upstream {self.provider} closed the connection unexpectedly.", provider=self.provider)


# --- aiohttp ----------------------------------------------------------------


class _AiohttpResponse(HTTPResponse):
    __slots__ = ("_resp", "_transport", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse, transport: AiohttpTransport) -> None:
        self._resp = resp
        self._transport = transport
        self.status = resp.status
        self.headers = resp.headers

    async def read(self) -> bytes:
        try:
            with Deadline(self._transport.timeouts.idle):
                return await self._resp.read()
        except TimeoutError:
            raise self._transport.timeout_error("reading the reply") from None
        except aiohttp.ClientError as exc:
            raise self._transport.broken_error() from exc
        finally:
            self._resp.release()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        content = self._resp.content
        deadline = Deadline(self._transport.timeouts.idle)
        try:
            while True:
                try:
                    with deadline:
                        chunk = await content.readany()
                except TimeoutError:
                    raise self._transport.timeout_error("the stream stalled") from None
                if not chunk:
                    return
                yield chunk
        except aiohttp.ClientError as exc:
            raise self._transport.broken_error() from exc
        finally:
            self._resp.close() if not content.at_eof() else self._resp.release()

    async def aclose(self) -> None:
        self._resp.close()


class AiohttpTransport(PooledTransport):
    """Pooled keep-alive HTTP/1.1 client for one upstream (one per provider)."""

    def __init__(self, provider: str, timeouts: Timeouts, max_connections: int = 100) -> None:
        super().__init__(provider, timeouts, max_connections)
        self._session: aiohttp.ClientSession | None = None
        # Built once: the per-request path allocates no timeout objects.
        self._client_timeout = aiohttp.ClientTimeout(
            total=None, connect=timeouts.connect, sock_connect=timeouts.connect
        )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections, ttl_dns_cache=300, keepalive_timeout=30, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._client_timeout,
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                trust_env=False,
            )
        return self._session

    async def request(self, req: HTTPRequest) -> HTTPResponse:
        session = self._get_session()
        try:
            with Deadline(self.timeouts.first_byte):
                resp = await session.request(
                    req.method, req.url, headers=req.headers, data=req.body, allow_redirects=False
                )
        except TimeoutError:
            raise self.timeout_error("waiting for the first byte") from None
        except (aiohttp.ClientConnectorError, aiohttp.ClientSSLError) as exc:
            raise self.connect_error() from exc
        except aiohttp.ClientError as exc:
            raise self.broken_error() from exc
        return _AiohttpResponse(resp, self)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# --- mock -------------------------------------------------------------------


@dataclass
class MockResponse:
    """A scripted response: a status, headers and a body (bytes or chunks)."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Raised after the given chunks have been yielded (mid-stream failure).
    error_after: BaseException | None = None


class _MockHTTPResponse(HTTPResponse):
    def __init__(self, scripted: MockResponse) -> None:
        self.status = scripted.status
        self.headers = CIMultiDictProxy(CIMultiDict(scripted.headers))
        self._scripted = scripted
        self.closed = False

    async def read(self) -> bytes:
        data = b"".join([c async for c in self.iter_chunks()])
        return data

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        body = self._scripted.body
        for chunk in [body] if isinstance(body, bytes) else body:
            await asyncio.sleep(0)
            yield chunk
        if self._scripted.error_after is not None:
            raise self._scripted.error_after

    async def aclose(self) -> None:
        self.closed = True


class MockTransport(Transport):
    """A transport that answers from a handler function and records requests."""

    def __init__(self, handler: Callable[[HTTPRequest], MockResponse]) -> None:
        self.handler = handler
        self.requests: list[HTTPRequest] = []

    async def request(self, req: HTTPRequest) -> HTTPResponse:
        self.requests.append(req)
        return _MockHTTPResponse(self.handler(req))

    def json_bodies(self) -> list[Any]:
        """The JSON bodies sent so far, decoded."""
        import json

        return [json.loads(r.body) for r in self.requests]
