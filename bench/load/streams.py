"""Streaming load client: N concurrent SSE streams, time to first byte of each.

wrk only measures whole responses, so the streaming scenario uses this small
asyncio client instead. Each of ``concurrency`` workers keeps one keep-alive
connection and, until the duration is up, sends a streamed chat request,
notes the time from sending it to the first body bytes (the first token's
event), reads the stream to its end and starts the next.

The client speaks just enough HTTP/1.1 for this (a request with
Content-Length, a chunked or Content-Length response) with a bare
``asyncio.Protocol``: at 256 streams of 20 events a second, a full client
library spends enough CPU per event to inflate the very latencies it
measures. A stream counts as an error when the status is not 200, the
connection fails, or the body does not end with ``data: [DONE]``.

Run as a separate process (``python -m bench.load.streams --url ...``) so it
can be pinned to the load generator's CPU; it prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["StreamResult", "main", "run"]

_DONE = b"data: [DONE]"
_CHUNKED_END = b"\r\n0\r\n\r\n"


@dataclass
class StreamResult:
    """What the streaming client measured."""

    concurrency: int
    duration_s: float
    streams: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    #: Most streams open at the same moment.
    max_open: int = 0
    ttfb_p50_ms: float = 0.0
    ttfb_p90_ms: float = 0.0
    ttfb_p99_ms: float = 0.0
    total_p50_ms: float = 0.0
    bytes: int = 0
    #: Seconds over which the workers' first requests were spread (0: all at once).
    stagger_s: float = 0.0
    #: Streams answered 200 in the whole run, warm-up included (for CPU per stream).
    answered: int = 0


class _Exchange(asyncio.Protocol):
    """One keep-alive connection; one request/response at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.head: bytes | None = None
        self.first_body_at = 0.0
        self.done: asyncio.Future[bytes] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance.
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes) -> asyncio.Future[bytes]:
        self.buf.clear()
        self.head = None
        self.first_body_at = 0.0
        self.done = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(request)
        return self.done

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head = bytes(self.buf[: end + 4])
            del self.buf[: end + 4]
        if self.buf and not self.first_body_at:
            self.first_body_at = time.perf_counter()
        if self._complete() and self.done is not None and not self.done.done():
            self.done.set_result(bytes(self.buf))

    def _complete(self) -> bool:
        head = self.head.lower() if self.head else b""
        if b"transfer-encoding: chunked" in head:
            return self.buf.endswith(_CHUNKED_END) or self.buf == b"0\r\n\r\n"
        for line in head.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                return len(self.buf) >= int(line.split(b":", 1)[1])
        return False  # read to close

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.done is not None and not self.done.done():
            if self.head is not None and b"content-length" not in self.head.lower():
                self.done.set_result(bytes(self.buf))
            else:
                self.done.set_exception(ConnectionError(f"connection lost: {exc!r}"))


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


async def run(
    url: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    stagger_s: float = 0.0,
) -> StreamResult:
    """Run the streams and collect TTFB and errors (warm-up streams not counted).

    With ``stagger_s``, worker ``i`` sends its first request ``stagger_s * i /
    concurrency`` seconds in; set it to one stream's length and the requests
    arrive evenly spread, as independent clients' do. With 0 every worker
    starts at once, and since every stream lasts as long, they stay in step:
    each request then arrives in a burst of ``concurrency`` others, behind a
    burst of as many chunks, and its time to first byte is mostly that wait.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    result = StreamResult(concurrency, duration_s, stagger_s=stagger_s)
    ttfb: list[float] = []
    totals: list[float] = []
    open_now = 0
    loop = asyncio.get_running_loop()
    measure_from = time.perf_counter() + warmup_s
    deadline = measure_from + duration_s

    def error(what: str) -> None:
        result.errors += 1
        if len(result.error_samples) < 5:
            result.error_samples.append(what)

    async def worker(index: int) -> None:
        nonlocal open_now
        conn: _Exchange | None = None
        if stagger_s > 0:
            await asyncio.sleep(stagger_s * index / concurrency)
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            counted = t0 >= measure_from
            open_now += 1
            result.max_open = max(result.max_open, open_now)
            try:
                if conn is None or conn.lost:
                    transport, conn = await loop.create_connection(_Exchange, host, port)
                    conn.transport = transport  # uvloop calls connection_made only later
                data = await asyncio.wait_for(conn.send(request), 120)
                t2 = time.perf_counter()
                status = conn.head.split(b" ", 2)[1] if conn.head else b"?"
                result.answered += status == b"200"
                if not counted:
                    continue
                if status != b"200":
                    error(f"HTTP {status.decode(errors='replace')}: {data[:200]!r}")
                    conn.transport.close() if conn.transport else None
                    conn = None
                    continue
                if _DONE not in data[-96:]:
                    error(f"stream without [DONE]: ...{data[-120:]!r}")
                    continue
                result.streams += 1
                result.bytes += len(data)
                ttfb.append((conn.first_body_at - t0) * 1000)
                totals.append((t2 - t0) * 1000)
            except (OSError, TimeoutError, ConnectionError) as exc:
                if counted:
                    error(f"{type(exc).__name__}: {exc}")
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                conn = None
            finally:
                open_now -= 1
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.duration_s = time.perf_counter() - measure_from
    result.ttfb_p50_ms = statistics.median(ttfb) if ttfb else 0.0
    result.ttfb_p90_ms = _pct(ttfb, 90)
    result.ttfb_p99_ms = _pct(ttfb, 99)
    result.total_p50_ms = statistics.median(totals) if totals else 0.0
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line entry: prints the :class:`StreamResult` as JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--body-file", required=True, type=Path)
    ap.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds not counted, at the start")
    ap.add_argument(
        "--stagger",
        type=float,
        default=0.0,
        help="spread the workers' first requests over this many seconds (0: all at once)",
    )
    args = ap.parse_args(argv)
    headers = {}
    for h in args.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    if args.stagger > args.warmup:
        ap.error("--stagger must not be longer than --warmup: staggered starts belong to the warm-up")
    work = run(
        args.url, args.body_file.read_bytes(), headers, args.concurrency, args.duration, args.warmup, args.stagger
    )
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(work)
    else:
        result = uvloop.run(work)
    json.dump(asdict(result), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
