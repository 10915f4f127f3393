"""The HTTP transports (tandem's in-loop client, the default; pyreqwest;
aiohttp) against a real local server: streaming without buffering, timeouts,
error mapping, and the in-loop client's connection pool."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tandem.config import ModelConfig, Timeouts
from tandem.errors import UpstreamConnectError, UpstreamError, UpstreamTimeout
from tandem.providers.http_common import HTTPOptions, http_transport
from tandem.providers.inloop import InLoopTransport
from tandem.providers.reqwest import ReqwestTransport
from tandem.providers.transport import HTTPRequest, Transport
from tests.upstream import free_port

CLIENTS = ["reqwest", "aiohttp", "loop"]


async def _paced(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for i in range(3):
        await resp.write(b"data: %d\n\n" % i)
        await asyncio.sleep(0.3)
    return resp


async def _hang(request: web.Request) -> web.Response:
    await asyncio.sleep(3600)
    return web.Response()


async def _stall(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    await resp.write(b"data: 0\n\n")
    await asyncio.sleep(3600)
    return resp


async def _reset(request: web.Request) -> web.Response:
    await request.read()
    assert request.transport is not None
    request.transport.abort()
    return web.Response()


async def _json(request: web.Request) -> web.Response:
    body = await request.read()
    resp = web.json_response({"echo": body.decode()}, headers={"Retry-After": "7"}, status=429)
    resp.force_close()  # the upstream closes each connection after its reply
    return resp


async def _headers(request: web.Request) -> web.Response:
    return web.json_response([[k.lower(), v] for k, v in request.headers.items()])


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    handlers = {"/paced": _paced, "/hang": _hang, "/stall": _stall, "/reset": _reset, "/json": _json, "/sse": _sse}
    for path, handler in {**handlers, "/headers": _headers}.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _transport(client: str, **timeouts: float) -> Transport:
    config = ModelConfig(name="up", provider="openai", timeouts=Timeouts(**timeouts))
    return http_transport(config, HTTPOptions(http_client=client))  # type: ignore[arg-type]


def _post(url: str, *, stream: bool = False) -> HTTPRequest:
    return HTTPRequest("POST", url, {"content-type": "application/json"}, b'{"x": 1}', stream=stream)


@pytest.mark.parametrize("client", CLIENTS)
async def test_each_streamed_chunk_is_handed_over_as_it_arrives(server: str, client: str) -> None:
    transport = _transport(client)
    start = time.perf_counter()
    resp = await transport.request(_post(server + "/paced", stream=True))
    arrivals = []
    async for chunk in resp.iter_chunks():
        arrivals.append((time.perf_counter() - start, chunk))
    await transport.aclose()
    assert b"".join(c for _, c in arrivals) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    # The first event is not held back until the 0.9 s stream is over.
    assert arrivals[0][0] < 0.25, arrivals


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_reply_body_and_its_headers(server: str, client: str) -> None:
    transport = _transport(client)
    for _ in range(3):  # the upstream closes every connection: each request opens a new one
        resp = await transport.request(_post(server + "/json"))
        assert resp.status == 429
        assert resp.headers.get("retry-after") == "7" and resp.headers.get("Retry-After") == "7"
        assert await resp.read() == b'{"echo": "{\\"x\\": 1}"}'
    await transport.aclose()


async def test_reqwest_sends_the_upstream_headers_once_with_per_request_changes(server: str) -> None:
    base = {"content-type": "application/json", "authorization": "Bearer sk-1"}
    config = ModelConfig(name="up", provider="openai")
    transport = http_transport(config, HTTPOptions(http_client="reqwest"), headers=base)
    seen = []
    for headers in (base, {**base, "accept": "text/event-stream"}, {**base, "authorization": "Bearer sk-2"}, base):
        resp = await transport.request(HTTPRequest("POST", server + "/headers", headers, b"{}"))
        seen.append(json.loads(await resp.read()))
    await transport.aclose()
    for pairs in seen:  # each header once
        assert len({k for k, _ in pairs}) == len(pairs), pairs
    sent = [dict(pairs) for pairs in seen]
    assert sent[0]["authorization"] == "Bearer sk-1" and sent[0]["content-type"] == "application/json"
    assert sent[1]["accept"] == "text/event-stream" and sent[1]["authorization"] == "Bearer sk-1"
    assert sent[2]["authorization"] == "Bearer sk-2"
    assert sent[3]["authorization"] == "Bearer sk-1" and sent[3]["accept"] != "text/event-stream"
    with pytest.raises(ValueError, match="default headers"):
        await transport.request(HTTPRequest("POST", server + "/headers", {"accept": "x"}, b"{}"))


@pytest.mark.parametrize("client", CLIENTS)
async def test_no_headers_within_first_byte_is_a_timeout(server: str, client: str) -> None:
    transport = _transport(client, first_byte=0.2)
    start = time.perf_counter()
    with pytest.raises(UpstreamTimeout, match="first byte"):
        await transport.request(_post(server + "/hang"))
    assert time.perf_counter() - start < 2
    await transport.aclose()


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_stalled_stream_is_a_timeout(server: str, client: str) -> None:
    transport = _transport(client, idle=0.2)
    resp = await transport.request(_post(server + "/stall", stream=True))
    chunks = []
    with pytest.raises(UpstreamTimeout, match="stalled"):
        async for chunk in resp.iter_chunks():
            chunks.append(chunk)
    assert chunks == [b"data: 0\n\n"]
    await transport.aclose()


@pytest.mark.parametrize("client", CLIENTS)
async def test_refused_connection_is_a_connect_error(client: str) -> None:
    transport = _transport(client)
    with pytest.raises(UpstreamConnectError) as exc:
        await transport.request(_post(f"http://127.0.0.1:{free_port()}/x"))
    assert "127.0.0.1" not in str(exc.value)  # never the URL
    await transport.aclose()


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_reset_after_the_request_was_sent_is_not_a_connect_error(server: str, client: str) -> None:
    """It may have been billed: the gateway must not retry it as it retries connect errors."""
    transport = _transport(client)
    with pytest.raises(UpstreamError) as exc:
        await transport.request(_post(server + "/reset"))
    assert not isinstance(exc.value, UpstreamConnectError)
    await transport.aclose()


def test_the_process_exits_cleanly_after_closing_the_reqwest_transport() -> None:
    """reqwest drops connections on its own thread; exiting while it does so
    used to abort the interpreter now and then (exit status 134), mostly
    when the upstream closes connections after each reply."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from tandem.config import ModelConfig
        from tandem.providers.http_common import HTTPOptions, http_transport
        from tandem.providers.transport import HTTPRequest

        async def main():
            transport = http_transport(ModelConfig(name="up", provider="openai"), HTTPOptions(http_client="reqwest"))
            for _ in range(3):
                resp = await transport.request(HTTPRequest("POST", sys.argv[1], {}, b"{}"))
                await resp.read()
            await transport.aclose()

        asyncio.run(main())
        """
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    app = web.Application()
    app.router.add_post("/json", _json)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    port = free_port()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        for _ in range(12):
            args = [sys.executable, "-c", script, f"http://127.0.0.1:{port}/json"]
            done = subprocess.run(args, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr[-2000:]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


async def _sse(request: web.Request) -> web.StreamResponse:
    """Two events, then (a moment later) the end of the chunked body; the reply names its connection."""
    peer = request.transport.get_extra_info("peername")[1] if request.transport else 0
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Peer-Port": str(peer)})
    await resp.prepare(request)
    await resp.write(b"data: 0\n\n")
    await resp.write(b"data: [DONE]\n\n")
    await asyncio.sleep(0.05)
    await resp.write_eof()
    return resp


async def test_the_loop_client_reuses_a_connection_after_a_whole_or_finished_reply(server: str) -> None:
    transport = InLoopTransport("up", Timeouts())
    ports = []
    # Read to the end of the body.
    resp = await transport.request(_post(server + "/sse", stream=True))
    ports.append(resp.headers["x-peer-port"])
    assert b"".join([c async for c in resp.iter_chunks()]) == b"data: 0\n\ndata: [DONE]\n\n"
    # Finished at [DONE], before the body's end arrives: drained, then pooled.
    for _ in range(2):
        resp = await transport.request(_post(server + "/sse", stream=True))
        ports.append(resp.headers["x-peer-port"])
        async for chunk in resp.iter_chunks():
            if b"[DONE]" in chunk:
                break
        await resp.finish()
        await asyncio.sleep(0.15)  # the body's end arrives meanwhile
    resp = await transport.request(_post(server + "/sse", stream=True))
    ports.append(resp.headers["x-peer-port"])
    await resp.read()
    await transport.aclose()
    assert len(set(ports)) == 1, ports  # one connection served all four


async def test_the_loop_client_closes_the_connection_of_a_reply_left_early(server: str) -> None:
    """A reader that leaves mid-stream (the client went away) must stop the upstream: the connection closes."""
    transport = InLoopTransport("up", Timeouts())
    resp = await transport.request(_post(server + "/sse", stream=True))
    left = resp.headers["x-peer-port"]
    async for chunk in resp.iter_chunks():
        assert chunk.startswith(b"data: 0")
        break
    await resp.aclose()  # before [DONE]: not finished, left
    await asyncio.sleep(0.15)
    resp = await transport.request(_post(server + "/sse", stream=True))
    assert resp.headers["x-peer-port"] != left  # a new connection
    assert b"[DONE]" in await resp.read()
    await transport.aclose()


async def test_the_loop_client_retires_connections_idle_longer_than_servers_keep_them(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tandem.providers.inloop.IDLE_S", 0.1)
    transport = InLoopTransport("up", Timeouts())
    ports = []
    for pause in (0.0, 0.3):
        await asyncio.sleep(pause)
        resp = await transport.request(_post(server + "/sse", stream=True))
        ports.append(resp.headers["x-peer-port"])
        await resp.read()
    await transport.aclose()
    assert ports[0] != ports[1]  # the connection idle for 0.3 s was not reused


def test_the_loop_client_is_the_default_unless_a_proxy_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    config = ModelConfig(name="up", provider="openai", base_url="http://10.0.0.5:8000/v1")
    assert isinstance(http_transport(config, HTTPOptions()), InLoopTransport)
    assert isinstance(http_transport(config, HTTPOptions(http_client="reqwest")), ReqwestTransport)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    assert isinstance(http_transport(config, HTTPOptions()), ReqwestTransport)  # reqwest honours the proxy
    monkeypatch.setenv("NO_PROXY", "10.0.0.5")
    assert isinstance(http_transport(config, HTTPOptions()), InLoopTransport)


async def _big(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await resp.prepare(request)
    for i in range(64):
        await resp.write(bytes([i]) * 32768)  # 2 MiB in all
    return resp


async def test_the_loop_client_stops_reading_while_a_slow_reader_lags() -> None:
    """Backpressure: a reader that falls behind does not make the client buffer the whole body."""
    app = web.Application()
    app.router.add_post("/big", _big)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    transport = InLoopTransport("up", Timeouts())
    resp = await transport.request(_post(f"http://127.0.0.1:{port}/big", stream=True))
    got, most = bytearray(), 0
    async for chunk in resp.iter_chunks():
        got += chunk
        await asyncio.sleep(0.002)  # a slow reader
        most = max(most, resp._conn.queued if resp._conn is not None else 0)  # type: ignore[attr-defined]
    await transport.aclose()
    await runner.cleanup()
    assert bytes(got) == b"".join(bytes([i]) * 32768 for i in range(64))
    # Paused past the high-water mark (plus at most one socket read): never half of the 2 MiB.
    assert 0 < most < 1024 * 1024


async def test_the_loop_client_reads_a_body_that_ends_when_the_server_closes() -> None:
    """An HTTP/1.0-style reply with neither Content-Length nor chunking: the close ends the body."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: 0\n\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"data: [DONE]\n\n")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = InLoopTransport("up", Timeouts())
    for _ in range(2):  # the closed connection is not reused
        resp = await transport.request(_post(f"http://127.0.0.1:{port}/x", stream=True))
        assert resp.status == 200
        assert b"".join([c async for c in resp.iter_chunks()]) == b"data: 0\n\ndata: [DONE]\n\n"
    await transport.aclose()
    server.close()
    await server.wait_closed()


