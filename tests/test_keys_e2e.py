"""Keys, budgets and the ledger through a real ``tandem serve`` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

ADMIN = "tk-admin-e2e-0123456789abcdefghijklmnopqrstuvwxyz"
CONFIG = """
auth: {mode: keys}
models:
  - name: m
    provider: fake
    price: {input: 1000, output: 1000}
    options: {delay_ms: %(delay)s}
"""


def _tandem(home: Path, *args: str, config: Path) -> str:
    env = {**os.environ, "TANDEM_HOME": str(home), "TANDEM_ADMIN_KEY": ADMIN}
    return subprocess.run(
        [sys.executable, "-m", "tandem", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout


def _admin(server, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, server.url + path, headers={"authorization": f"Bearer {ADMIN}"}, **kw)


@pytest.fixture
def server(start_server):
    return start_server(CONFIG % {"delay": 0}, env={"TANDEM_ADMIN_KEY": ADMIN})


def test_keys_required_revocation_immediate(server) -> None:
    r = _admin(server, "POST", "/admin/keys", json={"name": "team-a"})
    assert r.status_code in (200, 201), r.text
    secret = r.json()["secret"]
    key_id = r.json()["key"]["id"] if "key" in r.json() else r.json()["id"]
    client = openai.OpenAI(base_url=server.base_url, api_key=secret, max_retries=0)
    assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]).choices

    for bad in ("tk-wrong", "' OR 1=1 --", secret[:-1] + ("x" if secret[-1] != "x" else "y")):
        r = httpx.post(
            server.base_url + "/chat/completions",
            headers={"authorization": f"Bearer {bad}"},
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        assert bad not in r.text
    assert (
        httpx.post(
            server.base_url + "/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]}
        ).status_code
        == 401
    )

    assert _admin(server, "POST", f"/admin/keys/{key_id}/revoke").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    # The secret never appears in the server's log.
    assert secret not in server.log()


def test_budget_is_enforced_over_http(server) -> None:
    # $1000/M tokens: each call costs a few thousandths of a dollar.
    r = _admin(server, "POST", "/admin/keys", json={"name": "tight", "budget_total_usd": 0.02})
    secret = r.json()["secret"]
    client = openai.OpenAI(base_url=server.base_url, api_key=secret, max_retries=0)
    results: list[int] = []

    def one() -> None:
        try:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a b c d e"}], max_tokens=5)
            results.append(200)
        except openai.APIStatusError as exc:
            results.append(exc.status_code)

    threads = [threading.Thread(target=one) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 429 in results and 200 in results
    usage = _admin(server, "GET", "/admin/usage", params={"by": "key"}).json()
    rows = usage["data"]
    spent = sum(row["cost_usd"] for row in rows if row.get("name") == "tight")
    # Reservations bound the overspend by one request's estimate.
    assert spent <= 0.02 + 0.011


def test_sigterm_under_load_loses_no_answered_request(start_server, tmp_path: Path) -> None:
    server = start_server(CONFIG % {"delay": 30}, env={"TANDEM_ADMIN_KEY": ADMIN})
    config = next(tmp_path.glob("tandem-*.yaml"))
    answered: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                try:
                    r = http.post(
                        server.base_url + "/chat/completions",
                        headers={"authorization": f"Bearer {ADMIN}"},
                        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                    )
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    answered.append(r.headers["x-request-id"])

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    # uvicorn shuts down gracefully, then re-raises the signal: exit status -15.
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log()
    stop.set()
    for t in threads:
        t.join()
    assert len(answered) > 20
    rows = json.loads(_tandem(tmp_path, "usage", "--by", "key", "--format", "json", config=config))
    rows = rows["data"] if isinstance(rows, dict) else rows
    recorded = sum(row["requests"] for row in rows)
    assert recorded >= len(answered)
