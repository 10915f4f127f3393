"""Shared fixtures: a real ``tandem serve`` process and a scripted upstream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.upstream import Upstream, free_port

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


class TandemServer:
    """A ``tandem serve`` subprocess on a free loopback port."""

    def __init__(
        self, config: Path | None, home: Path, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        self.port = free_port()
        self.home = home
        self.log_path = home / "serve.log"
        cmd = [sys.executable, "-m", "tandem", "serve", "--port", str(self.port), *(args or [])]
        if config is not None:
            cmd += ["--config", str(config)]
        full_env = {**os.environ, "TANDEM_HOME": str(home), **(env or {})}
        full_env.pop("TANDEM_CONFIG", None)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=full_env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tandem serve exited:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"tandem serve not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


def _server_factory(tmp_path: Path, servers: list[TandemServer]):

    def start(
        config_text: str | None, env: dict[str, str] | None = None, args: list[str] | None = None, ready: bool = True
    ) -> TandemServer:
        config = None
        if config_text is not None:
            config = tmp_path / f"tandem-{len(servers)}.yaml"
            config.write_text(textwrap.dedent(config_text))
        server = TandemServer(config, tmp_path, env, args)
        servers.append(server)
        if ready:
            server.wait_ready()
        return server

    return start


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[object]:
    """Factory: ``start_server(yaml_text, env=..., args=...)`` -> a ready TandemServer."""
    servers: list[TandemServer] = []
    yield _server_factory(tmp_path, servers)
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Like ``start_server``, shared by the tests of one module."""
    servers: list[TandemServer] = []
    yield _server_factory(tmp_path_factory.mktemp("tandem"), servers)
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def module_upstream() -> Iterator[Upstream]:
    with Upstream() as up:
        yield up


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as up:
        yield up
