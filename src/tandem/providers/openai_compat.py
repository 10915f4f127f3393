"""Any OpenAI-compatible HTTP upstream: OpenAI, Azure-style deployments, vLLM,
llama.cpp server, Ollama, Together, Groq, ...

Requests pass through nearly untouched (the gateway has already set the
upstream model id); streamed replies are parsed event by event and passed on
as they arrive, never buffered whole. Differences between servers are
options (data), not branches.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

import orjson
from pydantic import Field

from tandem.call import Endpoint, ProviderResult, ProviderStream, Usage
from tandem.config import ModelConfig
from tandem.errors import UpstreamError
from tandem.providers.base import Provider, ProviderOptions
from tandem.providers.http_common import HTTPOptions, http_transport, iter_sse, passes_through, status_error
from tandem.providers.transport import HTTPRequest, Transport

__all__ = ["OpenAICompatOptions", "OpenAICompatProvider"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAICompatOptions(HTTPOptions):
    """Per-server differences of OpenAI-compatible upstreams."""

    #: ``authorization`` sends ``Bearer KEY``; ``api-key`` is Azure's header.
    auth_header: Literal["authorization", "api-key"] = "authorization"
    #: Query parameters added to every URL (e.g. Azure's ``api-version``).
    query: dict[str, str] = Field(default_factory=dict)
    #: Extra non-secret headers (e.g. ``OpenAI-Organization``).
    headers: dict[str, str] = Field(default_factory=dict)
    #: Whether the server understands ``stream_options.include_usage``.
    stream_usage: bool = True
    chat_path: str = "/chat/completions"
    completions_path: str = "/completions"
    embeddings_path: str = "/embeddings"


class OpenAICompatProvider(Provider):
    """An upstream that speaks the OpenAI HTTP API."""

    kind: ClassVar[str] = "openai"
    endpoints: ClassVar[frozenset[Endpoint]] = frozenset({"chat", "completions", "embeddings"})
    Options = OpenAICompatOptions
    options: OpenAICompatOptions

    def __init__(self, config: ModelConfig, options: ProviderOptions, transport: Transport | None = None) -> None:
        super().__init__(config, options)
        base = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        query = urlencode(self.options.query)
        suffix = f"?{query}" if query else ""
        self._urls: dict[Endpoint, str] = {
            "chat": base + self.options.chat_path + suffix,
            "completions": base + self.options.completions_path + suffix,
            "embeddings": base + self.options.embeddings_path + suffix,
        }
        headers = {"content-type": "application/json", **self.options.headers}
        key = config.api_key()
        if key:
            if self.options.auth_header == "api-key":
                headers["api-key"] = key
            else:
                headers["authorization"] = f"Bearer {key}"
        self._headers = headers
        self._stream_headers = {**headers, "accept": "text/event-stream"}
        self.transport = transport or http_transport(config, self.options, headers)

    async def send(self, endpoint: Endpoint, body: dict[str, Any]) -> ProviderResult:
        req = HTTPRequest("POST", self._urls[endpoint], self._headers, orjson.dumps(body))
        resp = await self.transport.request(req)
        data = await resp.read()
        if resp.status >= 400:
            raise status_error(self.config.name, resp.status, data, resp.headers)
        try:
            reply = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError(
                f"Upstream {self.config.name} sent a reply that is not JSON.", provider=self.kind
            ) from None
        if not isinstance(reply, dict):
            raise UpstreamError(f"Upstream {self.config.name} sent an unexpected reply.")
        return ProviderResult(reply, Usage.from_dict(reply.get("usage")))

    async def stream(self, endpoint: Endpoint, body: dict[str, Any], *, passthrough: bool = False) -> ProviderStream:
        body = {**body, "stream": True}
        if not self.options.stream_usage:
            body.pop("stream_options", None)  # the server does not know it (a client may have set it)
        elif endpoint != "embeddings":
            body["stream_options"] = {"include_usage": True}
        req = HTTPRequest("POST", self._urls[endpoint], self._stream_headers, orjson.dumps(body), stream=True)
        resp = await self.transport.request(req)
        try:
            if resp.status >= 400:
                data = await resp.read()
                raise status_error(self.config.name, resp.status, data, resp.headers)
            async for event in iter_sse(resp.iter_chunks()):
                if event.data == b"[DONE]":
                    await resp.finish()  # the rest is the body's end: the connection may be reused
                    return
                if passthrough and passes_through(event.data):
                    yield event.data
                    continue
                try:
                    chunk = orjson.loads(event.data)
                except orjson.JSONDecodeError:
                    raise UpstreamError(f"Upstream {self.config.name} sent a malformed stream event.") from None
                if isinstance(chunk, dict) and "error" in chunk:
                    err = chunk["error"]
                    msg = err.get("message") if isinstance(err, dict) else str(err)
                    raise UpstreamError(f"Upstream {self.config.name} failed mid-stream: {msg}")
                yield chunk
        finally:
            await resp.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()
