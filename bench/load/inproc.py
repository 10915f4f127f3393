"""CPU per request of tandem's ASGI app, driven in-process (no HTTP server, no wrk).

For A/B comparisons of source trees on a busy machine: wall-clock req/s
through uvicorn moves with every neighbour's load, while the CPU time this
process spends per request, with the load generator gone, is far steadier.
The app is built with :func:`tandem.api.app.create_app` from a config file,
its lifespan runs (store, ledger writer, providers), and ``concurrency``
tasks send ``requests`` chat requests through the ASGI interface; the
upstream calls are real (to the benchmark's nginx). What is left out is
the HTTP server's own cost (uvicorn + httptools parsing and writing).

``python -m bench.load.inproc --config CFG [--token SECRET]`` prints JSON:
CPU µs per request for each of ``--repeat`` measured batches. Under
valgrind (``bench/run --compare-mode instructions``) the same run gives
instruction counts, which do not depend on the machine's load at all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bench.load.gateways import request_body

__all__ = ["main", "measure"]

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


async def _one(app: ASGIApp, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    sent = False
    status = 0
    never: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await never  # no disconnect while the response streams

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    await app(scope, receive, send)
    never.cancel()
    return status


async def measure(
    config_path: str,
    token: str | None,
    requests: int,
    concurrency: int,
    repeat: int,
    stream: bool,
    warmup: int | None = None,
) -> dict[str, Any]:
    """Run the batches; CPU µs per request of each."""
    from tandem.api.app import create_app
    from tandem.config import load_config

    app: Any = create_app(load_config(config_path))
    body = request_body(stream=stream)
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    errors = 0

    async def batch(n: int) -> None:
        nonlocal errors
        per = n // concurrency

        async def worker() -> None:
            nonlocal errors
            for _ in range(per):
                if await _one(app, headers, body) != 200:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    results = []
    async with app.router.lifespan_context(app):
        await batch(max(concurrency, requests // 5 if warmup is None else warmup))  # warm-up
        for _ in range(repeat):
            t0 = time.process_time()
            await batch(requests)
            done = requests // concurrency * concurrency
            results.append((time.process_time() - t0) / done * 1e6)
        await asyncio.sleep(0.6)  # let the ledger writer flush before shutdown
    return {"cpu_us_per_req": results, "errors": errors, "requests": requests, "concurrency": concurrency}


def main(argv: list[str] | None = None) -> int:
    """Command line entry; prints one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--token", default=None, help="virtual key secret (auth.mode keys)")
    ap.add_argument("--requests", type=int, default=3000, help="requests per measured batch")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3, help="measured batches")
    ap.add_argument("--stream", action="store_true", help="streamed requests")
    ap.add_argument("--warmup-requests", type=int, default=None, help="default: a fifth of --requests")
    args = ap.parse_args(argv)
    work = measure(
        args.config, args.token, args.requests, args.concurrency, args.repeat, args.stream, args.warmup_requests
    )
    try:
        import uvloop
    except ImportError:
        out = asyncio.run(work)
    else:
        out = uvloop.run(work)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
