"""One request through tandem: guard -> route -> call (retry, fallback) -> account.

The HTTP layer, the CLI, ``tandem bench`` and ``tandem batch`` all go through
:class:`Gateway`, so live traffic and offline runs share prices, retries,
routing, privacy and the ledger.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson

from tandem.accounting import Accountant, NoAccounting
from tandem.call import Call, Endpoint, KeyInfo, ProviderResult, ProviderStream, Usage
from tandem.config import CascadeConfig, Config, ModelConfig, RouteConfig
from tandem.deadline import Deadline
from tandem.errors import (
    ContextLengthExceeded,
    NoCandidate,
    TandemError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamTimeout,
)
from tandem.guard import PrivacyStage, Protection, restore_message
from tandem.protocol import ChatCompletionRequest, CompletionRequest, EmbeddingRequest, decode_request
from tandem.providers.base import Provider, create_provider
from tandem.routing.breaker import CircuitBreaker
from tandem.routing.cascade import CHECKS
from tandem.routing.router import Predictor, Router

__all__ = ["Gateway", "RetryPolicy"]

_REQUEST_TYPES: dict[str, type[Any]] = {
    "chat": ChatCompletionRequest,
    "completions": CompletionRequest,
    "embeddings": EmbeddingRequest,
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of one deployment before falling back to the next.

    Only errors that cannot double-bill are retried (connect errors, 429,
    503), with exponential backoff and full jitter, honouring Retry-After up
    to ``max_wait`` (a longer wait falls back instead).
    """

    max_retries: int = 2
    base_delay: float = 0.2
    max_delay: float = 4.0
    max_wait: float = 10.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry ``attempt`` (0-based), or None to give up."""
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def _is_upstream_failure(exc: TandemError) -> bool:
    """Failures that count against a deployment's health."""
    return isinstance(exc, UpstreamError) and not isinstance(exc, UpstreamBadRequest)


def _can_fall_back(exc: TandemError) -> bool:
    return _is_upstream_failure(exc) or isinstance(exc, ContextLengthExceeded | NoCandidate)


