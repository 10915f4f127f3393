"""The load benchmark's fake upstream: nginx must accept the generated config and
answer what a gateway expects, with and without the echo module that paces streams."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import pytest

from bench.load import streams, upstream
from bench.load.procs import free_port
from bench.load.upstream import sse_stream, start_nginx

pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(), reason="nginx is not installed"
)


@pytest.mark.parametrize("paced", [False, True], ids=["unpaced", "paced"])
def test_nginx_answers_chat_and_whole_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paced: bool) -> None:
    if paced and not upstream.ECHO_MODULE.exists():
        pytest.skip("nginx echo module (libnginx-mod-http-echo) is not installed")
    if not paced:
        monkeypatch.setattr(upstream, "ECHO_MODULE", tmp_path / "no-echo-module.so")
    up = start_nginx(tmp_path, free_port(), cpus=None, stream_chunks=20, interval_s=0.001)
    try:
        assert up.paced is paced
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(timeout=10) as client:
            reply = client.post(up.chat_url, json=body)
            assert reply.status_code == 200
            assert reply.json()["object"] == "chat.completion"
            # Twice on one keep-alive connection: the POST body is consumed.
            for _ in range(2):
                stream = client.post(
                    up.chat_url, json={**body, "stream": True}, headers={"Accept": "text/event-stream"}
                )
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                assert stream.content == b"".join(sse_stream(20))
            events = [line for line in stream.text.split("\n\n") if line]
            assert events[-1] == "data: [DONE]"
            assert len(events) == 20 + 4
            assert json.loads(client.get(up.base_url + "/models").text)["data"][0]["id"]
    finally:
        up.proc.stop()


def test_stream_client_counts_whole_streams(tmp_path: Path) -> None:
    up = start_nginx(tmp_path, free_port(), cpus=None, stream_chunks=3, interval_s=0.01)
    try:
        body = b'{"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
        res = asyncio.run(streams.run(up.chat_url, body, {}, 4, duration_s=0.6, warmup_s=0.3, stagger_s=0.2))
    finally:
        up.proc.stop()
    assert res.errors == 0, res.error_samples
    assert res.streams > 0 and res.answered > res.streams  # warm-up streams are answered, not counted
    assert res.max_open == 4 and res.stagger_s == 0.2
    assert 0 < res.ttfb_p50_ms <= res.ttfb_p99_ms
