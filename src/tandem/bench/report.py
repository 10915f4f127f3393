"""The benchmark's report: numbers, plain-language findings, and the files.

Files written to the output directory:

- ``summary.csv`` and ``report.json``: one row (object) per model or route;
- ``items.csv``: every (item, target) result with its reply and measurements;
- ``router_train.csv``: the per-prompt scores in the format ``tandem router
  train`` reads (a ``prompt`` column, then one column per model with
  ``True``/``False`` or a number); :func:`read_router_csv` reads it back;
- ``report.html``: see :mod:`tandem.bench.html`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tandem.bench.dataset import Item
from tandem.bench.results import Result
from tandem.bench.summary import RouteCurve, TargetSummary

__all__ = ["Report", "findings", "fmt_score", "fmt_usd", "read_router_csv", "write_files"]

ROUTER_CSV = "router_train.csv"


@dataclass(slots=True)
class Report:
    """Everything a report shows."""

    title: str
    created: str
    dataset: dict[str, Any]
    settings: dict[str, Any]
    targets: list[TargetSummary]
    routes: list[RouteCurve]
    findings: list[str] = field(default_factory=list)
    judge: dict[str, Any] | None = None
    #: Files written, name -> path.
    files: dict[str, str] = field(default_factory=dict)

    def target(self, name: str) -> TargetSummary:
        """The summary of one target."""
        return next(t for t in self.targets if t.target == name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the report."""
        return {
            "title": self.title,
            "created": self.created,
            "dataset": self.dataset,
            "settings": self.settings,
            "findings": self.findings,
            "judge": self.judge,
            "targets": [asdict(t) for t in self.targets],
            "routes": [asdict(r) for r in self.routes],
            "files": self.files,
        }


def now_iso() -> str:
    """The current UTC time, to the second."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- formatting -----------------------------------------------------------------


def fmt_score(value: float | None, binary: bool) -> str:
    """60.0% for pass/fail scores, 0.612 for graded ones."""
    if value is None:
        return "n/a"
    return f"{value * 100:.1f}%" if binary else f"{value:.3f}"


def fmt_ci(t: TargetSummary) -> str:
    """The 95% interval of a target's score, formatted like the score."""
    if t.ci_low is None or t.ci_high is None:
        return ""
    return f"{fmt_score(t.ci_low, t.binary)}-{fmt_score(t.ci_high, t.binary)}"


def fmt_usd(value: float | None) -> str:
    """Dollars with 3 significant digits below $1, cents above."""
    if value is None:
        return "n/a"
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    digits = max(2, 2 - math.floor(math.log10(abs(value))))
    return f"${value:.{digits}f}"


def fmt_s(value: float | None) -> str:
    """A duration: milliseconds below a second, else seconds to 3 significant digits."""
    if value is None:
        return "n/a"
    if value < 0.01:
        return f"{value * 1000:.1f} ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"


def fmt_pct(value: float | None) -> str:
    """A share as a whole percentage."""
    return "n/a" if value is None else f"{value * 100:.0f}%"


