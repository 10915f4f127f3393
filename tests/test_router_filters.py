"""Router: names, direct requests and the candidate filters (capabilities, context window, privacy, keys, hints)."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.call import KeyInfo
from tandem.config import Price
from tandem.errors import ModelNotFound, NoCandidate, PermissionDenied
from tandem.protocol import (
    Hints,
)
from tandem.routing import Router, required_capabilities
from tandem.routing.router import DEFAULT_COMPLETION_TOKENS
from tests.router_helpers import make_call, model, route, router

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
