"""Which model serves a call: hard constraints first, then the route's objective.

Constraints filter the candidates (each rejection is recorded with its
reason, for ``x-tandem-route-reason`` and ``tandem route explain``):
capabilities the request needs (tools, json, vision, embeddings, the
endpoint), the context length the prompt needs, the privacy tier allowed,
the key's allowed models, circuit-breaker health, and the request's hints
(max cost, max latency). The objective orders the survivors; the first is
chosen, the rest are fallbacks. A quality target (route ``min_quality`` or
the ``min_quality`` hint) is the objective's goal, not a filter: when no
candidate is predicted to reach it, the best predicted one serves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tandem.call import Call, RouteDecision
from tandem.config import Config, ModelConfig, RouteConfig
from tandem.errors import ModelNotFound, NoCandidate, PermissionDenied
from tandem.routing.breaker import CircuitBreaker
from tandem.routing.objectives import OBJECTIVES, Candidate

__all__ = ["Router", "required_capabilities"]

_TIERS = {"local": 0, "trusted": 1, "public": 2}
#: Completion tokens assumed for cost estimates when the request sets no limit.
DEFAULT_COMPLETION_TOKENS = 256

Predictor = Callable[[str], Mapping[str, float]]


def required_capabilities(call: Call) -> set[str]:
    """The capabilities a model needs to serve ``call``."""
    caps: set[str] = {call.endpoint}
    body = call.body
    if call.endpoint == "chat":
        if body.get("tools"):
            caps.add("tools")
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
            caps.add("json")
        for m in body.get("messages") or ():
            content = m.get("content")
            if isinstance(content, list) and any(
                isinstance(p, dict) and p.get("type") in ("image_url", "input_image") for p in content
            ):
                caps.add("vision")
                break
    if body.get("logprobs"):
        caps.add("logprobs")
    if call.hints and call.hints.capabilities:
        caps.update(call.hints.capabilities)
    return caps


class Router:
    """Resolves model and route names and decides the try order for a call."""

    def __init__(
        self,
        config: Config,
        breakers: Mapping[str, CircuitBreaker],
        predictors: Mapping[str, Predictor] | None = None,
    ) -> None:
        self.config = config
        self.breakers = breakers
        self.predictors = dict(predictors or {})
        self._models = {m.name: m for m in config.models}
        self._routes = {r.name: r for r in config.routes}
        # A model called directly is a one-candidate route, built once.
        self._direct = {
            m.name: RouteConfig(name=m.name, candidates=[m.name], objective="ordered", fallback=False)
            for m in config.models
        }

    def names(self) -> list[str]:
        """Every name a client can call: models, then routes."""
        return [*self._models, *self._routes]

    def route(self, name: str) -> RouteConfig | None:
        """The route called ``name``, or None."""
        return self._routes.get(name)

    def model(self, name: str) -> ModelConfig | None:
        """The model called ``name``, or None."""
        return self._models.get(name)

    def decide(self, call: Call, allowed_tiers: frozenset[str] | None = None) -> RouteDecision:
        """Choose the model (and fallback order) for ``call``.

        ``allowed_tiers`` narrows the privacy tiers (e.g. the privacy guard's
        ``local-only`` policy). Raises :class:`ModelNotFound`,
        :class:`PermissionDenied` or :class:`NoCandidate`.
        """
        name = call.requested
        route = self._routes.get(name)
        key = call.key
        if route is None:
            model = self._models.get(name)
            if model is None:
                raise ModelNotFound(f"The model {name!r} does not exist.", param="model")
            route = self._direct[name]
            route_name = None
        else:
            route_name = route.name
        if key is not None and key.allowed_models is not None and name not in key.allowed_models:
            if route_name is None or not (set(route.candidates) & key.allowed_models):
                raise PermissionDenied(f"This key may not use {name!r}.", param="model")
        hints = call.hints
        max_tier = _TIERS["public"]
        if hints is not None and hints.privacy is not None:
            max_tier = _TIERS[hints.privacy]
        caps = required_capabilities(call)
        params = call.params  # completions have max_tokens only, no token_limit
        limit = getattr(params, "token_limit", None) or getattr(params, "max_tokens", None)
        completion = limit or DEFAULT_COMPLETION_TOKENS
        prompt_tokens = call.estimated_prompt_tokens()
        predicted = self._predict(route, call)
        rejected: dict[str, str] = {}
        cands: list[Candidate] = []
        for cname in route.candidates:
            m = self._models[cname]
            reason = self._reject(m, caps, prompt_tokens, limit, max_tier, allowed_tiers, key, name)
            if reason is None and hints is not None:
                reason = self._reject_by_hints(m, prompt_tokens, completion, hints, predicted)
            if reason is not None:
                rejected[cname] = reason
                continue
            cost = m.price.cost(prompt_tokens, completion)
            cands.append(Candidate(m, predicted.get(cname, m.quality), cost, m.latency_ms))
        if not cands:
            detail = "; ".join(f"{k}: {v}" for k, v in rejected.items())
            raise NoCandidate(f"No model can serve this request ({detail}).", param="model")
        min_q = hints.min_quality if hints is not None else None
        ordered, reason = OBJECTIVES[route.objective].order(cands, route, min_q)
        if not route.fallback:
            ordered = ordered[:1]
        return RouteDecision(
            route=route_name,
            model=ordered[0].name,
            reason=reason if route_name else "requested directly",
            order=[c.name for c in ordered],
            rejected=rejected,
            predicted=predicted,
            estimated_cost=ordered[0].cost,
        )

    def _predict(self, route: RouteConfig, call: Call) -> dict[str, float]:
        predictor = self.predictors.get(route.name)
        if predictor is None:
            return {}
        return dict(predictor(call.prompt_text()))

    def _reject(
        self,
        m: ModelConfig,
        caps: set[str],
        prompt_tokens: int,
        limit: int | None,
        max_tier: int,
        allowed_tiers: frozenset[str] | None,
        key: Any,
        requested: str,
    ) -> str | None:
        missing = caps - m.capabilities
        if missing:
            return f"lacks {', '.join(sorted(missing))}"
        if prompt_tokens + (limit or 0) > m.context_window:
            return f"context window {m.context_window} too small"
        if _TIERS[m.privacy] > max_tier or (allowed_tiers is not None and m.privacy not in allowed_tiers):
            return f"privacy tier {m.privacy} not allowed"
        if key is not None and key.allowed_models is not None and m.name not in key.allowed_models:
            # A key allowed to call a route may use every candidate of it.
            if requested not in key.allowed_models:
                return "not allowed for this key"
        breaker = self.breakers.get(m.name)
        if breaker is not None and not breaker.available():
            return "circuit open (recent failures)"
        return None

    @staticmethod
    def _reject_by_hints(
        m: ModelConfig, prompt_tokens: int, completion: int, hints: Any, predicted: Mapping[str, float]
    ) -> str | None:
        if hints.max_cost is not None and m.price.cost(prompt_tokens, completion) > hints.max_cost:
            return f"estimated cost over max_cost {hints.max_cost:g}"
        if hints.max_latency_ms is not None and m.latency_ms > hints.max_latency_ms:
            return f"expected latency {m.latency_ms:.0f} ms over {hints.max_latency_ms:g}"
        return None
