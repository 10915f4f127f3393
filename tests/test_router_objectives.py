"""Objectives, through the router and directly."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.config import Price
from tandem.errors import NoCandidate
from tandem.routing import OBJECTIVES, Candidate, Router
from tandem.routing.router import DEFAULT_COMPLETION_TOKENS
from tests.router_helpers import make_call, model, route, router

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
