"""The server floor: a raw ASGI app that reads the request and answers a fixed
reply, served by the same uvicorn, loop and HTTP parser as ``tandem serve``.

Loaded like tandem (same CPU, same nice level, same concurrency), it shows
what the HTTP server alone costs on this machine at that moment, and above
all its latency tail: when other processes share the cores, even this app's
p99 at concurrency 1 is milliseconds (the scheduler's time slices), and no
gateway on the same stack can have a lower one.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from bench.load.procs import Proc, start, wait_http

__all__ = ["app", "start_floor"]

_REPLY = b'{"object": "floor", "ok": true}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_REPLY)).encode())]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    """Read the whole request body, then answer the fixed reply."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _REPLY})


def start_floor(python: Path, workdir: Path, port: int, *, cpus: str | None) -> Proc:
    """Serve :func:`app` with uvicorn configured as ``tandem serve`` configures it."""
    cmd = [
        str(python),
        "-m",
        "uvicorn",
        "bench.load.floor:app",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
        "--no-server-header",
        "--no-date-header",
        "--no-proxy-headers",
    ]
    repo = Path(__file__).resolve().parent.parent.parent
    proc = start("floor", cmd, workdir, cwd=repo, cpus=cpus)
    wait_http(proc, f"http://127.0.0.1:{port}/", 30)
    return proc


if __name__ == "__main__":  # pragma: no cover - manual use
    sys.exit("run through bench/run")
