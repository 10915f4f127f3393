"""Runs ``wrk`` with ``post.lua`` and parses the JSON line its ``done()`` prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.load.procs import pinned

__all__ = ["WrkResult", "run_wrk", "wrk_version"]

LUA_SCRIPT = Path(__file__).with_name("post.lua")
_MARK = "BENCHJSON "


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and error counts."""

    connections: int
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float
    #: Responses with a status outside 2xx/3xx.
    non_2xx: int
    #: Socket errors: connect, read, write, timeout.
    socket_errors: int

    @property
    def rps(self) -> float:
        """Requests per second (every response, errors included, as wrk counts)."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        """Non-2xx responses plus socket errors."""
        return self.non_2xx + self.socket_errors


def wrk_version() -> str:
    """``4.1.0`` or ``not installed``."""
    exe = shutil.which("wrk")
    if exe is None:
        return "not installed"
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split("[")[0].replace("wrk", "").strip() if first else "unknown"


def run_wrk(
    url: str,
    body: bytes,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    headers: Mapping[str, str] | None = None,
    max_requests: int = 0,
    cpus: str | None = None,
    timeout_s: float = 10.0,
) -> WrkResult:
    """Load ``url`` with POSTs of ``body`` for ``duration_s`` (or until each
    thread got ``max_requests`` responses) at ``connections`` connections."""
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    threads = max(1, min(threads, connections))
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        body_file = Path(tmp, "body.json")
        body_file.write_bytes(body)
        headers_file = Path(tmp, "headers.txt")
        headers_file.write_text("".join(f"{k}: {v}\n" for k, v in (headers or {}).items()))
        env = {
            **os.environ,
            "BENCH_BODY_FILE": str(body_file),
            "BENCH_HEADERS_FILE": str(headers_file),
            "BENCH_MAX_REQUESTS": str(max_requests),
        }
        cmd = [
            exe,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            f"--timeout={timeout_s:g}s",
            "-s",
            str(LUA_SCRIPT),
            url,
        ]
        out = subprocess.run(
            pinned(cmd, cpus),
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=duration_s + timeout_s + 60,
        )
    line = next((x for x in out.stdout.splitlines() if x.startswith(_MARK)), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    d = json.loads(line[len(_MARK) :])
    ms = 1000.0
    return WrkResult(
        connections=connections,
        requests=d["requests"],
        duration_s=d["duration_us"] / 1e6,
        p50_ms=d["p50_us"] / ms,
        p90_ms=d["p90_us"] / ms,
        p99_ms=d["p99_us"] / ms,
        p999_ms=d["p99_9_us"] / ms,
        max_ms=d["max_us"] / ms,
        mean_ms=d["mean_us"] / ms,
        non_2xx=d["status"],
        socket_errors=d["connect"] + d["read"] + d["write"] + d["timeout"],
    )
