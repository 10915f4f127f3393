"""The three POST endpoints as raw ASGI apps: the hot path.

``/v1/chat/completions``, ``/v1/completions`` and ``/v1/embeddings`` carry
nearly all traffic, so they skip Starlette's request, response and
middleware objects (measured in ``bench/RESULTS.md``: about 30% more
requests per second per worker). :class:`TandemApp` hands them straight to
an :class:`OpenAIEndpoint`; everything else goes through Starlette.

Each endpoint reads and validates the body, builds a :class:`Call`, hands it
to the gateway and writes the reply with headers saying which model and
provider served it, why, and what it cost. Streams are written event by
event; a client that disconnects cancels the upstream call.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.applications import Starlette

from tandem.api.openai import call_headers, hints_from_headers, token_from_headers
from tandem.call import Call, Endpoint, ProviderStream
from tandem.errors import InvalidRequest, RequestTooLarge, TandemError
from tandem.gateway import Gateway
from tandem.protocol import SSE_DONE, ChatCompletionRequest, CompletionRequest, EmbeddingRequest, decode_request

__all__ = ["ENDPOINTS", "OpenAIEndpoint", "TandemApp"]

log = logging.getLogger("tandem.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
_INTERNAL = orjson.dumps(
    {"error": {"message": "Internal server error.", "type": "server_error", "param": None, "code": "internal_error"}}
)


def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in headers.items()]


async def _send_json(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [_JSON, (b"content-length", str(len(body)).encode()), *_encode(headers)]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    length = headers.get("content-length")
    if length is not None:
        try:
            if int(length) > limit:
                raise RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
        except ValueError:
            raise InvalidRequest("Invalid Content-Length header.") from None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class OpenAIEndpoint:
    """One OpenAI POST endpoint as an ASGI app."""

    def __init__(self, endpoint: Endpoint, kind: type[Any]) -> None:
        self.endpoint = endpoint
        self.kind = kind
        # Request ids: random per process, then counted (os.urandom per
        # request is a system call on the hot path).
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        gateway: Gateway = state.gateway
        try:
            call = await self._call(gateway, headers, receive, state.max_body)
            if not call.stream:
                result = await gateway.complete(call)
                await _send_json(send, 200, orjson.dumps(result.body), call_headers(call))
                return
            chunks = gateway.stream_events(call)
            # Pull the first chunk before answering, so that errors before it
            # get a proper HTTP status instead of a 200 stream with an error.
            first = await anext(chunks, None)
        except TandemError as exc:
            await _send_json(send, exc.status_code, orjson.dumps(exc.to_dict()), exc.headers())
            return
        except Exception:
            log.exception("unexpected error on POST %s", scope.get("path"))
            await _send_json(send, 500, _INTERNAL, {})
            return
        await _stream(receive, send, call, first, chunks)

    async def _call(self, gateway: Gateway, headers: dict[str, str], receive: Receive, limit: int) -> Call:
        key = await gateway.accountant.authenticate(token_from_headers(headers))
        params, raw = decode_request(await _read_body(receive, headers, limit), self.kind)
        opts = getattr(params, "stream_options", None)
        return Call(
            endpoint=self.endpoint,
            requested=params.model,
            body=raw,
            params=params,
            stream=bool(getattr(params, "stream", False)),
            include_usage=bool(opts and opts.include_usage),
            hints=hints_from_headers(headers, params.tandem),
            key=key,
            request_id=headers.get("x-request-id") or f"{self._id_prefix}{next(self._ids):06x}",
        )


async def _stream(
    receive: Receive, send: Send, call: Call, first: dict[str, Any] | bytes | None, chunks: ProviderStream
) -> None:
    """Write the stream as server-sent events; stop the upstream if the client leaves.

    Chunks come as dicts, or as the upstream's JSON bytes when they pass
    through unchanged (:meth:`Gateway.stream_events`)."""
    task = asyncio.current_task()
    assert task is not None
    gone = finished = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        if not finished:  # only while events are still being written
            gone = True
            task.cancel()

    watcher = asyncio.ensure_future(watch())
    await send({"type": "http.response.start", "status": 200, "headers": [*_SSE, *_encode(call_headers(call))]})
    try:
        if first is not None:
            await send({"type": "http.response.body", "body": _event(first), "more_body": True})
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": _event(chunk), "more_body": True})
        finished = True
        summary = {"model": call.model, "provider": call.provider, "cost_usd": round(call.cost_usd, 10)}
        tail = b": tandem " + orjson.dumps(summary) + b"\n\n" + SSE_DONE
    except TandemError as exc:
        # A failed stream ends with an error event, never a clean [DONE].
        finished = True
        tail = b"data: " + orjson.dumps(exc.to_dict()) + b"\n\n"
    except asyncio.CancelledError:
        if not gone:
            raise
        return  # the client left; the gateway has closed the upstream call
    finally:
        watcher.cancel()
        await chunks.aclose()
    await send({"type": "http.response.body", "body": tail})


def _event(chunk: dict[str, Any] | bytes) -> bytes:
    """One server-sent event of a chunk (already JSON when passed through)."""
    return b"data: " + (chunk if type(chunk) is bytes else orjson.dumps(chunk)) + b"\n\n"


ENDPOINTS: dict[str, OpenAIEndpoint] = {
    "/v1/chat/completions": OpenAIEndpoint("chat", ChatCompletionRequest),
    "/v1/completions": OpenAIEndpoint("completions", CompletionRequest),
    "/v1/embeddings": OpenAIEndpoint("embeddings", EmbeddingRequest),
}


class TandemApp(Starlette):
    """Starlette, with the hot POST endpoints served without its middleware."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = ENDPOINTS.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