# --- findings in plain language ---------------------------------------------------


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def findings(
    targets: Sequence[TargetSummary],
    routes: Sequence[RouteCurve],
    items: int,
    hardware_per_hour: float = 0.0,
    chance: float | None = None,
) -> list[str]:
    """Short sentences a reader who has never seen the report can act on."""
    out: list[str] = []
    scored = [t for t in targets if t.score is not None]
    unscored = sum(t.unscored for t in targets)
    note = (
        f"{unscored} repl{'y' if unscored == 1 else 'ies'} could not be scored (for a judge: no "
        "'Rating: [[N]]' in its answer; a stronger --judge-model helps); they are left out of the scores."
    )
    if not scored:
        return ["No reply could be scored.", note] if unscored else ["No target produced a result."]
    best = max(scored, key=lambda t: (t.score or 0.0, -(t.cost_per_1k or 0.0)))
    ties = [t.target for t in scored if t.score == best.score and t is not best]
    ci = f" (95% CI {fmt_ci(best)})" if fmt_ci(best) else ""
    if ties:
        out.append(
            f"Best quality: {fmt_score(best.score, best.binary)}{ci}, reached by "
            f"{_and([best.target, *ties])}; {best.target} is the cheapest of them at {fmt_usd(best.cost_per_1k)} per "
            "1,000 requests."
        )
    else:
        out.append(
            f"Best quality: {best.target} scored {fmt_score(best.score, best.binary)}{ci} at "
            f"{fmt_usd(best.cost_per_1k)} per 1,000 requests."
        )
    if chance is not None:
        out.append(f"Answering at random would score about {fmt_score(chance, True)} on these items.")
    bar = 0.9 * (best.score or 0.0)
    good = [t for t in scored if (t.score or 0.0) >= bar and t.cost_per_1k is not None]
    cheapest = min(good, key=lambda t: (t.cost_per_1k or 0.0, -(t.score or 0.0)))
    if cheapest.target != best.target and (cheapest.cost_per_1k or 0) < (best.cost_per_1k or 0):
        saving = 1 - (cheapest.cost_per_1k or 0.0) / (best.cost_per_1k or 1.0)
        out.append(
            f"Cheapest to reach 90% of the best score: {cheapest.target} "
            f"({fmt_score(cheapest.score, cheapest.binary)}) at {fmt_usd(cheapest.cost_per_1k)} "
            f"per 1,000 requests, {fmt_pct(saving)} less than {best.target}."
        )
    elif len(scored) > 1:
        out.append(f"No cheaper target reaches 90% of {best.target}'s score.")
    others = sorted((t for t in scored if t.score != best.score), key=lambda t: -(t.score or 0.0))
    if others and others[0].ci_high is not None and best.ci_low is not None and others[0].ci_high >= best.ci_low:
        out.append(
            f"Caution: the 95% intervals of {best.target} and {others[0].target} overlap; with "
            f"{items} items their order may be chance. More items narrow the intervals."
        )
    timed = [t for t in scored if t.latency_p50 is not None]
    if len(timed) > 1:
        fast = min(timed, key=lambda t: t.latency_p50 or 0.0)
        out.append(
            f"Fastest: {fast.target}, median {fmt_s(fast.latency_p50)} per reply"
            + (f", first token after {fmt_s(fast.ttft_p50)}" if fast.ttft_p50 is not None else "")
            + "."
        )
    by_name = {t.target: t for t in targets}
    for r in routes:
        if r.pgr is None or r.route_score is None:
            rt = by_name.get(r.route)
            went = ""
            if rt is not None and rt.served and rt.requests:
                shares = [f"{fmt_pct(k / rt.requests)} of calls to {m}" for m, k in rt.served.items()]
                went = ", sending " + _and(shares)
            head = (
                f"Route {r.route} scored {fmt_score(rt.score, rt.binary)} at {fmt_usd(rt.cost_per_1k)} per "
                f"1,000 requests{went}. "
                if rt is not None and rt.score is not None
                else f"Route {r.route}: "
            )
            out.append(f"{head}No PGR/APGR: {r.note}.")
            continue
        save = r.savings_vs_strong
        money = (
            ""
            if save is None
            else (
                f", {fmt_pct(save)} less than always using {r.strong}"
                if save >= 0
                else f", {fmt_pct(-save)} more than always using {r.strong}"
            )
        )
        binary = all(t.binary for t in targets if t.target in (r.route, r.weak, r.strong))
        out.append(
            f"Route {r.route} scored {fmt_score(r.route_score, binary)} "
            f"(always {r.weak}: {fmt_score(r.weak_score, binary)}, always {r.strong}: "
            f"{fmt_score(r.strong_score, binary)}): it recovers "
            f"{fmt_pct(r.pgr)} of the quality gap (PGR) at {fmt_usd(r.route_cost_per_1k)} per 1,000 "
            f"requests{money}, sending {fmt_pct(r.strong_share)} of calls to {r.strong}. "
            f"APGR {r.apgr:.2f} (random routing: 0.50)."
        )
    if unscored:
        out.append(note)
    local = [t for t in targets if t.compute_s and t.api_cost_usd == 0 and t.cost_per_1k is not None]
    if local:
        busy = _and([f"{t.target} {fmt_s(t.compute_s)} for {t.requests} requests" for t in local])
        out.append(
            f"Priced $0 per token, {_and([t.target for t in local])} {'is' if len(local) == 1 else 'are'} "
            f"charged the machine's time at ${hardware_per_hour:.2f} per hour (--hardware-cost-per-hour): "
            f"{busy}."
        )
    for t in targets:
        if t.errors:
            codes = ", ".join(f"{c} x{k}" for c, k in t.error_codes.items())
            out.append(f"{t.target} failed {t.errors} of {t.requests} requests ({fmt_pct(t.error_rate)}): {codes}.")
    return out


