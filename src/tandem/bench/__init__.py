"""``tandem bench``: price, quality and latency of every model and route on your data.

A benchmark reads a dataset (:mod:`.dataset`), sends every item to every
target through the :class:`~tandem.gateway.Gateway` (:mod:`.runner`), scores
the replies (:mod:`.scorers`, :mod:`.judge`), stores each result as it
completes (:mod:`.results`), and reports score with 95% intervals, cost per
1,000 requests, latency, time to first token, tokens/s, error rate and, for
routes, PGR/APGR (:mod:`.summary`, :mod:`.report`, :mod:`.html`)::

    from tandem.bench import load_dataset, resolve_targets, run_bench

    data = load_dataset("quiz")                 # a shipped sample, or a path
    outcome = await run_bench(config, data, resolve_targets(config), Path("out"))
    print(outcome.report.findings)
"""

from __future__ import annotations

from tandem.bench.dataset import SAMPLES, Dataset, DatasetError, Item, load_dataset
from tandem.bench.report import Report, read_router_csv
from tandem.bench.results import Result, ResultStore
from tandem.bench.runner import BenchSettings, Runner, Target, resolve_targets, run_key
from tandem.bench.scorers import SCORERS, Scorer, Verdict, get_scorer
from tandem.bench.session import BenchOutcome, build_report, run_bench

__all__ = [
    "SAMPLES",
    "SCORERS",
    "BenchOutcome",
    "BenchSettings",
    "Dataset",
    "DatasetError",
    "Item",
    "Report",
    "Result",
    "ResultStore",
    "Runner",
    "Scorer",
    "Target",
    "Verdict",
    "build_report",
    "get_scorer",
    "load_dataset",
    "read_router_csv",
    "resolve_targets",
    "run_bench",
    "run_key",
]
