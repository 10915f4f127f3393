"""``tandem bench``: measure price, quality and latency of models and routes."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from tandem.config import ConfigError, load_config

__all__ = ["bench"]

_SCORER_HELP = (
    "exact, contains, regex[:PATTERN], numeric, choice, json_schema, judge[:MODEL], or "
    "module:function (also path/to/file.py:function). Default: the sample's scorer, else "
    "guessed from the rows (choices -> choice, schema -> json_schema, numbers -> numeric, "
    "other references -> contains, no reference -> judge)."
)


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


def _short(v: float | None) -> str:
    """A duration in at most 5 characters: "703ms", "3.2s"."""
    if v is None:
        return "n/a"
    if v < 1:
        return f"{v * 1000:.0f}ms" if v >= 0.001 else "<1ms"
    return f"{v:.2g}s" if v < 10 else f"{v:.0f}s"


def _span(lo: float | None, hi: float | None) -> str:
    """p50/p95 in one unit: "20/36 ms" or "1.2/2.5 s"."""
    if lo is None or hi is None:
        return "n/a"
    if hi < 1:
        return f"{lo * 1000:.0f}/{hi * 1000:.0f} ms"
    return f"{lo:.2g}/{hi:.2g} s" if hi < 10 else f"{lo:.0f}/{hi:.0f} s"


def _print_table(report: Any) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from tandem.bench.report import fmt_score, fmt_usd

    console = Console()
    table = Table(title=report.title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("model / route", "score", "95% CI", "$/1k req", "p50/p95", "TTFT", "tok/s", "err"):
        table.add_column(col, justify="left" if col == "model / route" else "right", no_wrap=True)
    for t in report.targets:
        name = t.target + (" (route)" if t.kind == "route" else "") + (" *" if t.on_cost_frontier else "")
        if t.ci_low is None or t.ci_high is None:
            ci = ""
        elif t.binary:
            ci = f"{t.ci_low * 100:.0f}-{t.ci_high * 100:.0f}%"
        else:
            ci = f"{t.ci_low:.2f}-{t.ci_high:.2f}"
        table.add_row(
            name,
            fmt_score(t.score, t.binary),
            ci,
            fmt_usd(t.cost_per_1k),
            _span(t.latency_p50, t.latency_p95),
            _short(t.ttft_p50),
            "n/a" if t.tokens_per_s is None else f"{t.tokens_per_s:.0f}",
            f"{t.errors}/{t.requests}",
        )
    console.print(table)
    console.print(
        "* on the quality/cost Pareto frontier (nothing else is both cheaper and better); "
        "p50/p95: latency per reply; TTFT: median time to first token; err: failed calls",
        style="dim",
        highlight=False,
    )
    for line in report.findings:
        console.print(f"- {line}", highlight=False)


@click.command()
@click.argument("dataset", required=False)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: $TANDEM_CONFIG, else the bundled local model).",
)
@click.option("--models", help="Comma-separated models to test (default: every chat model).")
@click.option(
    "--routes",
    help="Comma-separated routes to test (default: routes with 2+ candidates; "
    "given alone, their candidates are tested too).",
)
@click.option("--scorer", help=_SCORER_HELP)
@click.option(
    "--judge-model",
    help="Model or route that judges (judge scorer; default: the configured "
    "chat model with the highest quality prior).",
)
@click.option(
    "--judge-prompt",
    type=click.Path(exists=True, dir_okay=False),
    help="Judge prompt file with {question}, {answer} and {reference}.",
)
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON schema for rows without their own (json_schema scorer).",
)
@click.option(
    "--fewshot",
    type=click.Path(exists=True, dir_okay=False),
    help="JSONL/CSV of {prompt, answer} examples shown before every prompt.",
)
@click.option("--system", help="A system prompt for every item.")
@click.option("--max-tokens", type=click.IntRange(1), help="Per reply (default: the sample's, else 256).")
@click.option("--temperature", type=click.FloatRange(0, 2), default=0.0, show_default=True)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 512),
    default=4,
    show_default=True,
    help="Calls in flight per target (never above a model's max_concurrency).",
)
@click.option("--limit", type=click.IntRange(1), help="Only the first N items.")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), help="Output directory (default: ./bench-results/DATASET)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Skip (item, target) pairs already in the output directory.",
)
@click.option("--retry-errors", is_flag=True, help="Call again where a stored call failed.")
@click.option(
    "--hardware-cost-per-hour",
    type=click.FloatRange(0),
    default=0.10,
    show_default=True,
    envvar="TANDEM_HARDWARE_COST_PER_HOUR",
    help="USD per hour of the machine running models priced $0 (local models); 0.10 is about a 2-vCPU cloud VM.",
)
@click.option("--ledger/--no-ledger", default=True, show_default=True, help="Record bench calls in the usage ledger.")
@click.option("--list-samples", is_flag=True, help="List the shipped sample datasets and exit.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def bench(
    dataset: str | None,
    config_path: str | None,
    models: str | None,
    routes: str | None,
    scorer: str | None,
    judge_model: str | None,
    judge_prompt: str | None,
    schema_path: str | None,
    fewshot: str | None,
    system: str | None,
    max_tokens: int | None,
    temperature: float,
    concurrency: int,
    limit: int | None,
    out_dir: str | None,
    as_json: bool,
    resume: bool,
    retry_errors: bool,
    hardware_cost_per_hour: float,
    ledger: bool,
    list_samples: bool,
    quiet: bool,
) -> None:
    """Measure score, cost, latency and errors of models and routes on DATASET.

    DATASET is a JSONL or CSV file (fields: prompt or messages; reference or
    answer; optional id, fewshot, choices, schema, pattern) or the name of a
    shipped sample (--list-samples). Without it, the "quiz" sample runs.

    Results are stored as they complete in OUT/results.sqlite: run the same
    command again to resume an interrupted run. Reports: a table here, and
    OUT/report.html, summary.csv, report.json, items.csv, router_train.csv.
    """
    from tandem.bench.dataset import DEFAULT_SAMPLE, SAMPLES, DatasetError, load_dataset
    from tandem.bench.runner import BenchSettings, resolve_targets
    from tandem.bench.session import run_bench

    if list_samples:
        for name, s in SAMPLES.items():
            click.echo(f"{name:<12} {s.scorer:<12} {s.description}")
        return
    try:
        cfg = load_config(config_path)
        data = load_dataset(dataset or DEFAULT_SAMPLE, fewshot=fewshot, system=system)
        targets = resolve_targets(cfg, models, routes)
        schema = json.loads(Path(schema_path).read_text(encoding="utf-8")) if schema_path else None
    except (ConfigError, DatasetError) as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(f"--schema: not valid JSON ({exc})") from None
    if not targets:
        raise click.ClickException("nothing to test: no chat model or route selected")
    default_tokens = data.sample.max_tokens if data.sample else 256
    settings = BenchSettings(
        max_tokens=max_tokens or default_tokens,
        temperature=temperature,
        concurrency=concurrency,
        limit=limit,
        retry_errors=retry_errors,
    )
    out = Path(out_dir) if out_dir else Path("bench-results") / data.name
    progress = _progress(not quiet and sys.stderr.isatty())
    click.echo(
        f"tandem bench: {len(data.items[:limit] if limit else data.items)} items of {data.source} "
        f"x {', '.join(t.name for t in targets)} -> {out}",
        err=True,
    )

    async def main() -> Any:
        if progress is not None:
            progress.start()
        try:
            return await run_bench(
                cfg,
                data,
                targets,
                out,
                scorer=scorer,
                settings=settings,
                hardware_cost_per_hour=hardware_cost_per_hour,
                judge_model=judge_model,
                judge_prompt=judge_prompt,
                schema=schema,
                resume=resume,
                progress=progress,
                ledger=ledger,
            )
        finally:
            if progress is not None:
                progress.stop()

    try:
        outcome = asyncio.run(main())
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: completed results are saved in {out}; run the same command to resume.", err=True)
        sys.exit(130)
    except (DatasetError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    report = outcome.report
    c = outcome.counts
    counts = (
        f"{c.calls} calls made, {c.skipped} already done, {c.errors} failed"
        + (f", {c.scored} rescored" if c.scored else "")
        + "."
    )
    if as_json:
        click.echo(counts, err=True)
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    _print_table(report)
    click.echo("\n" + counts, err=True)
    failed = sum(t.errors for t in report.targets)
    if failed and not retry_errors:
        click.echo(
            f"{failed} stored call(s) failed; they count as errors and score 0. --retry-errors calls them again.",
            err=True,
        )
    click.echo(f"Report: {report.files.get('report.html', report.files['report.json'])}")
