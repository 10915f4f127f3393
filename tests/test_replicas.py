"""Two ``tandem serve`` replicas over one PostgreSQL and one Redis."""

from __future__ import annotations

import os
import time

import httpx
import pytest

PG = os.environ.get("TANDEM_TEST_POSTGRES_URL")
REDIS = os.environ.get("TANDEM_TEST_REDIS_URL")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(not (PG and REDIS), reason="needs TANDEM_TEST_POSTGRES_URL and TANDEM_TEST_REDIS_URL"),
]
ADMIN = "tk-admin-replicas-0123456789abcdefghijklmnopqrstuv"
CONFIG = """
auth: {mode: keys}
models:
  - name: m
    provider: fake
    price: {input: 1, output: 1}
"""


def _chat(server, secret: str) -> httpx.Response:
    return httpx.post(
        server.base_url + "/chat/completions",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )


def test_two_replicas_share_keys_limits_and_ledger(start_server, tmp_path) -> None:
    env = {"TANDEM_ADMIN_KEY": ADMIN, "TANDEM_DATABASE_URL": PG, "TANDEM_REDIS_URL": REDIS}
    a = start_server(CONFIG, env=env)
    b = start_server(CONFIG, env=env)
    admin = {"authorization": f"Bearer {ADMIN}"}
    name = f"replica-{time.time_ns()}"
    r = httpx.post(a.url + "/admin/keys", headers=admin, json={"name": name, "rpm_limit": 5})
    assert r.status_code in (200, 201), r.text
    secret, key_id = r.json()["secret"], r.json()["key"]["id"]

    # A key created on replica A works on replica B; the per-minute limit is shared.
    statuses = [_chat(server, secret).status_code for server in (a, b, a, b, a, b, a)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]

    # Both replicas write to the same ledger (in batches, off the request path).
    deadline = time.monotonic() + 5
    while True:
        usage = httpx.get(b.url + "/admin/usage", headers=admin, params={"by": "key", "key": key_id}).json()["data"]
        if sum(row["requests"] for row in usage) == 7 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sum(row["requests"] for row in usage) == 7

    # Revoked on B, refused on A right away (LISTEN/NOTIFY; allow a moment).
    assert httpx.post(b.url + f"/admin/keys/{key_id}/revoke", headers=admin).status_code == 200
    deadline = time.monotonic() + 2
    while _chat(a, secret).status_code != 401:
        assert time.monotonic() < deadline, "revocation did not reach replica A"
        time.sleep(0.05)
