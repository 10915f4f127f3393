"""Helpers of the router unit tests: models, routes, routers and calls built by hand."""

from __future__ import annotations

import json
from typing import Any

from tandem.call import Call, KeyInfo
from tandem.config import Config, ModelConfig, RouteConfig
from tandem.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    Hints,
    decode_request,
)
from tandem.routing import CircuitBreaker, Router

_KINDS: dict[str, type] = {
    "chat": ChatCompletionRequest,
    "completions": CompletionRequest,
    "embeddings": EmbeddingRequest,
}


def model(name: str, **kw: Any) -> ModelConfig:
    kw.setdefault("provider", "fake")
    return ModelConfig(name=name, **kw)


def make_call(
    requested: str,
    *,
    endpoint: str = "chat",
    hints: Hints | None = None,
    key: KeyInfo | None = None,
    **body: Any,
) -> Call:
    if endpoint == "chat":
        body.setdefault("messages", [{"role": "user", "content": "hi"}])
    raw_body = {"model": requested, **body}
    params, raw = decode_request(json.dumps(raw_body).encode(), _KINDS[endpoint])
    return Call(
        endpoint=endpoint,  # type: ignore[arg-type]
        requested=requested,
        body=raw,
        params=params,
        hints=hints if hints is not None else getattr(params, "tandem", None),
        key=key,
    )


def router(
    models: list[ModelConfig],
    routes: list[RouteConfig] | None = None,
    breakers: dict[str, CircuitBreaker] | None = None,
    predictors: dict[str, Any] | None = None,
) -> Router:
    cfg = Config(models=models, routes=routes or [])
    return Router(cfg, breakers or {}, predictors)


ALL_CAPS = frozenset({"chat", "completions", "tools", "json", "vision", "embeddings", "logprobs"})


def route(*candidates: str, name: str = "r", **kw: Any) -> RouteConfig:
    return RouteConfig(name=name, candidates=list(candidates), **kw)
