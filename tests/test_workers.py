"""``tandem serve --workers 2`` on the embedded SQLite store: the workers share
keys, rate limits and the ledger, and ``/metrics`` counts every worker's requests
whichever worker answers the scrape."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

ADMIN = "tk-admin-workers-0123456789abcdefghijklmnopqrstuvw"
CONFIG = """
auth: {mode: keys}
models:
  - name: m
    provider: fake
    price: {input: 1, output: 1}
"""
_REQUESTS = re.compile(r'^tandem_requests_total\{[^}]*status="(\d+)"[^}]*\} ([0-9.e+]+)$', re.M)


def _chat(base_url: str, secret: str) -> int:
    # A new connection per request, so that both workers take some.
    r = httpx.post(
        base_url + "/chat/completions",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    return r.status_code


def _counted(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    counts: dict[str, float] = {}
    for status, value in _REQUESTS.findall(text):
        counts[status] = counts.get(status, 0.0) + float(value)
    return counts


def test_workers_share_limits_ledger_and_metrics(start_server) -> None:
    server = start_server(CONFIG, env={"TANDEM_ADMIN_KEY": ADMIN}, args=["--workers", "2"])
    admin = {"authorization": f"Bearer {ADMIN}"}
    r = httpx.post(server.url + "/admin/keys", headers=admin, json={"name": "w", "rpm_limit": 5})
    assert r.status_code in (200, 201), r.text
    limited = r.json()["secret"]
    r = httpx.post(server.url + "/admin/keys", headers=admin, json={"name": "free"})
    free, free_id = r.json()["secret"], r.json()["key"]["id"]

    # The per-minute limit holds across both workers.
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: _chat(server.base_url, limited), range(12)))
        assert statuses == [200] * 5 + [429] * 7
        assert set(pool.map(lambda _: _chat(server.base_url, free), range(40))) == {200}

    # Every scrape, whichever worker answers it, counts all 52 requests.
    for _ in range(8):
        assert _counted(server.url) == {"200": 45.0, "429": 7.0}

    # Both workers write to the one ledger.
    deadline = time.monotonic() + 5
    while True:
        usage = httpx.get(server.url + "/admin/usage", headers=admin, params={"by": "key", "key": free_id}).json()
        if sum(row["requests"] for row in usage["data"]) == 40 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sum(row["requests"] for row in usage["data"]) == 40
