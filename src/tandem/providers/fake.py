"""A scripted fake provider, shipped for tests and demos (no model, no network).

It answers deterministically and counts tokens as whitespace-separated words,
so tests can check usage and cost by hand. Behaviour is set in ``options``::

    - name: fake-gpt
      provider: fake
      price: {input: 10, output: 30}
      options:
        replies: ["Paris is the capital of France."]   # cycled; default: echo
        delay_ms: 5                                     # per reply (and per chunk)
        errors: [429, 503]          # the first calls fail with these statuses

With ``tools`` in the request it calls the first tool (arguments built from
the tool's JSON schema) until a tool result is in the conversation; with
``response_format`` json it replies with a JSON object.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
from typing import Any, ClassVar

from pydantic import Field

from tandem.call import Endpoint, ProviderResult, ProviderStream, Usage
from tandem.config import ModelConfig
from tandem.errors import UpstreamRateLimited, UpstreamUnavailable
from tandem.protocol import now
from tandem.providers.base import Provider, ProviderOptions
from tandem.providers.http_common import status_error

__all__ = ["FakeOptions", "FakeProvider"]


class FakeOptions(ProviderOptions):
    """Script of a fake provider."""

    replies: list[str] = Field(default_factory=list)
    delay_ms: float = 0.0
    #: HTTP statuses the first calls fail with, in order.
    errors: list[int] = Field(default_factory=list)
    embedding_dim: int = 16
    #: Tokens reported per streamed chunk.
    words_per_chunk: int = 1


def _words(text: str) -> int:
    return len(text.split())


def _example(schema: dict[str, Any] | None) -> Any:
    """A small value that satisfies a simple JSON schema."""
    schema = schema or {}
    kind = schema.get("type")
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: _example(v) for k, v in props.items()}
    if kind == "array":
        return [_example(schema.get("items"))]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(str(kind), "text")


class FakeProvider(Provider):
    """Deterministic scripted answers; see the module docstring."""

    kind: ClassVar[str] = "fake"
    endpoints: ClassVar[frozenset[Endpoint]] = frozenset({"chat", "completions", "embeddings"})
    Options = FakeOptions
    options: FakeOptions

    def __init__(self, config: ModelConfig, options: ProviderOptions) -> None:
        super().__init__(config, options)
        self._replies = itertools.cycle(self.options.replies) if self.options.replies else None
        self._errors = list(self.options.errors)
        self.calls = 0

    def _fail_if_scripted(self) -> None:
        self.calls += 1
        if self._errors:
            status = self._errors.pop(0)
            if status == 429:
                raise UpstreamRateLimited("Upstream fake is rate limiting requests", retry_after=0)
            if status == 503:
                raise UpstreamUnavailable("Upstream fake is unavailable")
            raise status_error(self.config.name, status, b"", {})

    def _reply_text(self, body: dict[str, Any], prompt: str) -> str:
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return json.dumps(_example((fmt.get("json_schema") or {}).get("schema")))
        if fmt.get("type") == "json_object":
            return json.dumps({"answer": next(self._replies) if self._replies else prompt[-200:]})
        if self._replies is not None:
            return next(self._replies)
        return f"You said: {prompt}"

    @staticmethod
    def _prompt(endpoint: Endpoint, body: dict[str, Any]) -> tuple[str, str]:
        """(last user text, all prompt text)."""
        if endpoint == "chat":
            texts = []
            for m in body.get("messages") or []:
                c = m.get("content")
                texts.append(c if isinstance(c, str) else json.dumps(c) if c else "")
            user = [m for m in body.get("messages") or [] if m.get("role") == "user"]
            last = user[-1].get("content") if user else ""
            return (last if isinstance(last, str) else json.dumps(last)), " ".join(texts)
        p = body.get("prompt", "")
        text = p if isinstance(p, str) else " ".join(map(str, p))
        return text, text

    def _tool_call(self, body: dict[str, Any]) -> dict[str, Any] | None:
        tools = body.get("tools")
        if not tools or body.get("tool_choice") == "none":
            return None
        if any(m.get("role") == "tool" for m in body.get("messages") or []):
            return None
        fn = tools[0]["function"]
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and "function" in choice:
            fn = next((t["function"] for t in tools if t["function"]["name"] == choice["function"]["name"]), fn)
        args = json.dumps(_example(fn.get("parameters")))
        return {"id": f"call_{self.calls}", "type": "function", "function": {"name": fn["name"], "arguments": args}}

    async def send(self, endpoint: Endpoint, body: dict[str, Any]) -> ProviderResult:
        self._fail_if_scripted()
        if self.options.delay_ms:
            await asyncio.sleep(self.options.delay_ms / 1000)
        last, everything = self._prompt(endpoint, body)
        usage = Usage(prompt_tokens=_words(everything))
        model = body.get("model", self.config.upstream_model)
        if endpoint == "embeddings":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [{"object": "embedding", "index": i, "embedding": self._embed(str(t))} for i, t in enumerate(inputs)]
            usage = Usage(prompt_tokens=sum(_words(str(t)) for t in inputs))
            return ProviderResult({"object": "list", "data": data, "model": model, "usage": usage.to_dict()}, usage)
        n = int(body.get("n") or 1)
        if endpoint == "completions":
            text = self._reply_text(body, last)
            usage.completion_tokens = _words(text) * n
            choices: list[dict[str, Any]] = [
                {"index": i, "text": text, "finish_reason": "stop", "logprobs": None} for i in range(n)
            ]
            reply = {
                "id": f"cmpl-fake{self.calls}",
                "object": "text_completion",
                "created": now(),
                "model": model,
                "choices": choices,
                "usage": usage.to_dict(),
            }
            return ProviderResult(reply, usage)
        call = self._tool_call(body)
        if call is not None:
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
            usage.completion_tokens = _words(call["function"]["arguments"]) + 1
            finish = "tool_calls"
        else:
            text = self._reply_text(body, last)
            message = {"role": "assistant", "content": text}
            usage.completion_tokens = _words(text) * n
            finish = "stop"
        choices = [{"index": i, "message": message, "finish_reason": finish, "logprobs": None} for i in range(n)]
        reply = {
            "id": f"chatcmpl-fake{self.calls}",
            "object": "chat.completion",
            "created": now(),
            "model": model,
            "choices": choices,
            "usage": usage.to_dict(),
        }
        return ProviderResult(reply, usage)

    async def stream(self, endpoint: Endpoint, body: dict[str, Any], *, passthrough: bool = False) -> ProviderStream:
        result = await self.send(endpoint, body)
        reply = result.body
        base: dict[str, Any] = {"id": reply["id"], "created": reply["created"], "model": reply["model"]}
        if endpoint == "completions":
            text = reply["choices"][0]["text"]
            for piece in self._pieces(text):
                yield {
                    **base,
                    "object": "text_completion",
                    "choices": [{"index": 0, "text": piece, "finish_reason": None}],
                }
                await self._tick()
            yield {**base, "object": "text_completion", "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
        else:
            msg = reply["choices"][0]["message"]
            kind = "chat.completion.chunk"
            yield {
                **base,
                "object": kind,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            }
            if msg.get("tool_calls"):
                tc = msg["tool_calls"][0]
                head = {
                    "index": 0,
                    "id": tc["id"],
                    "type": "function",
                    "function": {"name": tc["function"]["name"], "arguments": ""},
                }
                yield {
                    **base,
                    "object": kind,
                    "choices": [{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}],
                }
                args = tc["function"]["arguments"]
                for i in range(0, len(args), 8):
                    part = {"index": 0, "function": {"arguments": args[i : i + 8]}}
                    yield {
                        **base,
                        "object": kind,
                        "choices": [{"index": 0, "delta": {"tool_calls": [part]}, "finish_reason": None}],
                    }
            else:
                for piece in self._pieces(msg["content"]):
                    yield {
                        **base,
                        "object": kind,
                        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                    }
                    await self._tick()
            finish = reply["choices"][0]["finish_reason"]
            yield {**base, "object": kind, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        yield {
            **base,
            "object": "chat.completion.chunk" if endpoint == "chat" else "text_completion",
            "choices": [],
            "usage": result.usage.to_dict(),
        }

    def _pieces(self, text: str) -> list[str]:
        words = text.split(" ")
        k = max(1, self.options.words_per_chunk)
        return [" ".join(words[i : i + k]) + (" " if i + k < len(words) else "") for i in range(0, len(words), k)]

    async def _tick(self) -> None:
        await asyncio.sleep(self.options.delay_ms / 1000 / 10 if self.options.delay_ms else 0)

    def _embed(self, text: str) -> list[float]:
        dim = self.options.embedding_dim
        digest = hashlib.sha256(text.encode()).digest() * (dim // 32 + 1)
        vec = [b / 255 - 0.5 for b in digest[:dim]]
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]
