"""Fixtures for the console tests: a real ``tandem serve`` with fake models,
keys made through the admin API, a bench run, and a headless Chromium.

Browser tests use Selenium with Debian's ``/usr/bin/chromium`` and
``/usr/bin/chromedriver`` (never a downloaded browser) and are skipped, with
the reason, when either is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "console"
ADMIN_KEY = "tk-console-admin-secret-0123456789abcdefghij"
CHEAP_REPLY = "The quick brown fox jumps over the lazy dog."
STRONG_REPLY = "A careful and thorough answer from the strong model."

CONFIG = f"""
auth: {{mode: keys}}
store: {{ledger_flush_seconds: 0.05}}
models:
  - name: cheap
    provider: fake
    price: {{input: 0.1, output: 0.4}}
    quality: 0.5
    capabilities: [chat, completions]
    options: {{replies: ["{CHEAP_REPLY}"], delay_ms: 20}}
  - name: strong
    provider: fake
    price: {{input: 3, output: 15}}
    quality: 0.9
    capabilities: [chat, completions]
    options: {{replies: ["{STRONG_REPLY}"], delay_ms: 20}}
  - name: slow
    provider: fake
    price: {{input: 0.1, output: 0.4}}
    quality: 0.4
    capabilities: [chat, completions]
    options: {{replies: ["{CHEAP_REPLY}"], delay_ms: 600}}
routes:
  - name: auto
    candidates: [cheap, strong]
    objective: cheapest
"""

CONFIG_OFF = CONFIG.replace("auth: {mode: keys}", 'auth: {mode: "off"}')


@dataclass
class Console:
    """A running server and what the tests need to talk to it."""

    server: Any
    home: Path

    @property
    def url(self) -> str:
        return str(self.server.url)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def create_key(self, name: str, **spec: Any) -> tuple[dict[str, Any], str]:
        with self.client(ADMIN_KEY) as c:
            r = c.post("/admin/keys", json={"name": name, **spec})
            assert r.status_code == 201, r.text
            body = r.json()
        return body["key"], body["secret"]

    def chat(self, token: str | None, content: str = "one two three", model: str = "auto") -> httpx.Response:
        with self.client(token) as c:
            body = {"model": model, "messages": [{"role": "user", "content": content}]}
            r = c.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        return r

    def dashboard(self, token: str | None, **params: str) -> dict[str, Any]:
        with self.client(token) as c:
            r = c.get("/console/api/dashboard", params=params)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    def wait_requests(self, token: str | None, at_least: int, timeout: float = 10, **params: str) -> dict[str, Any]:
        """The dashboard once it counts ``at_least`` requests (the ledger writes in batches)."""
        deadline = time.monotonic() + timeout
        while True:
            d = self.dashboard(token, **params)
            if d["totals"]["requests"] >= at_least or time.monotonic() > deadline:
                return d
            time.sleep(0.1)


def make_bench_run(bench_dir: Path, config_path: Path, run_id: str = "quiz-run") -> Path:
    """A bench run made by the real ``tandem bench`` over the fake models,
    else (bench not installed) a small fixture in the same format."""
    out = bench_dir / run_id
    env = {**os.environ, "TANDEM_HOME": str(bench_dir.parent / "bench-home")}
    env.pop("TANDEM_CONFIG", None)
    cmd = [
        sys.executable,
        "-m",
        "tandem",
        "bench",
        "--config",
        str(config_path),
        "--out",
        str(out),
        "--models",
        "cheap,strong",
        "--routes",
        "auto",
        "--limit",
        "4",
        "--quiet",
        "--no-ledger",
    ]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        ok = proc.returncode == 0 and (out / "report.html").is_file()
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        out.mkdir(parents=True, exist_ok=True)
        report = {
            "title": "Price, quality and latency on \u201cquiz\u201d",
            "created": "2026-01-02 03:04 UTC",
            "dataset": {"name": "quiz", "source": "fixture", "items": 4},
            "findings": ["Best quality: strong."],
            "targets": [
                {
                    "target": "cheap",
                    "kind": "model",
                    "requests": 4,
                    "errors": 0,
                    "score": 0.5,
                    "ci_low": 0.1,
                    "ci_high": 0.9,
                    "binary": True,
                    "cost_per_1k": 0.006,
                    "latency_p50": 0.05,
                    "latency_p95": 0.08,
                    "ttft_p50": 0.02,
                    "served": {"cheap": 4},
                    "on_cost_frontier": True,
                },
                {
                    "target": "strong",
                    "kind": "model",
                    "requests": 4,
                    "errors": 0,
                    "score": 0.75,
                    "ci_low": 0.3,
                    "ci_high": 0.95,
                    "binary": True,
                    "cost_per_1k": 0.2,
                    "latency_p50": 0.04,
                    "latency_p95": 0.05,
                    "ttft_p50": 0.02,
                    "served": {"strong": 4},
                    "on_cost_frontier": True,
                },
            ],
            "files": {"report.html": str(out / "report.html")},
        }
        (out / "report.json").write_text(json.dumps(report), encoding="utf-8")
        (out / "summary.csv").write_text("target,score\ncheap,0.5\nstrong,0.75\n", encoding="utf-8")
        (out / "report.html").write_text(
            "<!doctype html><html><head><title>report</title></head><body><main>"
            "<h1>Price, quality and latency on \u201cquiz\u201d</h1><table><tr><td>cheap</td></tr></table>"
            "</main></body></html>",
            encoding="utf-8",
        )
    return out


@pytest.fixture(scope="module")
def console(start_module_server: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Console:
    """A keys-mode server with the admin key set and one bench run on disk."""
    from concurrent.futures import ThreadPoolExecutor

    cfg = tmp_path_factory.mktemp("bench-config") / "bench.yaml"
    cfg.write_text(CONFIG_OFF)
    with ThreadPoolExecutor(1) as pool:  # the bench runs while the server starts
        bench_dir = tmp_path_factory.mktemp("bench-runs")
        made = pool.submit(make_bench_run, bench_dir, cfg)
        server = start_module_server(CONFIG, env={"TANDEM_ADMIN_KEY": ADMIN_KEY})
        run = made.result()
    home = Path(server.home)
    # The server finds runs under <data dir>/bench; the run appears there whole.
    (home / "bench").mkdir(exist_ok=True)
    run.rename(home / "bench" / run.name)
    return Console(server, home)


# --- the browser ----------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) and os.access(path, os.X_OK)):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by Selenium, with a fresh profile."""
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Never let Selenium Manager fetch a driver or a browser.
    os.environ.setdefault("SE_OFFLINE", "true")
    profile = tempfile.mkdtemp(prefix="tandem-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shot(driver: Any, name: str) -> Path:
    """Save a screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def full_shot(driver: Any, name: str) -> Path:
    """A screenshot of the whole page (the window grows to fit, then shrinks back)."""
    size = driver.get_window_size()
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(size["width"], min(max(int(height) + 120, size["height"]), 4000))
    time.sleep(0.3)
    try:
        return shot(driver, name)
    finally:
        driver.set_window_size(size["width"], size["height"])


def js_errors(driver: Any) -> list[str]:
    """Uncaught JavaScript errors logged by the page (network 4xx are expected and ignored)."""
    try:
        logs = driver.get_log("browser")
    except Exception:
        return []
    return [e["message"] for e in logs if e.get("level") == "SEVERE" and e.get("source") == "javascript"]
