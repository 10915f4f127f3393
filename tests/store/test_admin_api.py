"""The admin API over HTTP (httpx ASGI transport): access control and behaviour."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tandem.api.admin import routes
from tandem.errors import TandemError
from tandem.store import KeySpec, Store

from .conftest import ADMIN_SECRET, make_call
from .test_keys import INJECTIONS

ENDPOINTS = [
    ("POST", "/admin/keys", {"name": "x"}),
    ("GET", "/admin/keys", None),
    ("GET", "/admin/keys/{id}", None),
    ("PATCH", "/admin/keys/{id}", {"rpm_limit": 5}),
    ("POST", "/admin/keys/{id}/revoke", None),
    ("DELETE", "/admin/keys/{id}", None),
    ("GET", "/admin/usage?by=model", None),
]


def _handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TandemError)
    return JSONResponse(exc.to_dict(), status_code=exc.status_code)


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=routes)
    app.state.store = store
    app.add_exception_handler(TandemError, _handler)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def _auth(secret: str | None) -> dict[str, str]:
    return {} if secret is None else {"Authorization": f"Bearer {secret}"}


async def _call(c: httpx.AsyncClient, method: str, path: str, body: Any, secret: str | None) -> httpx.Response:
    return await c.request(method, path, json=body, headers=_auth(secret))


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_every_admin_endpoint_is_guarded(
    client: httpx.AsyncClient, store: Store, method: str, path: str, body: Any
) -> None:
    target, _ = await store.create_key(KeySpec(name="target"))
    _user, user_secret = await store.create_key(KeySpec(name="user"))
    url = path.format(id=target.id)
    r = await _call(client, method, url, body, None)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = await _call(client, method, url, body, "tk-not-a-key")
    assert r.status_code == 401
    r = await _call(client, method, url, body, user_secret)
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert (await store.get_key(target.id)).revoked_at is None
    assert (await store.get_key(target.id)).rpm_limit is None
    assert len(await store.list_keys()) == 2
    r = await _call(client, method, url, body, ADMIN_SECRET)
    assert r.status_code in (200, 201), r.text


async def test_key_lifecycle(client: httpx.AsyncClient, store: Store) -> None:
    r = await _call(
        client,
        "POST",
        "/admin/keys",
        {
            "name": "svc",
            "team": "data",
            "tags": ["prod"],
            "allowed_models": ["m1"],
            "budget_day_usd": 5,
            "rpm_limit": 60,
            "privacy_policy": "redact",
        },
        ADMIN_SECRET,
    )
    assert r.status_code == 201
    secret, key = r.json()["secret"], r.json()["key"]
    assert secret.startswith("tk-") and key["prefix"] == secret[:11]
    assert await store.authenticate(secret)

    listing = (await _call(client, "GET", "/admin/keys", None, ADMIN_SECRET)).text
    assert secret not in listing and "secret_hash" not in listing and key["id"] in listing

    r = await _call(client, "GET", f"/admin/keys/{key['prefix']}", None, ADMIN_SECRET)
    assert r.json()["spend_usd"]["day"] == 0.0 and r.json()["privacy_policy"] == "redact"

    r = await _call(
        client,
        "PATCH",
        f"/admin/keys/{key['id']}",
        {"budget_day_usd": None, "tpm_limit": 1000, "expires_at": 4e9},
        ADMIN_SECRET,
    )
    assert r.status_code == 200
    assert r.json()["budget_day_usd"] is None and r.json()["tpm_limit"] == 1000
    assert r.json()["rpm_limit"] == 60  # untouched

    r = await _call(client, "POST", f"/admin/keys/{key['id']}/revoke", None, ADMIN_SECRET)
    assert r.json()["revoked_at"] is not None
    with pytest.raises(TandemError):
        await store.authenticate(secret)
    listing = (await _call(client, "GET", "/admin/keys", None, ADMIN_SECRET)).json()["data"]
    assert listing == []
    listing = (await _call(client, "GET", "/admin/keys?all=1", None, ADMIN_SECRET)).json()["data"]
    assert len(listing) == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x", "budget_day_usd": -1},
        {"name": "x", "rpm_limit": "many"},
        {"name": "x", "privacy_policy": "maybe"},
        {"name": "x", "unknown": 1},
        [1, 2],
    ],
)
async def test_bad_input_is_a_clear_400(client: httpx.AsyncClient, body: Any) -> None:
    r = await _call(client, "POST", "/admin/keys", body, ADMIN_SECRET)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error" and r.json()["error"]["message"]
    r = await client.post("/admin/keys", content=b"{not json", headers=_auth(ADMIN_SECRET))
    assert r.status_code == 400


async def test_unknown_key_is_404(client: httpx.AsyncClient) -> None:
    r = await _call(client, "GET", "/admin/keys/key_nope", None, ADMIN_SECRET)
    assert r.status_code == 404


async def _seed_usage(store: Store) -> tuple[str, str, str, str]:
    a, sa = await store.create_key(KeySpec(name="a"))
    b, sb = await store.create_key(KeySpec(name="b"))
    for rec, cost in ((a, 1.0), (a, 2.0), (b, 10.0)):
        call = make_call(await store.authenticate(sa if rec is a else sb), cost=cost)
        await store.admit(call, 0.0)
        store.settle(call)
    await store.ledger.flush()
    return a.id, sa, b.id, sb


async def test_admin_usage_and_own_usage(client: httpx.AsyncClient, store: Store) -> None:
    a, sa, b, _sb = await _seed_usage(store)
    r = await _call(client, "GET", "/admin/usage?by=key&since=1h", None, ADMIN_SECRET)
    costs = {row["group"]: row["cost_usd"] for row in r.json()["data"]}
    assert costs == {a: 3.0, b: 10.0}
    r = await _call(client, "GET", f"/admin/usage?by=model&key={b}", None, ADMIN_SECRET)
    assert [row["cost_usd"] for row in r.json()["data"]] == [10.0]

    r = await _call(client, "GET", "/v1/usage?by=key", None, sa)
    assert r.status_code == 200
    assert {row["group"]: row["cost_usd"] for row in r.json()["data"]} == {a: 3.0}
    r = await _call(client, "GET", f"/v1/usage?key={b}", None, sa)
    assert r.status_code == 403
    r = await _call(client, "GET", "/v1/usage", None, None)
    assert r.status_code == 401
    r = await _call(client, "GET", "/v1/usage", None, ADMIN_SECRET)
    assert len(r.json()["data"]) == 2


@pytest.mark.parametrize("evil", INJECTIONS)
async def test_injection_in_query_parameters(client: httpx.AsyncClient, store: Store, evil: str) -> None:
    _a, sa, _b, _sb = await _seed_usage(store)
    for query in ({"by": evil}, {"since": evil}, {"key": evil}):
        r = await client.get("/admin/usage", params=query, headers=_auth(ADMIN_SECRET))
        assert r.status_code in (400, 404), r.text
        r = await client.get("/v1/usage", params=query, headers=_auth(sa))
        assert r.status_code in (400, 403), r.text
    r = await client.get(f"/admin/keys/{evil}", headers=_auth(ADMIN_SECRET))
    assert r.status_code in (404, 405)
    r = await client.get("/v1/usage", headers=_auth(evil))
    assert r.status_code == 401
    total = await store.usage_summary("key")
    assert sum(row.cost_usd for row in total) == 13.0 and len(await store.list_keys()) == 2
