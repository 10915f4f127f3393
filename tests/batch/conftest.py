"""Fixtures for batch and SQL tests: a private TANDEM_HOME, configs, tables, a slow upstream."""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.upstream import Upstream

FAKE_MODELS = """\
privacy: {default_policy: allow}
models:
  - name: fake-a
    provider: fake
    price: {input: 1, output: 2}
    capabilities: [chat, json]
  - name: fake-b
    provider: fake
    price: {input: 10, output: 30}
    quality: 0.9
    capabilities: [chat, json]
  - name: fake-slow
    provider: fake
    capabilities: [chat, json]
    options: {delay_ms: 200}
  - name: fake-broken
    provider: fake
    capabilities: [chat, json]
    options: {errors: [400, 400]}
routes:
  - name: auto
    candidates: [fake-a, fake-b]
"""


@pytest.fixture(autouse=True)
def tandem_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data dir (the store's SQLite ledger lives there)."""
    home = tmp_path / "home"
    monkeypatch.setenv("TANDEM_HOME", str(home))
    for var in ("TANDEM_CONFIG", "TANDEM_KEY", "TANDEM_DATABASE_URL", "TANDEM_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """``write_config(yaml_text)`` -> the path of a config file."""
    count = [0]

    def write(text: str) -> Path:
        count[0] += 1
        path = tmp_path / f"tandem-{count[0]}.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def fake_config(write_config: Callable[[str], Path]) -> Path:
    return write_config(FAKE_MODELS)


def echo_config(base_url: str, model_id: str = "ok", price: float = 1.0) -> str:
    """A config whose model ``echo`` is a real HTTP upstream (tests/upstream.py)."""
    return f"""\
privacy: {{default_policy: allow}}
models:
  - name: echo
    provider: openai
    model: {model_id}
    base_url: {base_url}
    price: {{input: {price}, output: {price}}}
    capabilities: [chat, json]
    max_concurrency: 64
"""


class SlowUpstream(Upstream):
    """The scripted upstream, answering after ``delay`` seconds; records each
    request's last user message on arrival (before the delay)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.arrivals: list[str] = []
        self._arrivals_lock = threading.Lock()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with self._arrivals_lock:
            self.arrivals.append(str(body["messages"][-1]["content"]))
        await asyncio.sleep(self.delay)
        return await super()._chat(request)


def user_prompts(up: Upstream) -> list[str]:
    return [str(r["messages"][-1]["content"]) for r in up.requests]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
