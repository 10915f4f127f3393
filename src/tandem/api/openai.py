"""The OpenAI-compatible endpoints: thin adapters from HTTP to :class:`Gateway`.

Each handler reads and validates the body, builds a :class:`Call`, hands it
to the gateway and writes the reply with headers saying which model and
provider served it, why, and what it cost.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tandem.call import Call, Endpoint, KeyInfo
from tandem.errors import InvalidRequest, ModelNotFound, RequestTooLarge, TandemError
from tandem.gateway import Gateway
from tandem.protocol import (
    SSE_DONE,
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    Hints,
    decode_request,
    sse_event,
)

__all__ = ["authenticate", "chat_completions", "completions", "embeddings", "get_model", "list_models"]

_HINT_HEADERS = {
    "x-tandem-max-cost": ("max_cost", float),
    "x-tandem-max-latency-ms": ("max_latency_ms", float),
    "x-tandem-min-quality": ("min_quality", float),
    "x-tandem-privacy": ("privacy", str),
}
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def authenticate(request: Request) -> KeyInfo | None:
    """The caller's key (None when auth is off); raises AuthenticationError."""
    header = request.headers.get("authorization")
    token = None
    if header:
        scheme, _, value = header.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else header.strip()
    elif "x-api-key" in request.headers:
        token = request.headers["x-api-key"]
    key: KeyInfo | None = await request.app.state.gateway.accountant.authenticate(token)
    return key


async def _read_body(request: Request) -> bytes:
    limit: int = request.app.state.max_body
    length = request.headers.get("content-length")
    if length is not None:
        try:
            if int(length) > limit:
                raise RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
        except ValueError:
            raise InvalidRequest("Invalid Content-Length header.") from None
        return await request.body()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _hints(request: Request, body_hints: Hints | None) -> Hints | None:
    found: dict[str, Any] = {}
    for header, (name, kind) in _HINT_HEADERS.items():
        value = request.headers.get(header)
        if value is not None:
            try:
                found[name] = kind(value)
            except ValueError:
                raise InvalidRequest(f"Header {header} must be a {kind.__name__}.", param=header) from None
    caps = request.headers.get("x-tandem-capabilities")
    if caps:
        found["capabilities"] = [c.strip() for c in caps.split(",") if c.strip()]
    if not found:
        return body_hints
    if body_hints is not None:
        import msgspec

        found = {**msgspec.structs.asdict(body_hints), **found}
    privacy = found.get("privacy")
    if privacy is not None and privacy not in ("local", "trusted", "public"):
        raise InvalidRequest("x-tandem-privacy must be local, trusted or public.", param="x-tandem-privacy")
    return Hints(**found)


def _headers(call: Call) -> dict[str, str]:
    h = {"x-request-id": call.request_id}
    if call.model is not None:
        h["x-tandem-model"] = call.model
        h["x-tandem-provider"] = call.provider or ""
        h["x-tandem-cost-usd"] = f"{call.cost_usd:.8f}"
    d = call.decision
    if d is not None:
        if d.route:
            h["x-tandem-route"] = d.route
        h["x-tandem-route-reason"] = d.reason.encode("ascii", "replace").decode()
    if call.retries or call.fallbacks:
        h["x-tandem-retries"] = str(call.retries)
        h["x-tandem-fallbacks"] = str(call.fallbacks)
    if call.privacy_counts:
        h["x-tandem-privacy"] = ",".join(f"{k}:{v}" for k, v in sorted(call.privacy_counts.items()))
        h["x-tandem-privacy-action"] = call.privacy_action or "allow"
    return h


async def _serve(request: Request, endpoint: Endpoint, kind: type[Any]) -> Response:
    key = await authenticate(request)
    body = await _read_body(request)
    params, raw = decode_request(body, kind)
    stream = bool(getattr(params, "stream", False))
    opts = getattr(params, "stream_options", None)
    call = Call(
        endpoint=endpoint,
        requested=params.model,
        body=raw,
        params=params,
        stream=stream,
        include_usage=bool(opts and opts.include_usage),
        hints=_hints(request, params.tandem),
        key=key,
        request_id=request.headers.get("x-request-id") or os.urandom(8).hex(),
    )
    gateway: Gateway = request.app.state.gateway
    if not stream:
        result = await gateway.complete(call)
        return Response(orjson.dumps(result.body), media_type="application/json", headers=_headers(call))
    chunks = gateway.stream(call)
    # Pull the first chunk before answering, so that errors before it get a
    # proper HTTP status instead of a 200 stream carrying an error.
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = None
    return StreamingResponse(
        _sse(call, first, chunks), media_type="text/event-stream", headers={**_headers(call), **_SSE_HEADERS}
    )


async def _sse(call: Call, first: dict[str, Any] | None, chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    try:
        if first is not None:
            yield sse_event(orjson.dumps(first))
        async for chunk in chunks:
            yield sse_event(orjson.dumps(chunk))
    except TandemError as exc:
        # A failed stream ends with an error event, never a clean [DONE].
        yield sse_event(orjson.dumps(exc.to_dict()))
        return
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    summary = {"model": call.model, "provider": call.provider, "cost_usd": round(call.cost_usd, 10)}
    yield b": tandem " + orjson.dumps(summary) + b"\n\n"
    yield SSE_DONE


async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``."""
    return await _serve(request, "chat", ChatCompletionRequest)


async def completions(request: Request) -> Response:
    """``POST /v1/completions``."""
    return await _serve(request, "completions", CompletionRequest)


async def embeddings(request: Request) -> Response:
    """``POST /v1/embeddings``."""
    return await _serve(request, "embeddings", EmbeddingRequest)


def _model_entry(gateway: Gateway, name: str, created: int) -> dict[str, Any]:
    model = gateway.router.model(name)
    if model is not None:
        extra = {
            "kind": "model",
            "provider": model.provider,
            "privacy": model.privacy,
            "context_window": model.context_window,
            "price_per_million": {"input": model.price.input, "output": model.price.output},
            "capabilities": sorted(model.capabilities),
            "healthy": gateway.breakers[name].state != "open",
        }
        owner = model.provider
    else:
        route = gateway.router.route(name)
        assert route is not None
        extra = {"kind": "route", "candidates": route.candidates, "objective": route.objective}
        owner = "tandem"
    return {"id": name, "object": "model", "created": created, "owned_by": owner, "tandem": extra}


def _visible(key: KeyInfo | None, gateway: Gateway) -> list[str]:
    names = gateway.router.names()
    if key is None or key.allowed_models is None:
        return names
    return [n for n in names if n in key.allowed_models]


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: every model and route this key may call."""
    key = await authenticate(request)
    gateway: Gateway = request.app.state.gateway
    created = request.app.state.started
    data = [_model_entry(gateway, n, created) for n in _visible(key, gateway)]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")


async def get_model(request: Request) -> Response:
    """``GET /v1/models/{id}``."""
    key = await authenticate(request)
    gateway: Gateway = request.app.state.gateway
    name = request.path_params["model"]
    if name not in _visible(key, gateway):
        raise ModelNotFound(f"The model {name!r} does not exist.", param="model")
    entry = _model_entry(gateway, name, request.app.state.started)
    return Response(orjson.dumps(entry), media_type="application/json")