# --- files ---------------------------------------------------------------------------

_SUMMARY_COLUMNS = [
    "target",
    "kind",
    "requests",
    "score",
    "ci_low",
    "ci_high",
    "ci_method",
    "cost_per_1k",
    "api_cost_usd",
    "hardware_cost_usd",
    "compute_s",
    "latency_p50",
    "latency_p95",
    "ttft_p50",
    "ttft_p95",
    "tokens_per_s",
    "error_rate",
    "errors",
    "unscored",
    "retries",
    "fallbacks",
    "mean_prompt_tokens",
    "mean_completion_tokens",
    "judge_cost_usd",
    "on_cost_frontier",
    "on_latency_frontier",
]


def _router_value(score: float | None, binary: bool) -> str:
    if score is None:
        return ""
    if binary:
        return "True" if score >= 0.5 else "False"
    return repr(float(score))


def write_files(report: Report, results: Sequence[Result], items: Sequence[Item], out: Path) -> None:
    """Write summary.csv, report.json, items.csv and router_train.csv into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("summary.csv", "report.json", "items.csv", ROUTER_CSV)}
    report.files.update({k: str(v) for k, v in paths.items()})
    report.files["results"] = str(out / "results.sqlite")
    with open(paths["summary.csv"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(_SUMMARY_COLUMNS)
        for t in report.targets:
            w.writerow(["" if getattr(t, c) is None else getattr(t, c) for c in _SUMMARY_COLUMNS])
    order = {it.id: i for i, it in enumerate(items)}
    rows = sorted((r for r in results if r.item_id in order), key=lambda r: (order[r.item_id], r.target))
    with open(paths["items.csv"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        cols = [
            "item_id",
            "target",
            "served_model",
            "score",
            "score_note",
            "error",
            "latency_s",
            "ttft_s",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "reply",
        ]
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if getattr(r, c) is None else getattr(r, c) for c in cols])
    models = [t for t in report.targets if t.kind == "model"]
    scores = {(r.item_id, r.target): r.score for r in results}
    with open(paths[ROUTER_CSV], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["prompt", *(t.target for t in models)])
        for it in items:
            if not any((it.id, t.target) in scores for t in models):
                continue
            w.writerow([it.request_text, *(_router_value(scores.get((it.id, t.target)), t.binary) for t in models)])
    paths["report.json"].write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")


def read_router_csv(path: str | Path) -> tuple[list[str], dict[str, list[float | None]]]:
    """Read a router-training CSV: the prompts, and model -> scores (True/False -> 1/0)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        models = [c for c in reader.fieldnames or [] if c != "prompt"]
        prompts: list[str] = []
        scores: dict[str, list[float | None]] = {m: [] for m in models}
        for row in reader:
            prompts.append(row["prompt"])
            for m in models:
                v = row[m]
                scores[m].append(None if v == "" else 1.0 if v == "True" else 0.0 if v == "False" else float(v))
    return prompts, scores