class Gateway:
    """Serves calls over the configured ensemble."""

    def __init__(
        self,
        config: Config,
        providers: Mapping[str, Provider],
        *,
        accountant: Accountant | None = None,
        privacy: PrivacyStage | None = None,
        predictors: Mapping[str, Predictor] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.config = config
        self.providers = dict(providers)
        self.breakers = {name: CircuitBreaker() for name in self.providers}
        self.router = Router(config, self.breakers, predictors)
        self.accountant: Accountant = accountant or NoAccounting()
        self.privacy = privacy or PrivacyStage(None, "allow")
        self.retry = retry or RetryPolicy()
        self._models = {m.name: m for m in config.models}
        #: Observers called with every finished call (metrics, logs).
        self.observers: list[Any] = []

    @classmethod
    def from_config(
        cls, config: Config, *, provider_kwargs: Mapping[str, dict[str, Any]] | None = None, **kwargs: Any
    ) -> Gateway:
        """Build every configured provider and the gateway over them."""
        providers = {m.name: create_provider(m, **(provider_kwargs or {}).get(m.name, {})) for m in config.models}
        return cls(config, providers, **kwargs)

    async def aclose(self) -> None:
        """Close every provider."""
        await asyncio.gather(*(p.aclose() for p in self.providers.values()), return_exceptions=True)

    # --- the steps ---------------------------------------------------------

    async def _prepare(self, call: Call) -> tuple[Protection, list[str], RouteConfig | None]:
        """Guard, route, and reserve the chosen model's estimated cost."""
        route = self.router.route(call.requested)
        protection = self.privacy.apply(call, route.privacy if route else None)
        decision = self.router.decide(call, protection.allowed_tiers)
        call.decision = decision
        await self.accountant.admit(call, decision.estimated_cost)
        return protection, decision.order, route

    def _body(self, call: Call, model: ModelConfig, protection: Protection) -> dict[str, Any]:
        body = protection.body_for(model.privacy, call.body)
        body = {**body, "model": model.upstream_model}
        body.pop("tandem", None)
        return body

    def _finish(self, call: Call) -> None:
        call.latency_s = time.perf_counter() - call.started
        if call.model is not None:
            usage = call.usage
            call.cost_usd = (
                self._models[call.model].price.cost(usage.prompt_tokens, usage.completion_tokens)
                + call.discarded_cost_usd
            )
        self.accountant.settle(call)
        for observe in self.observers:
            observe(call)

    def _served_by(self, call: Call, model: ModelConfig) -> None:
        call.model = model.name
        call.provider = model.provider

    async def _run(
        self, call: Call, order: list[str], protection: Protection, streaming: bool, passthrough: bool = False
    ) -> Any:
        """Try the order with retries and fallback; returns a result or an open stream
        (whose chunks may pass through as bytes, see :meth:`stream_events`)."""
        last: TandemError | None = None
        for index, name in enumerate(order):
            model, provider = self._models[name], self.providers[name]
            breaker = self.breakers[name]
            if index > 0:
                call.fallbacks += 1
            attempt = 0
            while True:
                if not breaker.acquire():
                    last = last or NoCandidate(f"Model {name!r} is cooling down after failures.")
                    break
                body = self._body(call, model, protection)
                try:
                    if streaming:
                        # Chunks pass through unread unless placeholders must be restored in them.
                        raw = passthrough and not protection.restores(model.privacy)
                        result: Any = await self._open_stream(provider, call, body, model, raw)
                    else:
                        with Deadline(model.timeouts.total):
                            result = await provider.send(call.endpoint, body)
                except TimeoutError:
                    exc: TandemError = UpstreamTimeout(
                        f"Upstream {name} did not finish within {model.timeouts.total:g} s.", provider=model.provider
                    )
                except TandemError as e:
                    exc = e
                except BaseException:
                    breaker.release()  # cancelled (client gone): no verdict on the upstream
                    raise
                else:
                    breaker.record_success()
                    self._served_by(call, model)
                    return result
                last = exc
                if _is_upstream_failure(exc):
                    breaker.record_failure()
                else:
                    breaker.release()
                wait = self.retry.delay(attempt, exc.retry_after) if exc.retryable else None
                if wait is None:
                    break
                attempt += 1
                call.retries += 1
                await asyncio.sleep(wait)
            if not _can_fall_back(last):
                break
        assert last is not None
        raise last

    async def _cascade(
        self, call: Call, order: list[str], protection: Protection, cfg: CascadeConfig
    ) -> ProviderResult:
        """Cheapest candidate first; escalate to the next while the check fails."""
        check = CHECKS[cfg.check]
        ladder = sorted(order, key=lambda n: self._models[n].price.input + self._models[n].price.output)

        async def call_model(name: str, body: dict[str, Any]) -> ProviderResult:
            model = self._models[name]
            res = await self.providers[name].send(
                "chat", {**self._body(call, model, protection), **body, "model": model.upstream_model}
            )
            call.discarded_cost_usd += model.price.cost(res.usage.prompt_tokens, res.usage.completion_tokens)
            return res

        for i, name in enumerate(ladder):
            last = i == len(ladder) - 1
            saved = call.body
            if not last and check.request_extra:
                call.body = {**call.body, **check.request_extra}
            try:
                result: ProviderResult = await self._run(call, [name], protection, streaming=False)
            except TandemError:
                if last:
                    raise
                call.fallbacks += 1
                continue
            finally:
                call.body = saved
            if last:
                return result
            ok, score = await check.passes(cfg, name, call.body, result, call_model)
            if ok:
                if call.decision is not None:
                    call.decision.reason = f"cascade: {name} passed {cfg.check} check ({score:.2f})"
                return result
            call.escalated = True
            model = self._models[name]
            call.discarded_cost_usd += model.price.cost(result.usage.prompt_tokens, result.usage.completion_tokens)
            if call.decision is not None:
                call.decision.reason = f"cascade: escalated past {name} ({cfg.check} {score:.2f} < {cfg.threshold:g})"
        raise NoCandidate("The cascade has no candidate left.")  # pragma: no cover - ladder is never empty

    async def _open_stream(
        self, provider: Provider, call: Call, body: dict[str, Any], model: ModelConfig, passthrough: bool
    ) -> tuple[ProviderStream, dict[str, Any] | bytes]:
        """Start a stream and wait for its first chunk (errors before it can be retried)."""
        agen = provider.stream(call.endpoint, body, passthrough=passthrough)
        first: dict[str, Any] | bytes
        try:
            with Deadline(model.timeouts.first_byte):
                first = await agen.__anext__()
        except StopAsyncIteration:
            first = {}
        except BaseException:
            await agen.aclose()
            raise
        return agen, first

    # --- public API --------------------------------------------------------

    def new_call(self, endpoint: Endpoint, body: dict[str, Any], key: KeyInfo | None = None) -> Call:
        """Validate an OpenAI-format request body into a :class:`Call`, for
        in-process callers (CLI, ``tandem bench``, ``tandem batch``).

        Raises :class:`tandem.errors.InvalidRequest` as the HTTP API would.
        """
        kind = _REQUEST_TYPES[endpoint]
        params, raw = decode_request(orjson.dumps(body), kind)
        opts = getattr(params, "stream_options", None)
        return Call(
            endpoint=endpoint,
            requested=params.model,
            body=raw,
            params=params,
            stream=bool(getattr(params, "stream", False)),
            include_usage=bool(opts and opts.include_usage),
            hints=params.tandem,
            key=key,
        )

    async def run(
        self, endpoint: Endpoint, body: dict[str, Any], key: KeyInfo | None = None
    ) -> tuple[ProviderResult, Call]:
        """Serve one non-streamed request in-process; returns the reply and its
        finished :class:`Call` (model, usage, cost, latency, route decision)."""
        call = self.new_call(endpoint, {**body, "stream": False}, key)
        result = await self.complete(call)
        return result, call

    async def complete(self, call: Call) -> ProviderResult:
        """Serve a non-streamed call. Raises a :class:`TandemError` on failure."""
        try:
            protection, order, route = await self._prepare(call)
            if route is not None and route.cascade is not None and call.endpoint == "chat":
                result = await self._cascade(call, order, protection, route.cascade)
            else:
                result = await self._run(call, order, protection, streaming=False)
            call.usage = result.usage
            assert call.model is not None
            if protection.restores(self._models[call.model].privacy):
                for choice in result.body.get("choices") or ():
                    if "message" in choice:
                        restore_message(choice["message"], protection.restore)
                    elif isinstance(choice.get("text"), str):
                        choice["text"] = protection.restore(choice["text"])
            return result
        except TandemError as exc:
            call.status, call.error = exc.status_code, exc.code
            raise
        finally:
            self._finish(call)

    async def stream(self, call: Call) -> AsyncGenerator[dict[str, Any], None]:
        """Serve a streamed call, yielding OpenAI chunk dicts.

        Errors before the first chunk are retried and fall back; after it,
        they end the stream with the error raised to the caller (the HTTP
        layer sends an error event and never ``[DONE]``).
        """
        async with aclosing(self.stream_events(call, passthrough=False)) as events:
            async for chunk in events:
                yield chunk if isinstance(chunk, dict) else orjson.loads(chunk)

    async def stream_events(self, call: Call, passthrough: bool = True) -> ProviderStream:
        """:meth:`stream`, where a chunk that nothing here needs to read or
        change (no placeholder to restore in the reply, no usage, no error)
        may come as the upstream's JSON bytes, for the HTTP layer to write
        as they are: no parse and no serialization per streamed token."""
        agen: ProviderStream | None = None
        try:
            protection, order, _ = await self._prepare(call)
            agen, first = await self._run(call, order, protection, streaming=True, passthrough=passthrough)
            call.first_token_s = time.perf_counter() - call.started
            assert call.model is not None
            restorer = _StreamRestore(protection) if protection.restores(self._models[call.model].privacy) else None
            chunk: dict[str, Any] | bytes | None = first
            last: dict[str, Any] | bytes = first
            usage_seen = False
            counted = 0
            while chunk is not None:
                if type(chunk) is bytes:  # passed through: has choices, no usage (http_common.passes_through)
                    counted += 1
                    yield chunk
                else:
                    assert isinstance(chunk, dict)
                    if chunk.get("usage"):
                        call.usage = Usage.from_dict(chunk["usage"])
                        usage_seen = True
                    if restorer is not None:
                        restorer.apply(chunk)
                    if chunk.get("choices"):
                        counted += 1
                        if not call.include_usage:
                            chunk.pop("usage", None)
                        yield chunk
                    elif call.include_usage and chunk.get("usage"):
                        yield chunk
                last = chunk
                chunk = await anext(agen, None)
            if not usage_seen:
                # The upstream sent no usage (some servers ignore stream_options):
                # count as the ledger does, and give a client that asked for
                # usage its final usage chunk all the same.
                call.usage = Usage(call.estimated_prompt_tokens(), counted)
                if call.include_usage:
                    yield _usage_chunk(last if isinstance(last, dict) else orjson.loads(last), call.usage)
        except TandemError as exc:
            call.status, call.error = exc.status_code, exc.code
            raise
        except asyncio.CancelledError:
            call.status, call.error = 499, "client_disconnected"
            raise
        finally:
            if agen is not None:
                await agen.aclose()
            self._finish(call)


def _usage_chunk(last: dict[str, Any], usage: Usage) -> dict[str, Any]:
    """The final chunk of a stream whose client asked for usage: no choices, the usage."""
    out: dict[str, Any] = {k: last[k] for k in ("id", "object", "created", "model", "system_fingerprint") if k in last}
    out["choices"] = []
    out["usage"] = usage.to_dict()
    return out


class _StreamRestore:
    """Restores placeholders in streamed deltas, per choice, across chunk splits."""

    def __init__(self, protection: Protection) -> None:
        self.protection = protection
        self.restorers: dict[tuple[int, str], Any] = {}

    def _feed(self, key: tuple[int, str], text: str) -> str:
        r = self.restorers.get(key)
        if r is None:
            r = self.restorers[key] = self.protection.restorer()
            assert r is not None  # only built when the protection restores
        out: str = r.feed(text)
        return out

    def apply(self, chunk: dict[str, Any]) -> None:
        for choice in chunk.get("choices") or ():
            idx = int(choice.get("index") or 0)
            delta = choice.get("delta")
            if delta is None and isinstance(choice.get("text"), str):
                choice["text"] = self._feed((idx, "text"), choice["text"])
                if choice.get("finish_reason"):
                    choice["text"] += self._flush((idx, "text"))
                continue
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str):
                delta["content"] = self._feed((idx, "content"), delta["content"])
            for tc in delta.get("tool_calls") or ():
                fn = tc.get("function") or {}
                if isinstance(fn.get("arguments"), str):
                    fn["arguments"] = self._feed((idx, f"tool{tc.get('index', 0)}"), fn["arguments"])
            if choice.get("finish_reason"):
                rest = self._flush((idx, "content"))
                if rest:
                    delta["content"] = (delta.get("content") or "") + rest

    def _flush(self, key: tuple[int, str]) -> str:
        r = self.restorers.pop(key, None)
        return r.flush() if r is not None else ""
