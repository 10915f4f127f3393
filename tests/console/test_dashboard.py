"""The dashboard's numbers against hand-computed values, on a real server.

The fake provider counts tokens as words, so costs can be checked by hand:
cheap costs $0.1 / $0.4 and strong $3 / $15 per million input / output
tokens; the route ``auto`` picks cheap (cheapest), and its strongest
candidate is strong (quality 0.9).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tandem.config import ModelConfig, Price, RouteConfig
from tandem.console.dashboard import WINDOWS, _routing, parse_window, percentile, strongest
from tandem.errors import InvalidRequest

from .conftest import ADMIN_KEY, CHEAP_REPLY, CONFIG, STRONG_REPLY, Console

PROMPT = "one two three"  # 3 prompt tokens
CHEAP_OUT = len(CHEAP_REPLY.split())  # 9
STRONG_OUT = len(STRONG_REPLY.split())


def cost(price_in: float, price_out: float, p: int, c: int) -> float:
    return (p * price_in + c * price_out) / 1e6


@pytest.fixture(scope="module")
def served(start_module_server: Callable[..., Any]) -> tuple[Console, str]:
    server = start_module_server(CONFIG, env={"TANDEM_ADMIN_KEY": ADMIN_KEY})
    console = Console(server, server.home)
    _, key = console.create_key("numbers")
    for _ in range(3):
        console.chat(key, PROMPT, model="auto")
    console.chat(key, PROMPT, model="strong")
    console.wait_requests(key, 4)
    return console, key


def test_totals_spend_and_savings_by_hand(served: tuple[Console, str]) -> None:
    console, key = served
    d = console.dashboard(key, window="1h")
    t = d["totals"]
    on_cheap = cost(0.1, 0.4, 3, CHEAP_OUT)
    on_strong = cost(3, 15, 3, STRONG_OUT)
    assert t["requests"] == 4 and t["errors"] == 0 and t["error_rate"] == 0
    assert t["prompt_tokens"] == 12 and t["completion_tokens"] == 3 * CHEAP_OUT + STRONG_OUT
    assert t["cost_usd"] == pytest.approx(3 * on_cheap + on_strong)
    # Savings: only the route's traffic, against the same tokens on strong.
    (s,) = d["savings"]
    assert s["route"] == "auto" and s["strongest"] == "strong" and s["requests"] == 3
    assert s["actual_usd"] == pytest.approx(3 * on_cheap)
    assert s["baseline_usd"] == pytest.approx(3 * cost(3, 15, 3, CHEAP_OUT))
    assert s["savings_usd"] == pytest.approx(s["baseline_usd"] - s["actual_usd"])
    assert t["savings_usd"] == pytest.approx(s["savings_usd"])
    assert s["share_on_strongest"] == 0
    # The routing mix: all of auto went to cheap.
    (mix,) = d["routing_mix"]
    assert mix["route"] == "auto" and mix["models"] == [
        {"model": "cheap", "requests": 3, "share": 1.0, "cost_usd": pytest.approx(3 * on_cheap)}
    ]
    by_route = {r["label"]: r for r in d["by_route"]}
    assert by_route["auto"]["requests"] == 3 and by_route["(direct)"]["requests"] == 1
    by_model = {r["label"]: r["cost_usd"] for r in d["by_model"]}
    assert by_model == {"cheap": pytest.approx(3 * on_cheap, rel=1e-6), "strong": pytest.approx(on_strong, rel=1e-6)}


def test_series_latency_and_recent(served: tuple[Console, str]) -> None:
    console, key = served
    d = console.dashboard(key, window="1h")
    assert d["bucket_seconds"] == 60 and 60 <= len(d["series"]) <= 62
    assert sum(b["requests"] for b in d["series"]) == 4
    assert sum(b["cost_usd"] for b in d["series"]) == pytest.approx(d["totals"]["cost_usd"])
    t = d["totals"]
    assert 0 < t["latency_p50_s"] <= t["latency_p95_s"] < 5 and t["latency_sample"] == 4
    assert [r["requested"] for r in d["recent"]] == ["strong", "auto", "auto", "auto"]
    assert all(r["status"] == 200 for r in d["recent"])
    # Day windows read the daily rollup: the same totals.
    week = console.dashboard(key, window="7d")
    assert week["bucket_seconds"] == 86400 and 7 <= len(week["series"]) <= 8
    assert sum(b["requests"] for b in week["series"]) == 4
    assert week["totals"]["cost_usd"] == pytest.approx(d["totals"]["cost_usd"])


def test_errors_count_in_the_error_rate(start_server: Callable[..., Any]) -> None:
    failing = CONFIG.replace(
        'options: {replies: ["' + STRONG_REPLY + '"], delay_ms: 20}', "options: {errors: [400, 400]}"
    )
    server = start_server(failing, env={"TANDEM_ADMIN_KEY": ADMIN_KEY})
    console = Console(server, server.home)
    with console.client(ADMIN_KEY) as c:
        for _ in range(2):
            r = c.post("/v1/chat/completions", json={"model": "strong", "messages": [{"role": "user", "content": "x"}]})
            assert r.status_code >= 400
    console.chat(ADMIN_KEY, PROMPT, model="cheap")
    d = console.wait_requests(ADMIN_KEY, 3)
    assert d["totals"]["requests"] == 3 and d["totals"]["errors"] == 2
    assert d["totals"]["error_rate"] == pytest.approx(2 / 3)
    assert sum(b["errors"] for b in d["series"]) == 2


# --- pure functions ------------------------------------------------------------


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile(list(map(float, range(101))), 0.95) == pytest.approx(95.0)


def _model(name: str, quality: float, pin: float, pout: float) -> ModelConfig:
    return ModelConfig(name=name, provider="fake", quality=quality, price=Price(input=pin, output=pout))


def test_strongest_is_highest_quality_then_price() -> None:
    models = {m.name: m for m in (_model("a", 0.5, 1, 1), _model("b", 0.9, 1, 1), _model("c", 0.9, 5, 5))}
    assert strongest(RouteConfig(name="r", candidates=["a", "b", "c"]), models).name == "c"  # type: ignore[union-attr]
    assert strongest(RouteConfig(name="r", candidates=["a", "b"]), models).name == "b"  # type: ignore[union-attr]
    assert strongest(RouteConfig(name="r", candidates=["a"]), {}) is None


def test_savings_ignore_direct_calls_and_unknown_routes() -> None:
    models = {m.name: m for m in (_model("a", 0.5, 1, 2), _model("b", 0.9, 10, 20))}
    routes = {"r": RouteConfig(name="r", candidates=["a", "b"])}
    matrix = {
        ("r", "a"): [2, 0, 100, 50, 0.0002],  # requests, errors, prompt, completion, cost
        ("r", "b"): [1, 0, 10, 10, 0.0003],
        ("", "a"): [5, 0, 1000, 1000, 0.003],  # direct: not a route
        ("gone", "a"): [1, 0, 10, 10, 0.00003],  # a route no longer configured
    }
    mix, savings = _routing(matrix, routes, models)
    assert [m["route"] for m in mix] == ["gone", "r"]
    (s,) = savings
    baseline = (100 * 10 + 50 * 20) / 1e6 + (10 * 10 + 10 * 20) / 1e6
    assert s["baseline_usd"] == pytest.approx(baseline)
    assert s["actual_usd"] == pytest.approx(0.0005)
    assert s["savings_pct"] == pytest.approx((baseline - 0.0005) / baseline)
    assert s["share_on_strongest"] == pytest.approx(1 / 3)


def test_windows() -> None:
    assert parse_window(None) is WINDOWS["24h"]
    assert parse_window("1h").bucket == 60
    with pytest.raises(InvalidRequest):
        parse_window("1y")
