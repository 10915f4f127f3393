"""A whole benchmark over scripted fake models: every number of the report by hand.

The fake provider counts tokens as whitespace words, so usage and cost are
known in advance (see helpers.FAKE_CONFIG):

item  prompt words  cheap (echo "You said: ...")   strong ("Paris Rome Berlin")  flaky (1 at a time)
q1    2             ok  "Paris"   2 in 4 out       ok   2 in 3 out             error (scripted 500)
q2    2             ok  "Madrid"  2 in 4 out       miss 2 in 3 out             error (scripted 500)
q3    5             miss "Rome"   5 in 7 out       ok   5 in 3 out             ok
q4    26            no_candidate (context 60)      ok  26 in 3 out             ok
q5    26            no_candidate (context 60)      miss 26 in 3 out            ok

Route auto (cheapest of cheap, strong) sends q1-q3 to cheap and the long
q4, q5 to strong (cheap's context is too small): 3 of 5 correct.
"""

from __future__ import annotations

import csv
import json
import math
from itertools import pairwise
from pathlib import Path

import pytest

from tandem.bench import BenchSettings, load_dataset, read_router_csv, resolve_targets, run_bench
from tandem.bench.results import Result
from tandem.bench.summary import RouteCurve, summarize_route
from tandem.config import parse_config
from tandem.gateway import Gateway, RetryPolicy
from tests.bench_tool.helpers import FAKE_CONFIG, ROWS, write_jsonl

HW = 3.6  # $ per hour = $0.001 per second of a price-0 model's time
Z = 1.959963984540054


def wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def pct(values: list[float], q: float) -> float:
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@pytest.fixture
def config():
    return parse_config(FAKE_CONFIG, "fake.yaml")


def gateway(config) -> Gateway:
    return Gateway.from_config(config, retry=RetryPolicy(max_retries=0))


async def run(config, tmp_path: Path, **kw):
    data = load_dataset(str(write_jsonl(tmp_path / "ds.jsonl", ROWS)))
    targets = resolve_targets(config, "cheap,strong,flaky", "auto")
    settings = kw.pop("settings", BenchSettings(max_tokens=16, concurrency=3))
    kw.setdefault("html", False)  # matplotlib is slow; one test renders the report
    return await run_bench(
        config,
        data,
        targets,
        tmp_path / "out",
        scorer=kw.pop("scorer", "contains"),
        settings=settings,
        hardware_cost_per_hour=HW,
        gateway=kw.pop("gw", gateway(config)),
        **kw,
    )


