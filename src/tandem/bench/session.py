"""One benchmark from start to finish: gateway, runner, summaries, report files."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.bench.dataset import Dataset, Item
from tandem.bench.report import Report, findings, now_iso, write_files
from tandem.bench.results import Result, ResultStore
from tandem.bench.runner import BenchSettings, RunCounts, Runner, Target, run_key
from tandem.bench.scorers import Scorer, get_scorer
from tandem.bench.summary import summaries_for, summarize_route
from tandem.config import Config

__all__ = ["BenchOutcome", "build_report", "default_judge", "infer_scorer", "run_bench"]

log = logging.getLogger("tandem.bench")


_NUMERIC = re.compile(r"^\s*(?:-?\$?[\d,]*\.?\d+\s*%?|.*####\s*-?\$?[\d,.]+)\s*$", re.DOTALL)


def infer_scorer(dataset: Dataset) -> str:
    """The scorer a dataset is made for: its sample's, else guessed from its fields."""
    if dataset.sample is not None:
        return dataset.sample.scorer
    items = dataset.items
    if all(it.choices for it in items):
        return "choice"
    if all(it.schema for it in items):
        return "json_schema"
    if all(it.pattern for it in items):
        return "regex"
    refs = [it.reference for it in items]
    if all(r is None for r in refs):
        return "judge"
    if all(isinstance(r, int | float) or (isinstance(r, str) and _NUMERIC.match(r)) for r in refs):
        return "numeric"
    return "contains"


def default_judge(config: Config) -> str:
    """The judge when none is named: the chat model with the best prior quality (then the priciest)."""
    chat = [m for m in config.models if "chat" in m.capabilities]
    return max(chat, key=lambda m: (m.quality, m.price.output, m.price.input)).name


def build_report(
    dataset: Dataset,
    items: Sequence[Item],
    targets: Sequence[Target],
    results: Sequence[Result],
    config: Config,
    settings: dict[str, Any],
    hardware_per_hour: float,
    judge: dict[str, Any] | None = None,
) -> Report:
    """Summaries, route curves and findings from stored results."""
    ids = {it.id for it in items}
    results = [r for r in results if r.item_id in ids]
    summaries, by_target = summaries_for(targets, results, hardware_per_hour)
    by_name = {s.target: s for s in summaries}
    routes = [
        summarize_route(t.name, config, by_target, by_name, hardware_per_hour) for t in targets if t.kind == "route"
    ]
    if judge is not None:
        judge = {**judge, "cost_usd": sum(s.judge_cost_usd for s in summaries)}
    report = Report(
        title=f"Price, quality and latency on \u201c{dataset.name}\u201d",
        created=now_iso(),
        dataset={"name": dataset.name, "source": dataset.source, "items": len(items), "digest": dataset.digest},
        settings=settings,
        targets=summaries,
        routes=routes,
        judge=judge,
    )
    chance = None
    if str(settings.get("scorer", "")).startswith("choice") and items:
        chance = sum(1 / (len(it.choices) if it.choices else 4) for it in items) / len(items)
        report.dataset["chance"] = chance
    report.findings = findings(summaries, routes, len(items), hardware_per_hour, chance)
    return report


@dataclass(slots=True)
class BenchOutcome:
    """A finished benchmark: its report, what the run did, its results."""

    report: Report
    counts: RunCounts
    results: list[Result]
    items: list[Item]


async def run_bench(
    config: Config,
    dataset: Dataset,
    targets: Sequence[Target],
    out: Path,
    *,
    scorer: str | None = None,
    settings: BenchSettings | None = None,
    hardware_cost_per_hour: float = 0.10,
    judge_model: str | None = None,
    judge_prompt: str | Path | None = None,
    schema: dict[str, Any] | None = None,
    resume: bool = True,
    progress: Any = None,
    gateway: Any = None,
    ledger: bool = True,
    html: bool = True,
) -> BenchOutcome:
    """Run (or resume) a benchmark and write its report files into ``out``.

    Without ``gateway`` one is built from ``config`` as ``tandem serve`` does,
    with the usage ledger when ``ledger`` is true (bench calls are then in
    ``tandem usage`` like any other traffic).
    """
    settings = settings or BenchSettings()
    spec = scorer or infer_scorer(dataset)
    own_gateway = gateway is None
    accountant = None
    if own_gateway:
        from tandem.api.app import build_gateway

        accountant = _open_ledger(config) if ledger else None
        gateway = build_gateway(config, accountant)
        try:
            await gateway.accountant.start()
        except Exception as exc:  # a benchmark can run without the ledger
            log.warning("usage ledger unavailable (%s); bench calls are not recorded", exc)
            from tandem.accounting import NoAccounting

            gateway.accountant = NoAccounting()
    store = ResultStore(out / "results.sqlite")
    try:
        judge = None
        if spec.partition(":")[0] == "judge":
            model = spec.partition(":")[2] or judge_model or default_judge(config)
            spec = f"judge:{model}"
            judge = {"model": model}
        the_scorer: Scorer = get_scorer(spec, gateway=gateway, prompt_path=judge_prompt, schema=schema)
        runner = Runner(gateway, dataset, the_scorer, store, settings, targets, progress)
        runner.check()
        meta = {
            "scorer": the_scorer.spec,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "concurrency": settings.concurrency,
            "hardware_cost_per_hour": hardware_cost_per_hour,
            "config": config.source,
            "run_key": runner.key,
            "limit": settings.limit,
        }
        store.begin_run(runner.key, dataset.name, dataset.source, meta)
        if not resume:
            store.forget(runner.key)
        counts = await runner.run()
        results = store.results(run_key(dataset, settings), [t.name for t in targets])
        report = build_report(dataset, runner.items, targets, results, config, meta, hardware_cost_per_hour, judge)
        if html:
            report.files["report.html"] = str(out / "report.html")
        write_files(report, results, runner.items, out)
        if html:
            from tandem.bench.html import write_html

            write_html(report, results, runner.items, out / "report.html")
        return BenchOutcome(report, counts, results, runner.items)
    finally:
        store.close()
        if own_gateway:
            with contextlib.suppress(Exception):
                await gateway.accountant.aclose()
            await gateway.aclose()


def _open_ledger(config: Config) -> Any:
    try:
        from tandem.store import open_store
    except ImportError:
        return None
    try:
        # "shared": never take the serve lock a running `tandem serve` may want.
        return open_store(config, coordination="shared")
    except Exception as exc:  # a benchmark can run without the ledger
        log.warning("usage ledger unavailable (%s); bench calls are not recorded", exc)
        return None
