"""The admin HTTP API (``/admin/...``) and a key's own usage (``/v1/usage``).

JSON in and out. Every ``/admin`` endpoint needs the admin key (401 without
a valid key, 403 with a key that is not the admin key), whatever
``auth.mode`` says; ``/v1/usage`` takes any valid key and shows only that
key's usage (the admin key sees all). The store is ``request.app.state.store``;
errors are :mod:`tandem.errors` exceptions for the app's one handler.

    POST   /admin/keys                 create (the secret is in this reply only)
    GET    /admin/keys[?all=true]      list (no secrets, no hashes)
    GET    /admin/keys/{key}           one key (id or prefix), with its spend
    PATCH  /admin/keys/{key}           change budgets, limits, models, policy, expiry, tags
    POST   /admin/keys/{key}/revoke    revoke (also DELETE /admin/keys/{key})
    GET    /admin/usage?by=key|model|route|day&since=7d&key=...
    GET    /v1/usage?by=...&since=...
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tandem.call import KeyInfo
from tandem.errors import InvalidRequest, PermissionDenied
from tandem.store import KeySpec, KeyUpdate, Store, parse_since

__all__ = ["admin_routes", "routes", "usage_routes"]

_MAX_BODY = 64 * 1024


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _caller(request: Request) -> KeyInfo:
    return await _store(request).verify(_bearer(request))


async def _admin(request: Request) -> Store:
    info = await _caller(request)
    if not info.is_admin:
        raise PermissionDenied("this endpoint needs the admin key")
    return _store(request)


async def _body(request: Request, model: type[BaseModel]) -> Any:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise InvalidRequest("request body too large")
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or None
        msg = err["msg"].removeprefix("Value error, ")
        raise InvalidRequest(f"{where}: {msg}" if where else msg, param=where) from None


def _key_json(store: Store, rec: Any, spend: dict[str, float] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = rec.public()
    if spend is not None:
        out["spend_usd"] = spend
    return out


async def create_key(request: Request) -> Response:
    """Create a key; the reply carries its secret, which is never shown again."""
    store = await _admin(request)
    spec = await _body(request, KeySpec)
    rec, secret = await store.create_key(spec)
    return _json({"key": _key_json(store, rec), "secret": secret}, 201)


async def list_keys(request: Request) -> Response:
    """Every key, without secrets or hashes."""
    store = await _admin(request)
    include = request.query_params.get("all", "").lower() in ("1", "true", "yes")
    recs = await store.list_keys(include_revoked=include)
    return _json({"data": [_key_json(store, r) for r in recs]})


async def get_key(request: Request) -> Response:
    """One key, with its current spend."""
    store = await _admin(request)
    rec = await store.get_key(request.path_params["key"])
    return _json(_key_json(store, rec, await store.key_spend(rec.id)))


async def update_key(request: Request) -> Response:
    """Change the fields given in the body (null clears a limit)."""
    store = await _admin(request)
    change = await _body(request, KeyUpdate)
    rec = await store.update_key(request.path_params["key"], change)
    return _json(_key_json(store, rec))


async def revoke_key(request: Request) -> Response:
    """Revoke a key; it is refused from the next request on."""
    store = await _admin(request)
    rec = await store.revoke_key(request.path_params["key"])
    return _json(_key_json(store, rec))


def _usage_params(request: Request) -> tuple[str, float | None]:
    q = request.query_params
    by = q.get("by", "key")
    if by not in ("key", "model", "route", "day"):
        raise InvalidRequest("by: must be one of key, model, route, day", param="by")
    return by, parse_since(q.get("since"))


async def admin_usage(request: Request) -> Response:
    """Usage summary over all keys, or one (``key=`` id or prefix)."""
    store = await _admin(request)
    by, since = _usage_params(request)
    key = request.query_params.get("key") or None
    rows = await store.usage_summary(by, since, key)
    return _json({"by": by, "since": since, "key": key, "data": [r.to_dict() for r in rows]})


async def own_usage(request: Request) -> Response:
    """The calling key's own usage; another key's only for the admin key."""
    info = await _caller(request)
    store = _store(request)
    by, since = _usage_params(request)
    asked = request.query_params.get("key") or None
    if info.is_admin:
        key = asked
    else:
        if asked is not None and asked != info.id:
            mine = store.keys.by_id.get(info.id)
            if mine is None or asked != mine.prefix:
                raise PermissionDenied("a key may only see its own usage")
        key = info.id
    rows = await store.usage_summary(by, since, key)
    return _json({"by": by, "since": since, "key": key, "data": [r.to_dict() for r in rows]})


admin_routes = [
    Route("/admin/keys", create_key, methods=["POST"]),
    Route("/admin/keys", list_keys, methods=["GET"]),
    Route("/admin/keys/{key}", get_key, methods=["GET"]),
    Route("/admin/keys/{key}", update_key, methods=["PATCH"]),
    Route("/admin/keys/{key}", revoke_key, methods=["DELETE"]),
    Route("/admin/keys/{key}/revoke", revoke_key, methods=["POST"]),
    Route("/admin/usage", admin_usage, methods=["GET"]),
]
usage_routes = [Route("/v1/usage", own_usage, methods=["GET"])]
#: Everything this module serves; mount in the app's route list.
routes = admin_routes + usage_routes
