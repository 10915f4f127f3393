"""The OpenAI model-listing endpoints, and helpers shared with the hot path.

The POST endpoints themselves live in :mod:`tandem.api.serving`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import orjson
from starlette.requests import Request
from starlette.responses import Response

from tandem.call import Call, KeyInfo
from tandem.errors import InvalidRequest, ModelNotFound
from tandem.gateway import Gateway
from tandem.protocol import Hints

__all__ = ["authenticate", "call_headers", "get_model", "hints_from_headers", "list_models", "token_from_headers"]

_HINT_HEADERS = {
    "x-tandem-max-cost": ("max_cost", float),
    "x-tandem-max-latency-ms": ("max_latency_ms", float),
    "x-tandem-min-quality": ("min_quality", float),
    "x-tandem-privacy": ("privacy", str),
}


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    """The API key from ``Authorization: Bearer ...`` (or ``x-api-key``)."""
    header = headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else header.strip()
    return headers.get("x-api-key")


async def authenticate(request: Request) -> KeyInfo | None:
    """The caller's key (None when auth is off); raises AuthenticationError."""
    key: KeyInfo | None = await request.app.state.gateway.accountant.authenticate(token_from_headers(request.headers))
    return key


def hints_from_headers(headers: Mapping[str, str], body_hints: Hints | None) -> Hints | None:
    """Routing hints from ``x-tandem-*`` headers, over the body's ``tandem`` field."""
    found: dict[str, Any] = {}
    for header, (name, kind) in _HINT_HEADERS.items():
        value = headers.get(header)
        if value is not None:
            try:
                found[name] = kind(value)
            except ValueError:
                raise InvalidRequest(f"Header {header} must be a {kind.__name__}.", param=header) from None
    caps = headers.get("x-tandem-capabilities")
    if caps:
        found["capabilities"] = [c.strip() for c in caps.split(",") if c.strip()]
    if not found:
        return body_hints
    if body_hints is not None:
        found = {**msgspec.structs.asdict(body_hints), **found}
    privacy = found.get("privacy")
    if privacy is not None and privacy not in ("local", "trusted", "public"):
        raise InvalidRequest("x-tandem-privacy must be local, trusted or public.", param="x-tandem-privacy")
    return Hints(**found)


def call_headers(call: Call) -> dict[str, str]:
    """Response headers: which model and provider served the call, why, and its cost."""
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