async def test_the_loop_client_reports_a_connection_lost_mid_body() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: 0\n\n\r\n")
        await writer.drain()
        writer.close()  # before the terminating chunk

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = InLoopTransport("up", Timeouts())
    resp = await transport.request(_post(f"http://127.0.0.1:{port}/x", stream=True))
    chunks = []
    with pytest.raises(UpstreamError, match="closed the connection") as exc:
        async for chunk in resp.iter_chunks():
            chunks.append(chunk)
    assert chunks == [b"data: 0\n\n"] and not isinstance(exc.value, UpstreamTimeout)
    await transport.aclose()
    server.close()
    await server.wait_closed()


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate (made by openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_post("/sse", _sse)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    yield f"https://127.0.0.1:{port}", cert
    await runner.cleanup()


async def test_the_loop_client_speaks_tls_and_checks_the_certificate(
    tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert = tls_server
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    untrusted = InLoopTransport("up", Timeouts())
    with pytest.raises(UpstreamConnectError) as exc:  # a certificate nobody vouches for: no connection
        await untrusted.request(_post(url + "/sse", stream=True))
    assert "127.0.0.1" not in str(exc.value)
    await untrusted.aclose()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted the usual OpenSSL way
    transport = InLoopTransport("up", Timeouts())
    for _ in range(2):
        resp = await transport.request(_post(url + "/sse", stream=True))
        assert resp.status == 200
        assert b"".join([c async for c in resp.iter_chunks()]) == b"data: 0\n\ndata: [DONE]\n\n"
    await transport.aclose()


async def test_the_loop_client_waits_for_a_free_connection_within_the_first_byte_timeout(server: str) -> None:
    transport = InLoopTransport("up", Timeouts(first_byte=0.3), max_connections=1)
    held = await transport.request(_post(server + "/stall", stream=True))  # takes the only connection
    start = time.perf_counter()
    with pytest.raises(UpstreamTimeout, match="free connection"):
        await transport.request(_post(server + "/json"))
    assert time.perf_counter() - start < 2
    await held.aclose()  # gives it back: the next request gets through
    resp = await transport.request(_post(server + "/json"))
    assert resp.status == 429 and b"echo" in await resp.read()
    await transport.aclose()
