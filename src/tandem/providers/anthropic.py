"""Anthropic's Messages API behind the OpenAI wire format.

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``
headers. Requests and replies are translated both ways by
:mod:`tandem.providers.anthropic_translate` (see there for what maps to
what, and what is emulated or refused); streams are translated event by
event as they arrive, never buffered whole.

Config example::

    - name: claude-sonnet
      provider: anthropic
      model: claude-sonnet-4-5
      api_key_env: ANTHROPIC_API_KEY
      options:
        default_max_tokens: 8192                      # Anthropic requires max_tokens
        headers: {anthropic-beta: prompt-caching-2024-07-31}

``base_url`` defaults to ``https://api.anthropic.com``; a trailing ``/v1`` is
accepted too (as OpenAI-style configs write it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
from pydantic import Field, field_validator

from tandem.call import Endpoint, ProviderResult, ProviderStream
from tandem.config import ModelConfig
from tandem.errors import (
    ContextLengthExceeded,
    TandemError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from tandem.protocol import now
from tandem.providers import anthropic_translate as tr
from tandem.providers.base import Provider, ProviderOptions
from tandem.providers.http_common import HTTPOptions, http_transport, iter_sse, status_error
from tandem.providers.transport import HTTPRequest, Transport

__all__ = ["AnthropicOptions", "AnthropicProvider"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
_MAX_MESSAGE = 500
#: Headers that carry credentials: never from the config file (keys live in env).
_SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization"})


class AnthropicOptions(HTTPOptions):
    """Options of an Anthropic deployment."""

    #: The ``anthropic-version`` header.
    anthropic_version: str = "2023-06-01"
    #: ``max_tokens`` when the request sets none (Anthropic requires one).
    default_max_tokens: int = Field(4096, gt=0)
    #: Extra non-secret headers, e.g. ``anthropic-beta``.
    headers: dict[str, str] = Field(default_factory=dict)
    messages_path: str = "/v1/messages"

    @field_validator("headers")
    @classmethod
    def _no_secrets(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in v if k.lower() in _SECRET_HEADERS)
        if bad:
            raise ValueError(f"{', '.join(bad)} must not be set here; use api_key_env")
        return v


def _is_context_error(message: str) -> bool:
    text = message.lower()
    return "prompt is too long" in text or "context window" in text or "context length" in text


class AnthropicProvider(Provider):
    """An upstream that speaks Anthropic's Messages API."""

    kind: ClassVar[str] = "anthropic"
    endpoints: ClassVar[frozenset[Endpoint]] = frozenset({"chat", "completions"})
    Options = AnthropicOptions
    options: AnthropicOptions

    def __init__(self, config: ModelConfig, options: ProviderOptions, transport: Transport | None = None) -> None:
        super().__init__(config, options)
        base = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        path = self.options.messages_path
        if base.endswith("/v1") and path.startswith("/v1/"):
            path = path[3:]
        self._url = base + path
        headers = {
            "content-type": "application/json",
            "anthropic-version": self.options.anthropic_version,
            **self.options.headers,
        }
        key = config.api_key()
        if key:
            headers["x-api-key"] = key
        self._headers = headers
        self._stream_headers = {**headers, "accept": "text/event-stream"}
        self.transport = transport or http_transport(config, self.options, headers)

    # --- errors -------------------------------------------------------------

    def _scrub(self, err: TandemError) -> TandemError:
        """Remove the API key from an error message, should an upstream echo it."""
        key = self.config.api_key()
        if key and key in err.message:
            err.message = err.message.replace(key, "[redacted]")
            err.args = (err.message,)
        return err

    def _status_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> TandemError:
        err = status_error(self.config.name, status, data, headers)
        # Anthropic words context overflows as "prompt is too long: N tokens > M maximum".
        if type(err) is UpstreamBadRequest and _is_context_error(err.message):
            err = ContextLengthExceeded(err.message, provider=self.config.name)
        return self._scrub(err)

    def _event_error(self, event: Any, *, mid_stream: bool = True) -> TandemError:
        """The exception for an ``error`` event (mid-stream or in a 200 body)."""
        err = event.get("error") if isinstance(event, Mapping) else None
        kind = err.get("type") if isinstance(err, Mapping) else None
        msg = err.get("message") if isinstance(err, Mapping) else None
        text = f"Upstream {self.config.name} failed" + (" mid-stream" if mid_stream else "")
        if isinstance(msg, str) and msg:
            text += f": {msg[:_MAX_MESSAGE]}"
        cls: type[UpstreamError] = UpstreamError
        if kind == "overloaded_error":
            cls = UpstreamUnavailable
        elif kind == "rate_limit_error":
            cls = UpstreamRateLimited
        return self._scrub(cls(text, provider=self.config.name))

    def _malformed(self, what: str) -> UpstreamError:
        return UpstreamError(f"Upstream {self.config.name} sent {what}.", provider=self.config.name)

    # --- calls --------------------------------------------------------------

    def _request_body(self, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
        model = str(body.get("model") or self.config.upstream_model)
        max_tokens = self.options.default_max_tokens
        if endpoint == "chat":
            return tr.chat_request(body, model=model, default_max_tokens=max_tokens)
        if endpoint == "completions":
            return tr.completion_request(body, model=model, default_max_tokens=max_tokens)
        raise self.unsupported(endpoint)

    async def send(self, endpoint: Endpoint, body: dict[str, Any]) -> ProviderResult:
        payload = self._request_body(endpoint, body)
        req = HTTPRequest("POST", self._url, self._headers, orjson.dumps(payload))
        resp = await self.transport.request(req)
        data = await resp.read()
        if resp.status >= 400:
            raise self._status_error(resp.status, data, resp.headers)
        try:
            reply = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise self._malformed("a reply that is not JSON") from None
        if isinstance(reply, dict) and reply.get("type") == "error":
            raise self._event_error(reply, mid_stream=False)
        translate = tr.chat_response if endpoint == "chat" else tr.completion_response
        try:
            out, usage = translate(reply, now())
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._malformed("an unexpected reply") from exc
        return ProviderResult(out, usage)

    async def stream(self, endpoint: Endpoint, body: dict[str, Any], *, passthrough: bool = False) -> ProviderStream:
        payload = {**self._request_body(endpoint, body), "stream": True}
        req = HTTPRequest("POST", self._url, self._stream_headers, orjson.dumps(payload), stream=True)
        resp = await self.transport.request(req)
        state = tr.StreamTranslator(now())
        try:
            if resp.status >= 400:
                raise self._status_error(resp.status, await resp.read(), resp.headers)
            async for sse in iter_sse(resp.iter_chunks()):
                try:
                    event = orjson.loads(sse.data)
                except orjson.JSONDecodeError:
                    raise self._malformed("a malformed stream event") from None
                if not isinstance(event, dict):
                    raise self._malformed("a malformed stream event")
                if event.get("type") == "error":
                    raise self._event_error(event)
                try:
                    chunks = state.feed(event)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    raise self._malformed("a malformed stream event") from exc
                for chunk in chunks:
                    if endpoint == "chat":
                        yield chunk
                    elif (text := tr.text_chunk(chunk)) is not None:
                        yield text
                if state.done:
                    await resp.finish()  # the rest is the body's end: the connection may be reused
                    return
            raise self._malformed("a stream that ended before the message was complete")
        finally:
            await resp.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()