async def test_every_number_of_the_report(config, tmp_path: Path) -> None:
    outcome = await run(config, tmp_path, html=True)
    report = outcome.report
    assert [t.target for t in report.targets] == ["cheap", "strong", "flaky", "auto"]
    rows: dict[str, list[Result]] = {}
    for r in outcome.results:
        rows.setdefault(r.target, []).append(r)
    assert {k: len(v) for k, v in rows.items()} == {"cheap": 5, "strong": 5, "flaky": 5, "auto": 5}

    cheap, strong, flaky, auto = (report.target(n) for n in ("cheap", "strong", "flaky", "auto"))
    # Scores (errors count 0) and Wilson intervals.
    assert (cheap.score, strong.score, flaky.score, auto.score) == (0.4, 0.6, 0.6, 0.6)
    for t, k in ((cheap, 2), (strong, 3), (flaky, 3), (auto, 3)):
        assert (t.ci_low, t.ci_high) == pytest.approx(wilson(k, 5), abs=1e-12)
        assert t.ci_method == "wilson" and t.binary and t.requests == 5 and t.unscored == 0
    assert (cheap.ci_low, cheap.ci_high) == pytest.approx((0.117621, 0.769276), abs=1e-6)
    # Errors.
    assert (cheap.errors, strong.errors, flaky.errors, auto.errors) == (2, 0, 2, 0)
    assert (cheap.error_rate, strong.error_rate, flaky.error_rate, auto.error_rate) == (0.4, 0.0, 0.4, 0.0)
    assert cheap.error_codes == {"no_candidate_model": 2}
    assert flaky.error_codes == {"upstream_error": 2}
    by_item = {(r.target, r.item_id): r for r in outcome.results}
    assert [by_item[("flaky", q)].error for q in ("q1", "q2")] == ["upstream_error"] * 2
    # Cost per 1,000 requests from the price table ($ per million tokens).
    cheap_usd = (2 * 1 + 4 * 2) + (2 * 1 + 4 * 2) + (5 * 1 + 7 * 2)  # = 39 micro-dollars
    strong_usd = 2 * (2 * 10 + 3 * 30) + (5 * 10 + 90) + 2 * (26 * 10 + 90)  # = 1060
    auto_usd = cheap_usd + 2 * (26 * 10 + 90)  # = 739
    assert cheap.cost_per_1k == pytest.approx(39e-6 / 5 * 1000) == pytest.approx(0.0078)
    assert strong.cost_per_1k == pytest.approx(strong_usd * 1e-6 / 5 * 1000) == pytest.approx(0.212)
    assert auto.cost_per_1k == pytest.approx(auto_usd * 1e-6 / 5 * 1000) == pytest.approx(0.1478)
    assert cheap.hardware_cost_usd == strong.hardware_cost_usd == auto.hardware_cost_usd == 0
    # flaky is priced 0: hardware time, one call at a time, errors included.
    spans = sorted((r.started_at, r.ended_at) for r in rows["flaky"])
    assert all(a[1] <= b[0] for a, b in pairwise(spans))  # never overlapping
    busy = sum(e - s for s, e in spans)
    assert flaky.api_cost_usd == 0 and flaky.compute_s == pytest.approx(busy)
    assert flaky.cost_per_1k == pytest.approx(busy * HW / 3600 / 5 * 1000)
    # Tokens as the fake counts them.
    assert [by_item[("strong", q)].prompt_tokens for q in ("q1", "q2", "q3", "q4", "q5")] == [2, 2, 5, 26, 26]
    assert cheap.mean_completion_tokens == pytest.approx((4 + 4 + 7) / 3)
    assert strong.mean_prompt_tokens == pytest.approx(61 / 5)
    # Latency, time to first token and tokens/s from the stored measurements.
    for t in (cheap, strong, flaky, auto):
        ok = [r for r in rows[t.target] if r.error is None]
        lat = [r.latency_s for r in ok]
        ttft = [r.ttft_s for r in ok]
        assert t.latency_p50 == pytest.approx(pct(lat, 50)) and t.latency_p95 == pytest.approx(pct(lat, 95))
        assert t.ttft_p50 == pytest.approx(pct(ttft, 50)) and t.ttft_p95 == pytest.approx(pct(ttft, 95))
        gen = sum(r.latency_s - r.ttft_s for r in ok)
        assert t.tokens_per_s == pytest.approx(sum(r.completion_tokens for r in ok) / gen)
        assert all(0 < r.ttft_s <= r.latency_s for r in ok)
    assert strong.ttft_p50 >= 0.02  # the scripted 20 ms delay comes before the first token
    # Where the route sent its calls.
    assert auto.served == {"cheap": 3, "strong": 2}
    assert [by_item[("auto", q)].served_model for q in ("q1", "q4")] == ["cheap", "strong"]
    # Route metrics: weak = cheapest candidate (cheap), strong = best (strong).
    (route,) = report.routes
    assert (route.weak, route.strong) == ("cheap", "strong")
    assert (route.weak_score, route.strong_score, route.route_score) == (0.4, 0.6, 0.6)
    assert route.strong_share == 0.4
    assert route.pgr == pytest.approx(1.0)
    assert route.apgr == pytest.approx(0.4 * 1.0 / 2 + 0.6 * (1.0 + 1.0) / 2) == pytest.approx(0.8)
    assert route.savings_vs_strong == pytest.approx(1 - 739 / 1060)
    assert route.method == "operating point"
    # Pareto frontiers: not dominated = nothing else is as cheap (fast) and as good, and better in one.
    # strong (0.6 at $0.212) is always dominated by auto (0.6 at $0.148); flaky's hardware cost is
    # measured, so whether it undercuts cheap depends on timing.
    assert not strong.on_cost_frontier
    for axis, flag in (("cost_per_1k", "on_cost_frontier"), ("latency_p50", "on_latency_frontier")):
        pts = {t.target: (getattr(t, axis), t.score) for t in report.targets}
        for t in report.targets:
            me = pts[t.target]
            dominated = any(o[0] <= me[0] and o[1] >= me[1] and o != me for n, o in pts.items() if n != t.target)
            assert getattr(t, flag) == (not dominated), (axis, t.target)
    # Findings say it in words.
    text = " ".join(report.findings)
    assert "Best quality: 60.0% (95% CI 23.1%-88.2%), reached by flaky, strong and auto; flaky is the cheapest" in text
    assert "Route auto scored 60.0%" in text and "recovers 100% of the quality gap" in text
    assert "30% less than always using strong" in text and "APGR 0.80" in text
    assert "sending 40% of calls to strong" in text
    assert "cheap failed 2 of 5 requests (40%): no_candidate_model x2" in text
    assert "Priced $0 per token, flaky is charged the machine's time at $3.60 per hour" in text

    out = tmp_path / "out"
    # The JSON and CSV reports carry the same numbers.
    data = json.loads((out / "report.json").read_text())
    assert [t["score"] for t in data["targets"]] == [0.4, 0.6, 0.6, 0.6]
    assert data["routes"][0]["apgr"] == pytest.approx(0.8)
    with open(out / "summary.csv", newline="") as f:
        summary = {r["target"]: r for r in csv.DictReader(f)}
    assert float(summary["strong"]["cost_per_1k"]) == pytest.approx(0.212)
    assert float(summary["cheap"]["error_rate"]) == 0.4
    assert float(summary["flaky"]["ci_low"]) == pytest.approx(wilson(3, 5)[0])
    with open(out / "items.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 20
    html = (out / "report.html").read_text()
    assert "<svg" in html and "Quality against cost" in html and "APGR" in html and "Route <code>auto" in html


async def test_router_training_csv_round_trips(config, tmp_path: Path) -> None:
    outcome = await run(config, tmp_path)
    path = tmp_path / "out" / "router_train.csv"
    with open(path, newline="") as f:
        raw = list(csv.reader(f))
    assert raw[0] == ["prompt", "cheap", "strong", "flaky"]  # models only: the router picks among models
    assert raw[1] == ["Say Paris", "True", "True", "False"]
    prompts, scores = read_router_csv(path)
    assert prompts == [r["prompt"] for r in ROWS]
    stored = {(r.item_id, r.target): r.score for r in outcome.results}
    for model in ("cheap", "strong", "flaky"):
        assert scores[model] == [stored[(r["id"], model)] for r in ROWS]
    assert scores["strong"] == [1.0, 0.0, 1.0, 1.0, 0.0]


async def test_continuous_scores_judge_and_t_interval(config, tmp_path: Path) -> None:
    """The fake judge rates strong's four replies 8, 5, (no rating), 10."""
    rows = ROWS[:4]
    data = load_dataset(str(write_jsonl(tmp_path / "ds.jsonl", rows)))
    gw = gateway(config)
    targets = resolve_targets(config, "strong", "")
    outcome = await run_bench(
        config,
        data,
        targets,
        tmp_path / "out",
        scorer="judge",
        judge_model="judge",
        settings=BenchSettings(max_tokens=16, concurrency=1),
        hardware_cost_per_hour=HW,
        gateway=gw,
        html=False,
    )
    t = outcome.report.target("strong")
    scores = [(8 - 1) / 9, (5 - 1) / 9, (10 - 1) / 9]
    m = sum(scores) / 3
    sd = math.sqrt(sum((s - m) ** 2 for s in scores) / 2)
    half = 4.302652729749 * sd / math.sqrt(3)
    assert t.score == pytest.approx(m) and not t.binary and t.ci_method == "t"
    assert (t.ci_low, t.ci_high) == pytest.approx((m - half, m + half), abs=1e-9)
    assert (t.scored, t.unscored, t.errors) == (3, 1, 0)
    notes = [r.score_note for r in sorted(outcome.results, key=lambda r: r.item_id)]
    assert notes[0] == "rating 8/10" and notes[2].startswith("no rating")
    assert "1 reply could not be scored" in " ".join(outcome.report.findings)
    # The judge's own cost ($1/$1 per million tokens) is reported apart.
    judge = gw.providers["judge"]
    assert judge.calls == 4
    replies = ["Good. Rating: [[8]]", "Rating: [[5]]", "I cannot rate this.", "Rating: [[10]]"]
    from tandem.bench.judge import Judge

    j = Judge(model="judge")
    words = sum(
        len(j.prompt(r.reply or "", it).split()) + len(rep.split())
        for r, it, rep in zip(sorted(outcome.results, key=lambda r: r.item_id), data.items, replies, strict=True)
    )
    assert outcome.report.judge == {"model": "judge", "cost_usd": pytest.approx(words / 1e6)}
    assert t.cost_per_1k == pytest.approx((2 * (20 + 90) + (50 + 90) + (260 + 90)) * 1e-6 / 4 * 1000)
    assert outcome.report.settings["scorer"].startswith("judge:judge:")


async def test_rerun_skips_and_rescoring_needs_no_calls(config, tmp_path: Path) -> None:
    gw1 = gateway(config)
    first = await run(config, tmp_path, gw=gw1)
    assert (first.counts.calls, first.counts.skipped) == (20, 0)
    gw = gateway(config)
    again = await run(config, tmp_path, gw=gw)
    assert (again.counts.calls, again.counts.skipped) == (0, 20)
    assert sum(p.calls for p in gw.providers.values()) == 0
    assert again.report.to_dict()["targets"] == first.report.to_dict()["targets"]
    # Another scorer rescores the stored replies without calling any model.
    gw = gateway(config)
    exact = await run(config, tmp_path, gw=gw, scorer="exact")
    assert exact.counts.calls == 0 and exact.counts.scored == 20
    assert sum(p.calls for p in gw.providers.values()) == 0
    assert exact.report.target("strong").score == 0.0  # "Paris Rome Berlin" is never exactly right
    # --retry-errors calls again only where the call failed (flaky q1, q2; cheap q4, q5).
    calls_before = {n: p.calls for n, p in gw1.providers.items()}
    retry = await run(config, tmp_path, gw=gw1, settings=BenchSettings(max_tokens=16, retry_errors=True))
    assert retry.counts.calls == 4
    assert gw1.providers["flaky"].calls - calls_before["flaky"] == 2
    assert retry.report.target("flaky").errors == 0  # its scripted errors were used up by the first run
    assert retry.report.target("flaky").score == 1.0
    assert retry.report.target("cheap").errors == 2  # still too long for cheap
    # --no-resume starts over.
    fresh = await run(config, tmp_path, resume=False)
    assert fresh.counts.calls == 20


async def test_limit_then_full_run(config, tmp_path: Path) -> None:
    part = await run(config, tmp_path, settings=BenchSettings(max_tokens=16, limit=2))
    assert part.counts.calls == 8 and all(t.requests == 2 for t in part.report.targets)
    full = await run(config, tmp_path)
    assert (full.counts.calls, full.counts.skipped) == (12, 8)


def _result(
    item: str, target: str, score: float, served: str | None = None, predicted: dict[str, float] | None = None
) -> Result:
    return Result(
        run_key="k",
        item_id=item,
        target=target,
        kind="route" if target == "r" else "model",
        served_model=served or target,
        route_reason=None,
        predicted=json.dumps(predicted) if predicted else None,
        reply="x",
        status=200,
        error=None,
        error_message=None,
        prompt_tokens=1,
        completion_tokens=1,
        cost_usd=0.001,
        local_compute=0,
        started_at=0.0,
        ended_at=1.0,
        latency_s=1.0,
        ttft_s=0.5,
        retries=0,
        fallbacks=0,
        scorer="exact",
        score=score,
    )


def test_apgr_by_sweeping_a_learned_router(config) -> None:
    """With per-prompt predictions, the curve sweeps the router's threshold.

    weak scores [1, 0, 0, 1], strong [1, 1, 1, 0] (means 0.5 and 0.75); the
    router ranks i2 > i3 > i1 > i4 for the strong model. Sending the top k to
    strong scores 0.5, 0.75, 1, 1, 0.75: PGR 0, 1, 2, 2, 1 at shares 0..1 by
    quarters; trapezoids: 0.25 * (0.5 + 1.5 + 2 + 1.5) = 1.375.
    """
    from tandem.bench.runner import Target
    from tandem.bench.summary import summaries_for

    cfg = parse_config(FAKE_CONFIG + "  - name: r\n    candidates: [cheap, strong]\n", "x")
    weak = [1.0, 0.0, 0.0, 1.0]
    strong = [1.0, 1.0, 1.0, 0.0]
    gaps = [0.1, 0.9, 0.5, -0.3]
    results = []
    for i in range(4):
        results.append(_result(f"i{i + 1}", "cheap", weak[i]))
        results.append(_result(f"i{i + 1}", "strong", strong[i]))
        results.append(
            _result(
                f"i{i + 1}",
                "r",
                strong[i] if i in (1, 2) else weak[i],
                "strong" if i in (1, 2) else "cheap",
                {"cheap": 0.5, "strong": 0.5 + gaps[i]},
            )
        )
    targets = [Target("cheap", "model"), Target("strong", "model"), Target("r", "route")]
    summaries, by_target = summaries_for(targets, results, 0.0)
    by_name = {s.target: s for s in summaries}
    by_name["strong"].cost_per_1k = 10.0  # make strong the pricier candidate
    curve: RouteCurve = summarize_route("r", cfg, by_target, by_name, 0.0)
    assert curve.method == "predictor sweep"
    assert [p[1] for p in curve.curve] == pytest.approx([0, 1, 2, 2, 1])
    assert curve.apgr == pytest.approx(1.375)
    assert curve.route_score == 1.0 and curve.pgr == pytest.approx(2.0) and curve.strong_share == 0.5


def test_route_without_gap_explains_itself(config) -> None:
    from tandem.bench.runner import Target
    from tandem.bench.summary import summaries_for

    results = [_result(f"i{i}", t, 1.0) for i in range(3) for t in ("cheap", "auto")]
    summaries, by_target = summaries_for([Target("cheap", "model"), Target("auto", "route")], results, 0.0)
    curve = summarize_route("auto", config, by_target, {s.target: s for s in summaries}, 0.0)
    assert curve.apgr is None and "two of its candidates" in curve.note


def test_route_when_the_cheapest_is_also_the_best(config) -> None:
    from tandem.bench.report import findings
    from tandem.bench.runner import Target
    from tandem.bench.summary import summaries_for

    results = [
        _result(f"i{i}", t, s, served)
        for i in range(4)
        for t, s, served in (("cheap", 1.0, None), ("strong", 0.0, None), ("auto", 0.0, "strong"))
    ]
    targets = [Target("cheap", "model"), Target("strong", "model"), Target("auto", "route")]
    summaries, by_target = summaries_for(targets, results, 0.0)
    by_name = {s.target: s for s in summaries}
    by_name["strong"].cost_per_1k = 10.0
    curve = summarize_route("auto", config, by_target, by_name, 0.0)
    assert curve.apgr is None and (curve.weak, curve.strong) == ("cheap", "cheap")
    text = " ".join(findings(summaries, [curve], 4))
    assert "Route auto scored 0.0% at $1.00 per 1,000 requests, sending 100% of calls to strong." in text
    assert "always using cheap beats routing" in text


async def test_a_scorer_that_breaks_keeps_the_replies(config, tmp_path: Path) -> None:
    from tandem.bench.results import ResultStore
    from tandem.bench.runner import Runner
    from tandem.bench.scorers import Exact, get_scorer

    class Broken(Exact):
        def score(self, reply: str, item: object) -> float:  # type: ignore[override]
            raise ValueError("oops")

    data = load_dataset(str(write_jsonl(tmp_path / "ds.jsonl", ROWS[:2])))
    store = ResultStore(tmp_path / "r.sqlite")
    targets = resolve_targets(config, "strong", "")
    gw = gateway(config)
    runner = Runner(gw, data, Broken(), store, BenchSettings(max_tokens=16), targets)
    await runner.run()
    rows = store.results(runner.key)
    assert [(r.reply, r.score, r.scorer) for r in rows] == [("Paris Rome Berlin", None, None)] * 2
    assert all(r.score_note.startswith("scoring failed: ValueError") for r in rows)
    again = Runner(gw, data, get_scorer("contains"), store, BenchSettings(max_tokens=16), targets)
    counts = await again.run()
    assert (counts.calls, counts.scored) == (0, 2)
    assert [r.score for r in store.results(runner.key)] == [1.0, 0.0]
    store.close()
