"""From stored results to the numbers of the report, per target and per route.

Definitions (also printed in the HTML report):

- **score**: mean over the items of the target's scores; a failed call scores
  0 (the user got no answer); a reply the scorer could not score (a judge
  gave no rating) is left out. 95% interval: Wilson when every score is 0 or
  1, else Student's t.
- **cost per 1,000 requests**: (priced cost + hardware cost) / requests x 1000.
  Priced cost comes from the config's price table and the calls' token
  usage. Models priced 0 (local models) cost hardware time instead: the
  hardware rate ($/hour) times the time the target had such calls in flight
  (overlapping calls count once).
- **latency** p50/p95 and **TTFT** (time to first token) p50/p95: over
  successful calls, in seconds, linear-interpolated percentiles.
- **tokens/s**: completion tokens / generation time (latency - TTFT), summed
  over successful calls.
- **error rate**: failed calls / requests (after the gateway's retries and
  fallbacks).
- **PGR** of a route: (route score - always-cheapest score) / (always-strongest
  score - always-cheapest score), where "strongest" is the candidate that
  scored best here and "cheapest" the one that cost least here. **APGR** is
  the area under PGR as the share of calls sent to the strongest goes from 0
  to 1. With per-prompt predictions (a learned router) the curve sweeps the
  router's threshold; otherwise it joins always-cheapest, the route's own
  operating point and always-strongest (the points reachable by mixing them).
  Random routing scores 0.5.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tandem.bench import stats
from tandem.bench.results import Result
from tandem.bench.runner import Target
from tandem.config import Config

__all__ = ["RouteCurve", "TargetSummary", "summarize_route", "summarize_target"]


@dataclass(slots=True)
class TargetSummary:
    """The measured numbers of one model or route."""

    target: str
    kind: str
    requests: int
    errors: int
    error_rate: float | None
    error_codes: dict[str, int]
    scored: int
    unscored: int
    score: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    binary: bool
    api_cost_usd: float
    compute_s: float
    hardware_cost_usd: float
    cost_usd: float
    cost_per_1k: float | None
    latency_p50: float | None
    latency_p95: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    tokens_per_s: float | None
    mean_prompt_tokens: float | None
    mean_completion_tokens: float | None
    retries: int
    fallbacks: int
    judge_cost_usd: float
    #: Served model -> calls (for routes: where the calls went).
    served: dict[str, int] = field(default_factory=dict)
    on_cost_frontier: bool = False
    on_latency_frontier: bool = False


def summarize_target(target: Target, results: Sequence[Result], hardware_per_hour: float) -> TargetSummary:
    """The numbers of one target from its results."""
    n = len(results)
    ok = [r for r in results if r.error is None]
    errors = n - len(ok)
    scores = [r.score for r in results if r.score is not None]
    interval, method = stats.score_interval(scores) if scores else (None, "")
    api = sum(r.cost_usd for r in results)
    busy = stats.busy_seconds([(r.started_at, r.ended_at) for r in results if r.local_compute])
    hardware = busy * hardware_per_hour / 3600
    lat = [r.latency_s for r in ok if r.latency_s is not None]
    ttft = [r.ttft_s for r in ok if r.ttft_s is not None]
    gen = [
        (r.completion_tokens, r.latency_s - r.ttft_s)
        for r in ok
        if r.latency_s is not None and r.ttft_s is not None and r.latency_s > r.ttft_s
    ]
    gen_time = sum(t for _, t in gen)
    judge = sum(r.judge_cost_usd + r.judge_compute_s * hardware_per_hour / 3600 for r in results)
    return TargetSummary(
        target=target.name,
        kind=target.kind,
        requests=n,
        errors=errors,
        error_rate=errors / n if n else None,
        error_codes=dict(Counter(r.error for r in results if r.error is not None).most_common()),
        scored=len(scores),
        unscored=n - len(scores),
        score=stats.mean(scores),
        ci_low=interval[0] if interval else None,
        ci_high=interval[1] if interval else None,
        ci_method=method,
        binary=bool(scores) and all(s in (0.0, 1.0) for s in scores),
        api_cost_usd=api,
        compute_s=busy,
        hardware_cost_usd=hardware,
        cost_usd=api + hardware,
        cost_per_1k=(api + hardware) / n * 1000 if n else None,
        latency_p50=stats.percentile(lat, 50),
        latency_p95=stats.percentile(lat, 95),
        ttft_p50=stats.percentile(ttft, 50),
        ttft_p95=stats.percentile(ttft, 95),
        tokens_per_s=sum(c for c, _ in gen) / gen_time if gen_time > 0 else None,
        mean_prompt_tokens=stats.mean([r.prompt_tokens for r in ok]),
        mean_completion_tokens=stats.mean([r.completion_tokens for r in ok]),
        retries=sum(r.retries for r in results),
        fallbacks=sum(r.fallbacks for r in results),
        judge_cost_usd=judge,
        served=dict(Counter(r.served_model for r in ok if r.served_model).most_common()),
    )


def mark_frontiers(summaries: Sequence[TargetSummary]) -> None:
    """Flag the targets on the quality/cost and quality/latency Pareto frontiers."""
    scored = [s for s in summaries if s.score is not None and s.cost_per_1k is not None]
    for i in stats.pareto_front([(s.cost_per_1k or 0.0, s.score or 0.0) for s in scored]):
        scored[i].on_cost_frontier = True
    timed = [s for s in scored if s.latency_p50 is not None]
    for i in stats.pareto_front([(s.latency_p50 or 0.0, s.score or 0.0) for s in timed]):
        timed[i].on_latency_frontier = True


@dataclass(slots=True)
class RouteCurve:
    """A route against always-cheapest and always-strongest of its candidates."""

    route: str
    candidates: list[str]
    weak: str | None = None
    strong: str | None = None
    weak_score: float | None = None
    strong_score: float | None = None
    route_score: float | None = None
    weak_cost_per_1k: float | None = None
    strong_cost_per_1k: float | None = None
    route_cost_per_1k: float | None = None
    #: Share of the route's calls the strongest candidate served.
    strong_share: float | None = None
    pgr: float | None = None
    apgr: float | None = None
    method: str = ""
    #: (share of strong calls, PGR, score, cost per 1k) along the curve.
    curve: list[tuple[float, float, float, float]] = field(default_factory=list)
    savings_vs_strong: float | None = None
    note: str = ""


def _per_item(results: Sequence[Result]) -> dict[str, Result]:
    return {r.item_id: r for r in results if r.score is not None}


def summarize_route(
    route: str,
    config: Config,
    by_target: dict[str, list[Result]],
    summaries: dict[str, TargetSummary],
    hardware_per_hour: float,
) -> RouteCurve:
    """PGR, APGR and savings of ``route``; a note says why when they cannot be had."""
    spec = next(r for r in config.routes if r.name == route)
    out = RouteCurve(route=route, candidates=list(spec.candidates))
    benched = [c for c in spec.candidates if summaries.get(c) and summaries[c].score is not None]
    if len(benched) < 2:
        out.note = "needs at least two of its candidates benchmarked (add them with --models)"
        return out
    weak = min(benched, key=lambda c: (summaries[c].cost_per_1k or 0.0, -(summaries[c].score or 0.0)))
    strong = max(benched, key=lambda c: (summaries[c].score or 0.0, summaries[c].cost_per_1k or 0.0))
    out.weak, out.strong = weak, strong
    if weak == strong:
        out.note = (
            f"{weak} is both the cheapest and the best of the candidates here, so there is no "
            f"quality gap to recover: always using {weak} beats routing"
        )
        return out
    rw, rs, rr = _per_item(by_target[weak]), _per_item(by_target[strong]), _per_item(by_target[route])
    common = sorted(set(rw) & set(rs) & set(rr))
    if not common:
        out.note = "no item was scored for the route and both candidates"
        return out
    n = len(common)

    def avg(rows: dict[str, Result], ids: Sequence[str]) -> float:
        return sum(rows[i].score or 0.0 for i in ids) / len(ids)

    def item_cost(r: Result) -> float:
        return r.cost_usd + (r.latency_s or 0.0) * hardware_per_hour / 3600 * r.local_compute

    out.weak_score, out.strong_score, out.route_score = avg(rw, common), avg(rs, common), avg(rr, common)
    out.weak_cost_per_1k = summaries[weak].cost_per_1k
    out.strong_cost_per_1k = summaries[strong].cost_per_1k
    out.route_cost_per_1k = summaries[route].cost_per_1k
    out.strong_share = sum(rr[i].served_model == strong for i in common) / n
    out.pgr = stats.pgr(out.route_score, out.weak_score, out.strong_score)
    if out.strong_cost_per_1k and out.route_cost_per_1k is not None:
        out.savings_vs_strong = 1 - out.route_cost_per_1k / out.strong_cost_per_1k
    if out.pgr is None:
        out.note = f"{weak} and {strong} score the same here: there is no gap to recover"
        return out
    gap = out.strong_score - out.weak_score
    predicted = {i: json.loads(p) for i in common if (p := rr[i].predicted)}
    if len(predicted) == n and all(weak in p and strong in p for p in predicted.values()):
        out.method = "predictor sweep"
        order = sorted(common, key=lambda i: predicted[i][strong] - predicted[i][weak], reverse=True)
        for k in range(n + 1):
            top = set(order[:k])
            score = sum((rs[i] if i in top else rw[i]).score or 0.0 for i in common) / n
            cost = sum(item_cost(rs[i] if i in top else rw[i]) for i in common) / n * 1000
            out.curve.append((k / n, (score - out.weak_score) / gap, score, cost))
    else:
        out.method = "operating point"
        out.curve = [
            (0.0, 0.0, out.weak_score, out.weak_cost_per_1k or 0.0),
            (out.strong_share, out.pgr, out.route_score, out.route_cost_per_1k or 0.0),
            (1.0, 1.0, out.strong_score, out.strong_cost_per_1k or 0.0),
        ]
    out.apgr = stats.apgr([(x, y) for x, y, _, _ in out.curve])
    return out


def summaries_for(
    targets: Sequence[Target], results: Sequence[Result], hardware_per_hour: float
) -> tuple[list[TargetSummary], dict[str, list[Result]]]:
    """Summaries of every target (in order), and the results grouped by target."""
    by_target: dict[str, list[Result]] = {t.name: [] for t in targets}
    for r in results:
        if r.target in by_target:
            by_target[r.target].append(r)
    out = [summarize_target(t, by_target[t.name], hardware_per_hour) for t in targets]
    mark_frontiers(out)
    return out, by_target


def as_jsonable(obj: Any) -> Any:
    """Dataclasses to dicts (for the JSON report)."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return obj
