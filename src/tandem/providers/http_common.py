"""Helpers shared by the HTTP providers: options, transport choice, status
mapping and SSE parsing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Literal
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import orjson

from tandem.config import ModelConfig
from tandem.errors import (
    ContextLengthExceeded,
    TandemError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tandem.providers.base import ProviderOptions
from tandem.providers.inloop import InLoopTransport
from tandem.providers.transport import AiohttpTransport, Transport

__all__ = ["HTTPOptions", "SSEEvent", "http_transport", "iter_sse", "passes_through", "status_error"]

_MAX_MESSAGE = 500


class HTTPOptions(ProviderOptions):
    """Options every HTTP provider has."""

    #: The HTTP client: ``loop`` (tandem's own HTTP/1.1 client on the event
    #: loop, the default: the least CPU per request and per streamed chunk),
    #: ``reqwest`` (pyreqwest) or ``aiohttp``. Where an HTTP proxy applies to
    #: the upstream (``HTTPS_PROXY`` and the like), ``loop`` means
    #: ``reqwest``, which honours it.
    http_client: Literal["loop", "reqwest", "aiohttp"] = "loop"


def _proxied(url: str) -> bool:
    """Whether the environment sets an HTTP proxy for ``url``."""
    parts = urlsplit(url)
    proxies = getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not proxy_bypass(parts.hostname or "")


def http_transport(config: ModelConfig, options: HTTPOptions, headers: Mapping[str, str] | None = None) -> Transport:
    """The pooled transport for one deployment, per its ``http_client`` option.

    ``headers``: the ones every request carries (reqwest sends them as
    client defaults, which is cheaper).
    """
    client = options.http_client
    # The providers' own default URLs are https.
    if client == "loop" and not _proxied(config.base_url or "https://"):
        return InLoopTransport(config.name, config.timeouts, max_connections=config.max_concurrency)
    if client == "aiohttp":
        return AiohttpTransport(config.name, config.timeouts, max_connections=config.max_concurrency)
    from tandem.providers.reqwest import ReqwestTransport  # Rust extension: load on use

    return ReqwestTransport(config.name, config.timeouts, max_connections=config.max_concurrency, headers=headers)


def _upstream_message(body: bytes) -> str | None:
    """The upstream's own error message, if its body is a JSON error."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])[:_MAX_MESSAGE]
        if isinstance(err, str):
            return err[:_MAX_MESSAGE]
    return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def status_error(provider: str, status: int, body: bytes, headers: Mapping[str, str]) -> TandemError:
    """Map an upstream HTTP error status to tandem's error tree.

    The message carries the upstream's own error text (never its headers).
    """
    detail = _upstream_message(body)
    suffix = f": {detail}" if detail else ""
    if status == 429:
        return UpstreamRateLimited(
            f"Upstream {provider} is rate limiting requests{suffix}",
            provider=provider,
            retry_after=_retry_after(headers),
        )
    if status in (400, 404, 413, 422):
        if detail and ("context length" in detail.lower() or "context_length" in detail.lower()):
            return ContextLengthExceeded(f"Upstream {provider}{suffix}", provider=provider)
        return UpstreamBadRequest(f"Upstream {provider} rejected the request{suffix}", provider=provider)
    if status in (401, 403):
        # The client's key is fine; tandem's upstream credentials are not.
        return UpstreamError(f"Upstream {provider} refused tandem's credentials (status {status}).", provider=provider)
    if status in (503, 529):
        return UpstreamUnavailable(
            f"Upstream {provider} is unavailable{suffix}",
            provider=provider,
            retry_after=_retry_after(headers),
        )
    if status in (504, 524):
        return UpstreamTimeout(f"Upstream {provider} timed out{suffix}", provider=provider)
    return UpstreamError(f"Upstream {provider} failed with status {status}{suffix}", provider=provider)


def passes_through(data: bytes) -> bool:
    """Whether a streamed event's JSON can go to the client as the upstream wrote it.

    It must be an object with at least one choice and no ``usage`` or
    ``error`` member, which the gateway reads. The test is on the bytes,
    without parsing them, and errs one way only: a member named so, a value
    spelled so (``"content":"error"``) or other spacing than ``"choices":[{``
    and ``"choices": [{`` send the event the parsed way, which costs only
    the parse. OpenAI, vLLM and llama.cpp's server write their content
    chunks so.
    """
    return (
        data[:1] == b"{"
        and data[-1:] == b"}"
        and (b'"choices":[{' in data or b'"choices": [{' in data)
        and b'"usage"' not in data
        and b'"error"' not in data
    )


class SSEEvent:
    """One server-sent event: its ``event`` name (or None) and ``data``."""

    __slots__ = ("data", "event")

    def __init__(self, event: str | None, data: bytes) -> None:
        self.event = event
        self.data = data


async def iter_sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[SSEEvent]:
    """Parse a byte stream into server-sent events (``\\n`` or ``\\r\\n`` lines).

    A chunk that is exactly one ``data: ...`` line and its blank line (what
    OpenAI-compatible servers send, one event per write) is taken whole,
    without the line-by-line parse.
    """
    buf = b""
    event: str | None = None
    data: list[bytes] = []
    async for chunk in chunks:
        if not buf and not data and event is None and chunk.startswith(b"data: ") and chunk.endswith(b"\n\n"):
            value = chunk[6:-2]
            if b"\n" not in value and b"\r" not in value:
                yield SSEEvent(None, value)
                continue
        buf += chunk
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line = buf[:nl].rstrip(b"\r")
            buf = buf[nl + 1 :]
            if not line:
                if data:
                    yield SSEEvent(event, b"\n".join(data))
                event, data = None, []
                continue
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value.decode("utf-8", "replace")
    # A last line without its newline still counts (some servers end so).
    line = buf.rstrip(b"\r")
    if line.startswith(b"data:"):
        value = line[5:]
        data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield SSEEvent(event, b"\n".join(data))
