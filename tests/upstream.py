"""A real local OpenAI-compatible HTTP upstream with scripted failures.

It runs an aiohttp server in a background thread on a free loopback port.
The upstream ``model`` id in each request picks the behaviour:

- ``ok``: answers ``echo: <last user message>`` (streams word by word);
- ``status-<N>``: answers HTTP N with an OpenAI error body
  (``status-429`` sends ``Retry-After: <retry_after>``);
- ``flaky-<N>``: answers 503 to the first N calls, then like ``ok``;
- ``hang``: never sends the headers;
- ``stall``: streams two chunks, then goes silent;
- ``reset``: closes the connection without an answer;
- ``reset-stream``: streams two chunks, then drops the connection.

Every request body is recorded in :attr:`Upstream.requests`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import Counter
from typing import Any

from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream:
    """The scripted upstream; use as a context manager."""

    def __init__(self, retry_after: int = 30) -> None:
        self.port = free_port()
        self.retry_after = retry_after
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.hits: Counter[str] = Counter()
        #: The HTTP client options tests put in the config for this upstream.
        self.client_options = "{}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Upstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)

        async def cancel_rest() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(cancel_rest(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    @staticmethod
    def _reply(model: str, text: str, prompt_tokens: int) -> dict[str, Any]:
        return {
            "id": "chatcmpl-up",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text.split()),
                "total_tokens": prompt_tokens + len(text.split()),
            },
        }

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(inputs))]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        model = str(body.get("model"))
        self.hits[model] += 1
        user = [m for m in body.get("messages", []) if m.get("role") == "user"]
        last = user[-1]["content"] if user else ""
        text = f"echo: {last}"
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        if model.startswith("status-"):
            status = int(model.split("-")[1])
            headers = {"Retry-After": str(self.retry_after)} if status == 429 else {}
            err = {"error": {"message": f"scripted {status}", "type": "test", "param": None, "code": None}}
            return web.json_response(err, status=status, headers=headers)
        if model.startswith("flaky-"):
            if self.hits[model] <= int(model.split("-")[1]):
                return web.json_response({"error": {"message": "busy"}}, status=503)
        if model == "hang":
            await asyncio.sleep(3600)
        if model == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if not body.get("stream"):
            return web.json_response(self._reply(model, text, prompt_tokens))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        words = text.split(" ")
        for i, word in enumerate(words):
            piece = word + (" " if i < len(words) - 1 else "")
            chunk = {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            if i == 1 and model == "stall":
                await asyncio.sleep(3600)
            if i == 1 and model == "reset-stream":
                assert request.transport is not None
                request.transport.abort()
                return resp
        done = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await resp.write(b"data: " + json.dumps(done).encode() + b"\n\n")
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(words),
                    "total_tokens": prompt_tokens + len(words),
                },
            }
            await resp.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp
