"""The server floor: the least a gateway on tandem's stack can do, served by
the same uvicorn, loop and HTTP parser as ``tandem serve``.

* A non-streamed request gets a fixed reply after its body is read.
* A streamed request (``"stream": true``) is relayed to the benchmark's
  upstream through the client tandem streams with
  (:class:`tandem.providers.inloop.InLoopTransport`), chunk by chunk, with
  nothing else done: no parsing, keys, routing, privacy or accounting.

Loaded like tandem (same CPU, same nice level, same concurrency), it shows
what the server and the relay alone cost on this machine at that moment,
and above all their latency: when other processes share the cores, even the
fixed reply's p99 at concurrency 1 is milliseconds (the scheduler's time
slices), and at 256 paced streams the bare relay's first byte already waits
behind the other streams' chunks. No gateway on the same stack can do better.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

from bench.load.procs import Proc, start, wait_http
from tandem.config import Timeouts
from tandem.providers.inloop import InLoopTransport
from tandem.providers.transport import HTTPRequest

__all__ = ["app", "start_floor"]

_REPLY = b'{"object": "floor", "ok": true}'
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_UPSTREAM_ENV = "TANDEM_BENCH_FLOOR_UPSTREAM"
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_REPLY)).encode())]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


_client: InLoopTransport | None = None
_STREAM_HEADERS = {"content-type": "application/json", "accept": "text/event-stream"}

# uvicorn as ``tandem serve`` runs it (see tandem.cli.serve), on this app.
_SERVE = (
    "import sys, uvicorn\n"
    "from tandem.api.coalesce import CoalescingHttpToolsProtocol\n"
    "uvicorn.run('bench.load.floor:app', port=int(sys.argv[1]), loop='uvloop', http=CoalescingHttpToolsProtocol,\n"
    "            log_level='warning', access_log=False, server_header=False, date_header=False, proxy_headers=False)\n"
)


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    """Read the whole request body; answer the fixed reply or relay the stream."""
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if body and orjson.loads(body).get("stream"):
        await _relay(body, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _REPLY})


async def _relay(body: bytes, send: Send) -> None:
    global _client
    if _client is None:
        _client = InLoopTransport("floor", Timeouts(), max_connections=4096)
    resp = await _client.request(HTTPRequest("POST", os.environ[_UPSTREAM_ENV], _STREAM_HEADERS, body, stream=True))
    try:
        await send({"type": "http.response.start", "status": resp.status, "headers": _SSE})
        async for chunk in resp.iter_chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        await resp.aclose()
    await send({"type": "http.response.body", "body": b""})


def start_floor(python: Path, workdir: Path, port: int, upstream_url: str, *, cpus: str | None) -> Proc:
    """Serve :func:`app` with uvicorn configured as ``tandem serve`` configures it;
    streams are relayed to ``upstream_url``."""
    cmd = [str(python), "-c", _SERVE, str(port)]
    repo = Path(__file__).resolve().parent.parent.parent
    env = {**os.environ, _UPSTREAM_ENV: upstream_url}
    proc = start("floor", cmd, workdir, env=env, cwd=repo, cpus=cpus)
    wait_http(proc, f"http://127.0.0.1:{port}/", 30)
    return proc
