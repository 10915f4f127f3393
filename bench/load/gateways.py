"""The gateways under test, configured to forward to the fake upstream.

**tandem** runs in the full configuration the hot-path issue asks for, as far
as the source tree under test provides it (each feature is probed, turned on
when present, checked with a live request, and reported either way):

* keys: ``auth.mode: keys`` and one virtual key, created with
  ``tandem keys create`` (or, before that command exists, through
  ``tandem.store``'s Python API);
* auto routing: clients call route ``auto`` over two models (``bench-a``,
  ``bench-b``) that point at the same upstream;
* the ledger: the default SQLite store in a fresh ``TANDEM_HOME``;
* the privacy scan: ``privacy.default_policy: redact`` (the benchmark prompt
  holds no personal data, so the scan runs and redacts nothing).

**LiteLLM** runs its proxy from its own throwaway virtualenv, with the
closest configuration that needs no database: a master key (its virtual
keys, spend logs and budgets need PostgreSQL) and model ``auto`` as two
deployments on the same upstream (its router load-balances them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.load.procs import Proc, start, wait_http
from bench.load.upstream import Upstream

__all__ = [
    "LITELLM_SPEC",
    "Features",
    "LiteLLM",
    "TandemBuild",
    "ensure_litellm",
    "http_get_json",
    "prepare_tandem",
    "start_litellm",
    "start_tandem",
]

#: pip requirement for the LiteLLM comparison (1.107.0 was a compromised release).
LITELLM_SPEC = "litellm[proxy]!=1.107.0"
LITELLM_MASTER_KEY = "sk-bench-master-0000"
PROMPT = "Write one short sentence about the sea."
PII_PROMPT = "Please email jane.doe@example.com about the meeting."
_SECRET_RE = re.compile(r"\btk-[A-Za-z0-9_-]{20,}")


def request_body(model: str = "auto", *, stream: bool = False, prompt: str = PROMPT) -> bytes:
    """A typical small chat request (no personal data unless ``prompt`` has some)."""
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": prompt},
        ],
        "max_tokens": 64,
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def http_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One POST; returns status, lower-cased headers and body (errors included)."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def http_get_json(url: str, headers: dict[str, str] | None = None) -> object:
    """GET a JSON document (None when it cannot be had)."""
    try:
        req = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


# --- tandem -----------------------------------------------------------------


@dataclass
class Features:
    """Which parts of the full configuration were on, and how we know."""

    keys: str = "off"
    routing: str = "off"
    ledger: str = "off"
    privacy: str = "off"
    notes: list[str] = field(default_factory=list)

    @property
    def full(self) -> bool:
        """All four features of the full configuration were on."""
        return all(v.startswith("on") for v in (self.keys, self.routing, self.ledger, self.privacy))


@dataclass
class TandemBuild:
    """One tandem source tree to benchmark (the repo's, or a private copy)."""

    name: str
    python: Path
    #: ``src`` directory put first on PYTHONPATH (None: the installed package).
    src: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def environ(self, home: Path) -> dict[str, str]:
        """The environment for this build's processes, with ``TANDEM_HOME``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
        env["TANDEM_HOME"] = str(home)
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src)
        env.update(self.env)
        return env

    def tandem_cmd(self, *args: str) -> list[str]:
        """``tandem ARGS`` run by this build's interpreter (honours PYTHONPATH)."""
        return [str(self.python), "-c", "import sys; from tandem.cli import main; sys.exit(main())", *args]

    def probe(self, home: Path) -> dict[str, object]:
        """Version and which optional modules this tree has."""
        code = (
            "import importlib, importlib.util, json, tandem\n"
            "def has(mod, attr=None):\n"
            "    try:\n"
            "        m = importlib.import_module(mod)\n"
            "    except Exception as e:\n"
            "        return f'{type(e).__name__}: {e}'[:120]\n"
            "    return True if attr is None or hasattr(m, attr) else f'{mod}.{attr} missing'\n"
            "import importlib.metadata as md\n"
            "print(json.dumps({'version': md.version('tandem'), 'file': tandem.__file__,\n"
            "  'store': has('tandem.store', 'open_store'), 'privacy': has('tandem.privacy', 'PrivacyGuard'),\n"
            "  'keys_cli': has('tandem.cli.keys', 'keys')}))\n"
        )
        out = subprocess.run(
            [str(self.python), "-c", code], capture_output=True, text=True, env=self.environ(home), check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"cannot import tandem from {self.src or 'the venv'}:\n{out.stderr}")
        info: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
        return info

    def python_version(self) -> str:
        """The interpreter's version, e.g. ``3.11.7``."""
        out = subprocess.run(
            [str(self.python), "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip() or "unknown"


def tandem_config(upstream: Upstream, port: int, *, keys: bool, privacy: bool) -> str:
    """The YAML config: two models on the upstream and route ``auto`` over them."""
    common = (
        f"    provider: openai\n    base_url: {upstream.base_url}\n"
        "    capabilities: [chat, completions, json, tools]\n"
        "    context_window: 128000\n"
        # Above the highest benchmark concurrency: the bench measures the
        # gateway, not a connection-pool queue in front of the upstream.
        "    max_concurrency: 1024\n"
        "    timeouts: {connect: 5, first_byte: 30, total: 60, idle: 30}\n"
    )
    return (
        f"server:\n  host: 127.0.0.1\n  port: {port}\n  workers: 1\n  log_level: warning\n"
        f"auth:\n  mode: {'keys' if keys else 'off'}\n"
        + (f"privacy:\n  default_policy: {'redact' if privacy else 'allow'}\n")
        + "models:\n"
        f"  - name: bench-a\n    model: bench-a\n{common}"
        "    price: {input: 0.15, output: 0.60}\n    quality: 0.80\n    privacy: public\n"
        f"  - name: bench-b\n    model: bench-b\n{common}"
        "    price: {input: 0.30, output: 1.20}\n    quality: 0.85\n    privacy: public\n"
        "routes:\n"
        "  - name: auto\n    candidates: [bench-a, bench-b]\n    objective: cheapest\n    min_quality: 0.7\n"
    )


_CREATE_VIA_STORE = """
import asyncio, sys
from tandem.config import load_config
from tandem.store import KeySpec, open_store

async def main() -> None:
    store = open_store(load_config(sys.argv[1]), coordination="shared")
    await store.start()
    try:
        _, secret = await store.create_key(KeySpec(name="bench"))
    finally:
        await store.aclose()
    print(secret)

asyncio.run(main())
"""


def create_key(build: TandemBuild, config: Path, home: Path) -> tuple[str | None, str]:
    """A virtual key's secret and how it was made (None and why, on failure)."""
    env = build.environ(home)
    tried: list[str] = []
    attempts = [
        ("tandem keys create", build.tandem_cmd("keys", "create", "--config", str(config), "--name", "bench")),
        ("tandem.store API", [str(build.python), "-c", _CREATE_VIA_STORE, str(config)]),
    ]
    for how, cmd in attempts:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=120)
        m = _SECRET_RE.search(out.stdout)
        if out.returncode == 0 and m:
            return m.group(0), how
        detail = (out.stderr or out.stdout).strip().splitlines()
        tried.append(f"{how}: {detail[-1][:120] if detail else f'exit {out.returncode}'}")
    return None, "; ".join(tried)


@dataclass
class RunningTandem:
    """A started tandem server and how to call it."""

    build: TandemBuild
    proc: Proc
    port: int
    headers: dict[str, str]
    features: Features
    home: Path

    @property
    def url(self) -> str:
        """The chat completions URL."""
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def ledger_status(self) -> dict[str, object]:
        """The ledger facts from ``/readyz`` (empty when not reported)."""
        ready = http_get_json(f"http://127.0.0.1:{self.port}/readyz", self.headers)
        ledger = ready.get("ledger") if isinstance(ready, dict) else None
        return dict(ledger) if isinstance(ledger, dict) else {}


@dataclass
class PreparedTandem:
    """A config, a data dir and a key for one tandem build (not started)."""

    build: TandemBuild
    config: Path
    home: Path
    port: int
    headers: dict[str, str]
    features: Features
    info: dict[str, object]

    @property
    def token(self) -> str | None:
        """The virtual key's secret, if one was made."""
        auth = self.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ") or None


def prepare_tandem(build: TandemBuild, upstream: Upstream, workdir: Path, port: int, *, tag: str) -> PreparedTandem:
    """Write the config for the features this tree has and create the key."""
    home = workdir / f"home-{tag}"
    home.mkdir(parents=True, exist_ok=True)
    info = build.probe(home)
    features = Features()
    has_store = info.get("store") is True
    config = workdir / f"tandem-{tag}.yaml"
    config.write_text(tandem_config(upstream, port, keys=has_store, privacy=True))
    headers: dict[str, str] = {}
    if has_store:
        secret, how = create_key(build, config, home)
        if secret is None:
            features.notes.append(f"no key could be created ({how}); auth off")
            config.write_text(tandem_config(upstream, port, keys=False, privacy=True))
        else:
            headers["Authorization"] = f"Bearer {secret}"
            features.keys = f"on (auth.mode keys, virtual key via {how})"
    else:
        features.notes.append(f"tandem.store unavailable ({info.get('store')}): keys and ledger off")
    return PreparedTandem(build, config, home, port, headers, features, info)


def start_tandem(
    build: TandemBuild, upstream: Upstream, workdir: Path, port: int, *, cpus: str | None, tag: str
) -> RunningTandem:
    """Configure, create the key, start ``tandem serve`` and check each feature live."""
    p = prepare_tandem(build, upstream, workdir, port, tag=tag)
    proc = start(
        f"tandem-{tag}",
        build.tandem_cmd("serve", "--config", str(p.config), "--port", str(port), "--workers", "1"),
        workdir,
        env=build.environ(p.home),
        cwd=workdir,
        cpus=cpus,
    )
    wait_http(proc, f"http://127.0.0.1:{port}/healthz", 60)
    running = RunningTandem(build, proc, port, p.headers, p.features, p.home)
    _verify(running, p.info.get("store") is True, p.info.get("privacy") is True, p.info)
    return running


def _verify(t: RunningTandem, has_store: bool, has_privacy: bool, info: dict[str, object]) -> None:
    f = t.features
    status, hdrs, body = http_post(t.url, request_body(), t.headers)
    if status != 200:
        raise RuntimeError(f"tandem answered {status} to the benchmark request: {body[:300]!r}")
    if hdrs.get("x-tandem-route") == "auto":
        f.routing = f"on (route auto -> {hdrs.get('x-tandem-model')}, objective cheapest)"
    if t.headers:
        bad, _, _ = http_post(t.url, request_body(), {"Authorization": "Bearer tk-not-a-real-key"})
        if bad != 401:
            f.keys = f"unverified: a wrong key got {bad}, not 401"
    ledger = t.ledger_status()
    if has_store and ledger:
        f.ledger = f"on ({ledger.get('database', 'sqlite')}, batched writer)"
    elif has_store:
        f.ledger = "on? (store present; /readyz reports no ledger)"
    status, hdrs, _ = http_post(t.url, request_body(prompt=PII_PROMPT), t.headers)
    if not has_privacy:
        f.notes.append(f"privacy guard unavailable ({info.get('privacy')}): scan off")
    elif status == 200 and "x-tandem-privacy" in hdrs:
        f.privacy = f"on (policy redact; probe found {hdrs['x-tandem-privacy']})"
    else:
        f.privacy = f"on? (guard present, probe with an e-mail got {status} without x-tandem-privacy)"


# --- LiteLLM ----------------------------------------------------------------


@dataclass
class LiteLLM:
    """A LiteLLM install, or why there is none."""

    venv: Path
    version: str | None
    reason: str = ""


def ensure_litellm(venv: Path, *, install: bool = True) -> LiteLLM:
    """The LiteLLM proxy in ``venv``, installing it there when missing."""
    py = venv / "bin" / "python"
    version_cmd = [str(py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
    if py.exists() and (venv / "bin" / "litellm").exists():
        out = subprocess.run(version_cmd, capture_output=True, text=True, check=False)
        if out.returncode == 0:
            return LiteLLM(venv, out.stdout.strip())
    if not install:
        return LiteLLM(venv, None, f"not installed in {venv}")
    print(f"installing {LITELLM_SPEC} into {venv} (a few minutes, once)...", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        out = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", LITELLM_SPEC],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return LiteLLM(venv, None, f"install failed: {exc}")
    if out.returncode != 0:
        last = [ln for ln in out.stderr.splitlines() if ln.startswith("ERROR")][-1:] or ["pip failed"]
        return LiteLLM(venv, None, f"install failed: {last[0][:200]}")
    ver = subprocess.run(version_cmd, capture_output=True, text=True, check=False).stdout.strip()
    print(f"installed litellm {ver} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return LiteLLM(venv, ver or None, "" if ver else "installed but not importable")


def litellm_config(upstream: Upstream) -> str:
    """Model ``auto`` as two deployments on the upstream, master key auth, quiet."""
    deployments = "".join(
        f"  - model_name: auto\n    litellm_params:\n      model: openai/{name}\n"
        f"      api_base: {upstream.base_url}\n      api_key: sk-bench-upstream\n"
        for name in ("bench-a", "bench-b")
    )
    return (
        f"model_list:\n{deployments}"
        f"general_settings:\n  master_key: {LITELLM_MASTER_KEY}\n"
        "litellm_settings:\n  set_verbose: false\n"
    )


@dataclass
class RunningLiteLLM:
    """A started LiteLLM proxy."""

    proc: Proc
    port: int
    headers: dict[str, str]

    @property
    def url(self) -> str:
        """The chat completions URL."""
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"


def start_litellm(
    install: LiteLLM, upstream: Upstream, workdir: Path, port: int, *, cpus: str | None
) -> RunningLiteLLM:
    """Start ``litellm --config`` with one worker; check one request goes through."""
    config = workdir / "litellm.yaml"
    config.write_text(litellm_config(upstream))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITELLM", "DATABASE_URL"))}
    # No network: use the bundled model price map instead of fetching it.
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", NO_DOCS="True")
    cmd = [
        str(install.venv / "bin" / "litellm"),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    proc = start("litellm", cmd, workdir, env=env, cwd=workdir, cpus=cpus)
    wait_http(proc, f"http://127.0.0.1:{port}/health/liveliness", 180)
    running = RunningLiteLLM(proc, port, {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"})
    status, _, body = http_post(running.url, request_body(), running.headers)
    if status != 200:
        raise RuntimeError(f"LiteLLM answered {status}: {body[:300]!r}")
    return running
