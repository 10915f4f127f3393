"""Router, objectives and circuit breaker, with configs and calls built by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

import tandem.routing.breaker as breaker_mod
from tandem.call import Call, KeyInfo
from tandem.config import Config, ModelConfig, Price, RouteConfig
from tandem.errors import ModelNotFound, NoCandidate, PermissionDenied
from tandem.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    Hints,
    decode_request,
)
from tandem.routing import OBJECTIVES, Candidate, CircuitBreaker, Router, required_capabilities
from tandem.routing.router import DEFAULT_COMPLETION_TOKENS

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


# --- names and direct requests ----------------------------------------------


def test_unknown_name_is_model_not_found() -> None:
    r = router([model("a")], [route("a")])
    with pytest.raises(ModelNotFound) as info:
        r.decide(make_call("gpt-5"))
    assert info.value.param == "model"
    assert "gpt-5" in info.value.message
    assert info.value.status_code == 404


def test_names_models_then_routes() -> None:
    r = router([model("a"), model("b")], [route("b", "a")])
    assert r.names() == ["a", "b", "r"]
    assert r.model("a") is not None and r.model("r") is None
    assert r.route("r") is not None and r.route("a") is None


def test_direct_model_request() -> None:
    r = router([model("a"), model("b")], [route("a", "b")])
    d = r.decide(make_call("b"))
    assert d.route is None
    assert d.model == "b"
    assert d.order == ["b"]
    assert d.reason == "requested directly"
    assert d.rejected == {}


def test_direct_model_that_cannot_serve_is_no_candidate() -> None:
    r = router([model("a")])
    call = make_call("a", tools=[{"type": "function", "function": {"name": "f"}}])
    with pytest.raises(NoCandidate, match="a: lacks tools"):
        r.decide(call)


# --- capability constraints -------------------------------------------------


def test_required_capabilities_from_body() -> None:
    assert required_capabilities(make_call("x")) == {"chat"}
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert required_capabilities(make_call("x", tools=tools)) == {"chat", "tools"}
    assert required_capabilities(make_call("x", tools=[])) == {"chat"}
    assert required_capabilities(make_call("x", response_format={"type": "json_object"})) == {
        "chat",
        "json",
    }
    assert required_capabilities(make_call("x", response_format={"type": "text"})) == {"chat"}
    vision = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ],
        }
    ]
    assert required_capabilities(make_call("x", messages=vision)) == {"chat", "vision"}
    assert required_capabilities(make_call("x", logprobs=True)) == {"chat", "logprobs"}
    assert required_capabilities(make_call("x", endpoint="embeddings", input="t")) == {"embeddings"}
    assert required_capabilities(make_call("x", endpoint="completions", prompt="t")) == {"completions"}
    hinted = make_call("x", hints=Hints(capabilities=["vision"]))
    assert required_capabilities(hinted) == {"chat", "vision"}


@pytest.mark.parametrize(
    ("body", "needed"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "s"}}}, "json"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:,"}}],
                    }
                ]
            },
            "vision",
        ),
    ],
)
def test_capability_filtering(body: dict[str, Any], needed: str) -> None:
    plain = model("plain", price=Price(input=0, output=0))
    able = model("able", price=Price(input=5, output=5), capabilities={"chat", needed})
    r = router([plain, able], [route("plain", "able")])
    d = r.decide(make_call("r", **body))
    assert d.model == "able"
    assert d.order == ["able"]
    assert d.rejected == {"plain": f"lacks {needed}"}


def test_endpoint_capability_filtering() -> None:
    chat_only = model("chat-only", capabilities={"chat"})
    embedder = model("embedder", capabilities={"embeddings"}, price=Price(input=1))
    r = router([chat_only, embedder], [route("chat-only", "embedder")])
    d = r.decide(make_call("r", endpoint="embeddings", input=["a", "b"]))
    assert d.model == "embedder"
    assert d.rejected == {"chat-only": "lacks embeddings"}
    d = r.decide(make_call("r"))
    assert d.model == "chat-only"
    assert d.rejected == {"embedder": "lacks chat"}


def test_hint_capabilities_filter() -> None:
    r = router(
        [model("a"), model("b", capabilities={"chat", "vision"}, price=Price(input=1))],
        [route("a", "b")],
    )
    d = r.decide(make_call("r", tandem={"capabilities": ["vision"]}))
    assert d.model == "b"
    assert d.rejected == {"a": "lacks vision"}


# --- context window ---------------------------------------------------------


def test_context_window_filter_uses_prompt_and_token_limit() -> None:
    small = model("small", context_window=512)
    big = model("big", context_window=32000, price=Price(input=1, output=1))
    r = router([small, big], [route("small", "big")])
    # Fits: cheapest (small) wins.
    assert r.decide(make_call("r", max_tokens=100)).model == "small"
    # The requested completion no longer fits the small window.
    d = r.decide(make_call("r", max_tokens=1000))
    assert d.model == "big"
    assert d.rejected == {"small": "context window 512 too small"}
    # max_completion_tokens counts too.
    assert r.decide(make_call("r", max_completion_tokens=1000)).model == "big"
    # A long prompt alone can overflow it.
    long = [{"role": "user", "content": "word " * 1000}]
    d = r.decide(make_call("r", messages=long))
    assert d.model == "big"
    assert "small" in d.rejected


def test_context_window_filter_for_completions_max_tokens() -> None:
    small = model("small", context_window=512)
    big = model("big", context_window=32000, price=Price(input=1, output=1))
    r = router([small, big], [route("small", "big")])
    call = make_call("r", endpoint="completions", prompt="hello", max_tokens=1000)
    d = r.decide(call)
    assert d.model == "big"
    assert d.rejected == {"small": "context window 512 too small"}


def test_context_window_boundary() -> None:
    call = make_call("r", max_tokens=100)
    needed = call.estimated_prompt_tokens() + 100
    exact = model("exact", context_window=needed)
    short = model("short", context_window=needed - 1)
    r = router([exact, short], [route("short", "exact", objective="ordered")])
    d = r.decide(call)
    assert d.model == "exact"
    assert list(d.rejected) == ["short"]


# --- privacy ----------------------------------------------------------------


def _tiered() -> Router:
    return router(
        [
            model("pub", privacy="public", price=Price(input=0.1, output=0.1)),
            model("trust", privacy="trusted", price=Price(input=1, output=1)),
            model("loc", privacy="local", price=Price(input=5, output=5)),
        ],
        [route("pub", "trust", "loc")],
    )


def test_privacy_hint_trusted() -> None:
    d = _tiered().decide(make_call("r", tandem={"privacy": "trusted"}))
    assert d.model == "trust"
    assert d.order == ["trust", "loc"]
    assert d.rejected == {"pub": "privacy tier public not allowed"}


def test_privacy_hint_local() -> None:
    d = _tiered().decide(make_call("r", hints=Hints(privacy="local")))
    assert d.order == ["loc"]
    assert set(d.rejected) == {"pub", "trust"}


def test_no_privacy_hint_allows_all_tiers() -> None:
    d = _tiered().decide(make_call("r"))
    assert d.order == ["pub", "trust", "loc"]
    assert d.rejected == {}


def test_allowed_tiers_from_guard() -> None:
    d = _tiered().decide(make_call("r"), allowed_tiers=frozenset({"local"}))
    assert d.order == ["loc"]
    assert d.rejected["pub"] == "privacy tier public not allowed"
    assert d.rejected["trust"] == "privacy tier trusted not allowed"


def test_allowed_tiers_and_hint_combine() -> None:
    with pytest.raises(NoCandidate):
        _tiered().decide(make_call("r", tandem={"privacy": "local"}), allowed_tiers=frozenset({"public"}))


# --- keys -------------------------------------------------------------------


def key(*allowed: str) -> KeyInfo:
    return KeyInfo(id="k1", name="team", allowed_models=frozenset(allowed))


def test_key_direct_model_not_allowed() -> None:
    r = router([model("a"), model("b")])
    with pytest.raises(PermissionDenied) as info:
        r.decide(make_call("b", key=key("a")))
    assert info.value.param == "model"
    assert info.value.status_code == 403


def test_key_direct_model_allowed() -> None:
    r = router([model("a"), model("b")])
    assert r.decide(make_call("a", key=key("a"))).model == "a"


def test_key_without_restriction_allows_everything() -> None:
    r = router([model("a"), model("b")], [route("a", "b")])
    k = KeyInfo(id="k", name="n")
    assert r.decide(make_call("b", key=k)).model == "b"
    assert r.decide(make_call("r", key=k)).order == ["a", "b"]


def test_key_filters_route_candidates() -> None:
    r = router(
        [model("a"), model("b", price=Price(input=1)), model("c", price=Price(input=2))],
        [route("a", "b", "c")],
    )
    d = r.decide(make_call("r", key=key("b", "c")))
    assert d.model == "b"
    assert d.order == ["b", "c"]
    assert d.rejected == {"a": "not allowed for this key"}


def test_key_with_no_route_candidate_is_denied() -> None:
    r = router([model("a"), model("b"), model("z")], [route("a", "b")])
    with pytest.raises(PermissionDenied):
        r.decide(make_call("r", key=key("z")))


def test_key_allowed_route_name_may_use_the_route() -> None:
    r = router([model("a"), model("b")], [route("a", "b")])
    assert r.decide(make_call("r", key=key("r"))).model == "a"


# --- circuit breaker in routing ---------------------------------------------


def test_open_breaker_filters_candidate() -> None:
    br = CircuitBreaker(threshold=1, cooldown=60)
    br.record_failure()
    r = router([model("a"), model("b", price=Price(input=1))], [route("a", "b")], {"a": br})
    d = r.decide(make_call("r"))
    assert d.model == "b"
    assert d.rejected == {"a": "circuit open (recent failures)"}


def test_all_breakers_open_is_no_candidate() -> None:
    brs = {n: CircuitBreaker(threshold=1) for n in ("a", "b")}
    for b in brs.values():
        b.record_failure()
    r = router([model("a"), model("b")], [route("a", "b")], brs)
    with pytest.raises(NoCandidate) as info:
        r.decide(make_call("r"))
    assert "a: circuit open" in info.value.message
    assert "b: circuit open" in info.value.message


def test_closed_breaker_does_not_filter() -> None:
    br = CircuitBreaker(threshold=3)
    br.record_failure()
    br.record_failure()
    r = router([model("a")], [route("a")], {"a": br})
    assert r.decide(make_call("r")).model == "a"


# --- hints ------------------------------------------------------------------


def test_hint_max_cost() -> None:
    cheap = model("cheap", price=Price(input=1, output=1), quality=0.3)
    pricey = model("pricey", price=Price(input=100, output=100), quality=0.9)
    r = router([cheap, pricey], [route("cheap", "pricey", objective="quality")])
    assert r.decide(make_call("r")).model == "pricey"
    call = make_call("r", max_tokens=100)
    prompt = call.estimated_prompt_tokens()
    limit = Price(input=1, output=1).cost(prompt, 100)
    d = r.decide(make_call("r", max_tokens=100, tandem={"max_cost": limit}))
    assert d.model == "cheap"
    assert d.rejected == {"pricey": f"estimated cost over max_cost {limit:g}"}


def test_hint_max_cost_uses_default_completion_tokens() -> None:
    m = model("m", price=Price(input=0, output=1))
    r = router([m], [route("m")])
    just = DEFAULT_COMPLETION_TOKENS / 1e6
    assert r.decide(make_call("r", hints=Hints(max_cost=just))).model == "m"
    with pytest.raises(NoCandidate, match="max_cost"):
        r.decide(make_call("r", hints=Hints(max_cost=just * 0.99)))


def test_hint_max_latency() -> None:
    slow = model("slow", latency_ms=3000)
    fast = model("fast", latency_ms=200, price=Price(input=10))
    r = router([slow, fast], [route("slow", "fast")])
    assert r.decide(make_call("r")).model == "slow"  # cheaper
    d = r.decide(make_call("r", tandem={"max_latency_ms": 500}))
    assert d.model == "fast"
    assert d.rejected == {"slow": "expected latency 3000 ms over 500"}


# --- objectives through the router ------------------------------------------


def _ensemble(**route_kw: Any) -> Router:
    models = [
        model("tiny", price=Price(input=0.1, output=0.1), quality=0.3, latency_ms=300),
        model("mid", price=Price(input=1, output=2), quality=0.7, latency_ms=800),
        model("big", price=Price(input=10, output=30), quality=0.95, latency_ms=2000),
    ]
    return router(models, [route("big", "mid", "tiny", **route_kw)])


def test_cheapest_without_min_quality() -> None:
    d = _ensemble(objective="cheapest").decide(make_call("r"))
    assert d.route == "r"
    assert d.model == "tiny"
    assert d.order == ["tiny", "mid", "big"]
    assert d.reason.startswith("cheapest")


def test_cheapest_with_route_min_quality() -> None:
    d = _ensemble(objective="cheapest", min_quality=0.6).decide(make_call("r"))
    assert d.model == "mid"
    # Those meeting the target by cost, then the rest by quality.
    assert d.order == ["mid", "big", "tiny"]
    assert "0.6" in d.reason


def test_cheapest_hint_min_quality_overrides_route() -> None:
    r = _ensemble(objective="cheapest", min_quality=0.6)
    assert r.decide(make_call("r", tandem={"min_quality": 0.9})).model == "big"
    assert r.decide(make_call("r", tandem={"min_quality": 0.1})).model == "tiny"


def test_cheapest_none_meeting_target_takes_best_quality() -> None:
    d = _ensemble(objective="cheapest", min_quality=0.99).decide(make_call("r"))
    assert d.model == "big"
    assert d.order == ["big", "mid", "tiny"]
    assert "no candidate predicted to reach 0.99" in d.reason


def test_quality_objective() -> None:
    d = _ensemble(objective="quality").decide(make_call("r"))
    assert d.order == ["big", "mid", "tiny"]
    assert d.reason.startswith("best predicted quality")


def test_quality_objective_with_max_cost() -> None:
    r = _ensemble(objective="quality", max_cost=0.001)
    call = make_call("r")
    # Sanity: big's estimate is over the cap, mid's and tiny's are under it.
    tokens = call.estimated_prompt_tokens()
    assert Price(input=10, output=30).cost(tokens, DEFAULT_COMPLETION_TOKENS) > 0.001
    assert Price(input=1, output=2).cost(tokens, DEFAULT_COMPLETION_TOKENS) <= 0.001
    d = r.decide(call)
    assert d.model == "mid"
    assert d.order == ["mid", "tiny", "big"]
    assert "within $0.001" in d.reason


def test_quality_objective_nothing_within_max_cost() -> None:
    d = _ensemble(objective="quality", max_cost=0.0).decide(make_call("r"))
    assert d.order == ["big", "mid", "tiny"]


def test_fastest_objective() -> None:
    d = _ensemble(objective="fastest").decide(make_call("r"))
    assert d.order == ["tiny", "mid", "big"]
    assert "300 ms" in d.reason


def test_ordered_objective() -> None:
    d = _ensemble(objective="ordered").decide(make_call("r"))
    assert d.order == ["big", "mid", "tiny"]


def test_no_fallback_keeps_only_the_first() -> None:
    d = _ensemble(objective="cheapest", fallback=False).decide(make_call("r"))
    assert d.order == ["tiny"]


def test_predictor_overrides_prior_quality() -> None:
    seen: list[str] = []

    def predictor(prompt: str) -> dict[str, float]:
        seen.append(prompt)
        return {"tiny": 0.9, "mid": 0.5}

    r = router(
        [
            model("tiny", price=Price(input=0.1), quality=0.1),
            model("mid", price=Price(input=1), quality=0.9),
        ],
        [route("tiny", "mid", min_quality=0.8)],
        predictors={"r": predictor},
    )
    d = r.decide(make_call("r", messages=[{"role": "user", "content": "2+2?"}]))
    assert seen == ["2+2?"]
    assert d.predicted == {"tiny": 0.9, "mid": 0.5}
    assert d.model == "tiny"


def test_no_candidate_message_lists_every_reason() -> None:
    r = router(
        [
            model("a"),
            model("b", capabilities={"chat", "tools"}, context_window=16),
            model("c", capabilities={"chat", "tools"}, privacy="public"),
        ],
        [route("a", "b", "c")],
    )
    call = make_call(
        "r",
        max_tokens=500,
        tools=[{"type": "function", "function": {"name": "f"}}],
        tandem={"privacy": "trusted"},
    )
    with pytest.raises(NoCandidate) as info:
        r.decide(call)
    msg = info.value.message
    assert "a: lacks tools" in msg
    assert "b: context window 16 too small" in msg
    assert "c: privacy tier public not allowed" in msg
    assert info.value.param == "model"
    assert info.value.status_code == 503


# --- objectives directly ----------------------------------------------------


def cand(name: str, quality: float, cost: float, latency: float = 100.0) -> Candidate:
    return Candidate(model(name), quality, cost, latency)


def test_cheapest_tie_break_prefers_quality() -> None:
    cs = [cand("lo", 0.2, 0.01), cand("hi", 0.8, 0.01), cand("dear", 0.9, 0.02)]
    ordered, _ = OBJECTIVES["cheapest"].order(cs, route("x"), None)
    assert [c.name for c in ordered] == ["hi", "lo", "dear"]


def test_fastest_tie_break_prefers_cheaper() -> None:
    cs = [cand("a", 0.5, 0.02, 100), cand("b", 0.5, 0.01, 100), cand("c", 0.5, 0.0, 50)]
    ordered, _ = OBJECTIVES["fastest"].order(cs, route("x"), None)
    assert [c.name for c in ordered] == ["c", "b", "a"]


def test_quality_tie_break_prefers_cheaper() -> None:
    cs = [cand("a", 0.8, 0.02), cand("b", 0.8, 0.01)]
    ordered, _ = OBJECTIVES["quality"].order(cs, route("x"), None)
    assert [c.name for c in ordered] == ["b", "a"]


def test_objective_registry() -> None:
    assert set(OBJECTIVES) == {"cheapest", "quality", "fastest", "ordered"}
    assert all(name == obj.name for name, obj in OBJECTIVES.items())


# --- circuit breaker --------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(breaker_mod.time, "monotonic", c)
    return c


def test_breaker_opens_at_threshold(clock: Clock) -> None:
    br = CircuitBreaker(threshold=3, cooldown=30)
    assert br.state == "closed"
    br.record_failure()
    br.record_failure()
    assert br.state == "closed"
    assert br.available() and br.acquire()
    br.record_failure()
    assert br.state == "open"
    assert not br.available()
    assert not br.acquire()


def test_breaker_success_resets_failure_count(clock: Clock) -> None:
    br = CircuitBreaker(threshold=2, cooldown=30)
    br.record_failure()
    br.record_success()
    br.record_failure()
    assert br.state == "closed"
    br.record_failure()
    assert br.state == "open"


def test_breaker_half_open_single_probe_then_closes(clock: Clock) -> None:
    br = CircuitBreaker(threshold=1, cooldown=30)
    br.record_failure()
    assert br.state == "open"
    clock.now += 29.9
    assert br.state == "open"
    assert not br.acquire()
    clock.now += 0.1
    assert br.state == "half-open"
    assert br.available()
    assert br.acquire()  # the probe
    assert not br.available()
    assert not br.acquire()  # only one probe at a time
    assert br.state == "half-open"
    br.record_success()
    assert br.state == "closed"
    assert br.available()
    assert br.acquire() and br.acquire()


def test_breaker_failed_probe_reopens(clock: Clock) -> None:
    br = CircuitBreaker(threshold=5, cooldown=10)
    for _ in range(5):
        br.record_failure()
    clock.now += 10
    assert br.acquire()
    br.record_failure()
    assert br.state == "open"
    assert not br.available()
    # The cooldown restarts from the failed probe.
    clock.now += 9.9
    assert br.state == "open"
    clock.now += 0.1
    assert br.state == "half-open"
    assert br.acquire()
    br.record_success()
    assert br.state == "closed"


def test_breaker_available_does_not_claim_probe(clock: Clock) -> None:
    br = CircuitBreaker(threshold=1, cooldown=5)
    br.record_failure()
    clock.now += 5
    assert br.available()
    assert br.available()
    assert br.acquire()
    assert not br.acquire()


def test_breaker_in_router_half_open(clock: Clock) -> None:
    br = CircuitBreaker(threshold=1, cooldown=5)
    br.record_failure()
    r = router([model("a"), model("b", price=Price(input=1))], [route("a", "b")], {"a": br})
    assert r.decide(make_call("r")).model == "b"
    clock.now += 5
    assert r.decide(make_call("r")).model == "a"
    assert br.acquire()  # the gateway claims the probe
    assert r.decide(make_call("r")).model == "b"
