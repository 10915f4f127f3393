"""``tandem batch`` (a prompt over every row of a table) and ``tandem sql`` (``llm()`` in DuckDB).

Both run the gateway in-process, through the same routing, retries,
privacy guard, budgets and ledger as ``tandem serve``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tandem.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from tandem.batch.runner import BatchPlan, RunStats
    from tandem.call import KeyInfo
    from tandem.gateway import Gateway

__all__ = ["batch", "sql"]


def _load(config_path: str | None) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _target(cfg: Config, model: str | None, route: str | None) -> str:
    if model and route:
        raise click.UsageError("give --model or --route, not both")
    routes = [r.name for r in cfg.routes]
    models = [m.name for m in cfg.models]
    if route is not None and route not in routes:
        raise click.BadParameter(f"no route {route!r} (routes: {', '.join(routes) or 'none'})", param_hint="--route")
    if model is not None and model not in models:
        raise click.BadParameter(f"no model {model!r} (models: {', '.join(models)})", param_hint="--model")
    target = model or route or "auto"
    if target not in routes and target not in models:
        raise click.UsageError(f"no route 'auto' in {cfg.source}: choose one with --route or --model")
    return target


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--prompt", "-p", "prompt", help="Template naming columns as {column}; literal braces as {{ }}.")
@click.option(
    "--prompt-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the template from a file.",
)
@click.option(
    "--out",
    "-o",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output table (.csv, .tsv, .jsonl or .parquet).",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file.")
@click.option("--route", help="Route to send rows to (default: auto).")
@click.option("--model", "-m", help="Model to send rows to directly.")
@click.option(
    "--json-schema",
    "schema_path",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON schema of the reply: one typed output column per property.",
)
@click.option("--max-tokens", type=click.IntRange(1), help="Completion token limit per row.")
@click.option("--system", help="A system prompt for every row.")
@click.option("--temperature", type=click.FloatRange(0, 2))
@click.option(
    "--max-cost",
    type=click.FloatRange(0),
    help="Refuse to start if the estimate is over this (USD).",
)
@click.option("--yes", "-y", is_flag=True, help="Start even past --max-cost; never ask.")
@click.option("--dry-run", is_flag=True, help="Print the estimate and three prompts; call nothing.")
@click.option(
    "--concurrency",
    "-j",
    type=click.IntRange(1, 1024),
    default=8,
    show_default=True,
    help="Rows in flight at once.",
)
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(dir_okay=False),
    help="Checkpoint file (default: OUTPUT.checkpoint.sqlite).",
)
@click.option("--retry-errors", is_flag=True, help="Send again the rows that ended with an error.")
@click.option(
    "--retry-interrupted",
    is_flag=True,
    help="Send again the rows in flight when an earlier run was killed (may pay twice).",
)
@click.option("--prefix", default="", help="Prefix for the added columns (answer, model, cost_usd, error).")
@click.option("--key", envvar="TANDEM_KEY", help="Virtual key whose budget pays (env TANDEM_KEY).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def batch(
    input_path: str,
    prompt: str | None,
    prompt_file: str | None,
    output_path: str,
    config_path: str | None,
    route: str | None,
    model: str | None,
    schema_path: str | None,
    max_tokens: int | None,
    system: str | None,
    temperature: float | None,
    max_cost: float | None,
    yes: bool,
    dry_run: bool,
    concurrency: int,
    checkpoint_path: str | None,
    retry_errors: bool,
    retry_interrupted: bool,
    prefix: str,
    key: str | None,
    no_progress: bool,
) -> None:
    """Run a prompt template over every row of INPUT (CSV, JSONL or Parquet).

    \b
    tandem batch tickets.csv -p "Summarize: {body}" -o out.parquet --max-tokens 64
    tandem batch tickets.parquet -p "{body}" --json-schema triage.json -o triaged.parquet

    The output keeps every input column and adds the answer (or one column
    per schema property), model, cost_usd and error, in input order. Each
    row is committed to a checkpoint as it completes: rerun the same command
    after a crash or kill and it resumes without paying twice for a row.
    """
    from tandem.batch.job import RequestSpec
    from tandem.batch.runner import PlanError, checkpoint_path_for, plan
    from tandem.batch.schema import OutputSchema, SchemaError
    from tandem.batch.tables import TableError, format_of
    from tandem.batch.template import PromptTemplate, TemplateError

    if (prompt is None) == (prompt_file is None):
        raise click.UsageError("give the template with --prompt or --prompt-file")
    text = prompt if prompt is not None else Path(prompt_file or "").read_text(encoding="utf-8")
    cfg = _load(config_path)
    target = _target(cfg, model, route)
    try:
        format_of(output_path)
        template = PromptTemplate(text)
        schema = OutputSchema.load(schema_path) if schema_path else None
        spec = RequestSpec(target, schema, max_tokens, system, temperature)
        p = plan(
            input_path,
            template,
            spec,
            checkpoint_path=checkpoint_path or checkpoint_path_for(output_path),
            retry_errors=retry_errors,
            retry_interrupted=retry_interrupted,
            prefix=prefix,
            readonly=dry_run,
        )
    except (TemplateError, SchemaError, TableError, PlanError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        code = asyncio.run(
            _batch(
                cfg,
                p,
                output_path,
                max_cost=max_cost,
                yes=yes,
                dry_run=dry_run,
                concurrency=concurrency,
                key=key,
                progress=not no_progress,
            )
        )
    except KeyboardInterrupt:
        click.echo("interrupted: rows answered so far are kept; rerun the same command to resume", err=True)
        sys.exit(130)
    if code:
        sys.exit(code)


async def _batch(
    cfg: Config,
    p: BatchPlan,
    output_path: str,
    *,
    max_cost: float | None,
    yes: bool,
    dry_run: bool,
    concurrency: int,
    key: str | None,
    progress: bool,
) -> int:
    from tandem.batch.estimate import estimate
    from tandem.batch.job import build, open_gateway
    from tandem.batch.runner import RunStats, write_output
    from tandem.errors import TandemError

    gateway = build(cfg, ledger=not dry_run)
    try:
        est = estimate(gateway, p.spec, p.prompts(p.todo))
    except BaseException:
        await gateway.aclose()
        raise
    click.echo(f"tandem batch: {p.input_path} -> {output_path}")
    resumed = f", {p.done:,} done in {p.checkpoint_path.name}" if p.done else ""
    skipped = f", {p.interrupted:,} interrupted rows not resent" if p.interrupted else ""
    click.echo(f"  rows: {p.rows:,} ({len(p.todo):,} to send{resumed}{skipped})")
    for line in est.lines():
        click.echo(line)
    if dry_run:
        await gateway.aclose()
        click.echo("dry run: nothing was sent. First prompts:")
        for i in p.todo[:3]:
            click.echo(f"--- row {i} ---")
            click.echo(p.prompts([i])[0])
        if p.spec.schema is not None:
            click.echo(f"(each request asks for JSON matching the schema {p.spec.schema.name!r})")
        return 0
    cost = est.cost_usd
    if max_cost is not None and cost > max_cost and not yes:
        await gateway.aclose()
        raise click.ClickException(
            f"estimated cost ${cost:.4f} is over --max-cost ${max_cost:g}: not started "
            "(lower --max-tokens, choose a cheaper model, or add --yes to run anyway)"
        )
    if (
        max_cost is None
        and not yes
        and cost > 0
        and p.todo
        and sys.stdin.isatty()
        and not click.confirm(f"Send {len(p.todo):,} rows for about ${cost:.4f}?", default=True)
    ):
        await gateway.aclose()
        return 1
    stats = RunStats()
    reason = "the run was interrupted before this row"
    try:
        if p.todo:
            async with open_gateway(cfg, key_token=key, gateway=gateway) as (gw, keyinfo):
                await _run_with_progress(p, gw, keyinfo, concurrency, progress, stats)
            if stats.stopped:
                reason = f"the run stopped: {stats.stopped}"
        else:
            await gateway.aclose()
    except TandemError as exc:  # e.g. the key is refused at start
        raise click.ClickException(exc.message) from None
    finally:
        # On success, an early stop, Ctrl-C or an error: the output says what happened to each row.
        counts = write_output(p, output_path, not_run=reason)
        _summary(p, output_path, counts, stats)
    return 1 if stats.stopped else 0


async def _run_with_progress(
    p: BatchPlan, gw: Gateway, keyinfo: KeyInfo | None, concurrency: int, progress: bool, stats: RunStats
) -> None:
    from tqdm import tqdm  # type: ignore[import-untyped]

    from tandem.batch.runner import run

    tty = sys.stderr.isatty()
    with tqdm(
        total=len(p.todo),
        unit="row",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.2 if tty else 10,
        smoothing=0.1,
    ) as bar:

        def on_row(s: RunStats) -> None:
            bar.set_postfix_str(f"${s.spent_usd:.4f} spent, {s.errors} errors", refresh=False)
            bar.update(1)

        await run(p, gw, key=keyinfo, concurrency=concurrency, on_row=on_row, stats=stats)


def _summary(p: BatchPlan, output_path: str, counts: dict[str, int], stats: RunStats) -> None:
    from tandem.batch.checkpoint import Checkpoint

    total = 0.0
    ckpt = Checkpoint.peek(p.checkpoint_path, p.input_fp, p.request_hash)
    if ckpt is not None:
        total = ckpt.total_cost()
        ckpt.close()
    click.echo(
        f"wrote {output_path}: {counts['ok']:,} answered, {counts['errors']:,} errors, "
        f"{counts['interrupted']:,} interrupted, {counts['not_run']:,} not run"
    )
    click.echo(f"spent ${stats.spent_usd:.6f} in this run, ${total:.6f} in all for these rows")
    for line in stats.first_errors:
        click.echo(f"  {line}", err=True)
    if stats.stopped:
        click.echo(f"stopped early: {stats.stopped}", err=True)
    hints = []
    if counts["errors"]:
        hints.append("--retry-errors sends the failed rows again")
    if counts["interrupted"]:
        hints.append("--retry-interrupted sends the interrupted rows again (they may have been billed)")
    if counts["not_run"]:
        hints.append("rerun the same command to send the rows not run")
    if hints:
        click.echo("  " + "; ".join(hints), err=True)


@click.command()
@click.argument("query")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file.")
@click.option(
    "--db",
    "database",
    type=click.Path(dir_okay=False),
    help="A DuckDB database file (default: in memory).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "jsonl"]),
    help="Output format (default: table; with --out, by its extension).",
)
@click.option(
    "--out",
    "-o",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Write the result to a file (.csv, .tsv, .json, .jsonl, .parquet).",
)
@click.option(
    "--model",
    "-m",
    "target",
    default="auto",
    show_default=True,
    help="Model or route for llm() calls that name none.",
)
@click.option("--concurrency", "-j", type=click.IntRange(1, 1024), default=16, show_default=True)
@click.option("--max-tokens", type=click.IntRange(1), help="Completion token limit per call.")
@click.option("--system", help="A system prompt for every call.")
@click.option("--max-cost", type=click.FloatRange(0), help="Stop calling once this much is spent (USD).")
@click.option("--key", envvar="TANDEM_KEY", help="Virtual key whose budget pays (env TANDEM_KEY).")
def sql(
    query: str,
    config_path: str | None,
    database: str | None,
    fmt: str | None,
    out_path: str | None,
    target: str,
    concurrency: int,
    max_tokens: int | None,
    system: str | None,
    max_cost: float | None,
    key: str | None,
) -> None:
    """Run a DuckDB QUERY with llm() and llm_json() as SQL functions.

    \b
    tandem sql "SELECT id, llm('Summarize: ' || body) AS s FROM 'tickets.parquet'"
    tandem sql "SELECT llm(q, 'local') FROM t" --db my.duckdb --format csv
    tandem sql "SELECT llm_json(body, 'triage.json') ->> 'urgency' FROM 'tickets.csv'"

    llm(prompt [, model]) returns the reply text; llm_json(prompt, schema
    [, model]) returns the reply as JSON matching the schema (JSON text or a
    schema file). Calls of one vector of rows run concurrently; identical
    prompts are sent once per query; a failed call gives NULL.
    """
    import duckdb

    from tandem.batch.sql import LLMFunctions
    from tandem.errors import TandemError

    cfg = _load(config_path)
    fns = LLMFunctions(
        cfg,
        default_target=target,
        concurrency=concurrency,
        max_tokens=max_tokens,
        system=system,
        key_token=key,
        max_cost=max_cost,
    )
    try:
        con = duckdb.connect(database or ":memory:")
    except duckdb.Error as exc:
        raise click.ClickException(str(exc)) from None
    try:
        try:
            fns.start()
        except TandemError as exc:
            raise click.ClickException(exc.message) from None
        try:
            fns.register(con)
            rel = con.sql(query)
            table = rel.to_arrow_table() if rel is not None else None
        except duckdb.Error as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            fns.close()
        _sql_output(con, table, fmt, out_path)
    finally:
        con.close()
    s = fns.stats
    click.echo(
        f"llm: {s.calls} calls ({s.cache_hits} cached), {s.errors} failed, ${s.spent_usd:.6f}",
        err=True,
    )
    for line in s.first_errors:
        click.echo(f"  {line}", err=True)


def _sql_output(con: Any, table: Any, fmt: str | None, out_path: str | None) -> None:
    import orjson

    if table is None:
        click.echo("OK", err=True)
        return
    if out_path is not None and fmt is None:
        if Path(out_path).suffix.lower() == ".json":
            fmt = "json"
        else:
            from tandem.batch.tables import TableError, write_table

            try:
                write_table(table, out_path)
            except TableError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"wrote {table.num_rows:,} rows to {out_path}", err=True)
            return
    fmt = fmt or "table"
    if fmt == "table" and out_path is None:
        con.from_arrow(table).show(max_rows=10_000, max_col_width=80)
        return
    if fmt == "csv":
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.csv as pcsv  # type: ignore[import-untyped]

        from tandem.batch.tables import flatten_for_csv

        sink = pa.BufferOutputStream()
        pcsv.write_csv(flatten_for_csv(table), sink)
        data = sink.getvalue().to_pybytes()
    elif fmt == "json":
        data = orjson.dumps(table.to_pylist(), default=str, option=orjson.OPT_INDENT_2) + b"\n"
    elif fmt == "jsonl":
        data = b"".join(orjson.dumps(r, default=str) + b"\n" for r in table.to_pylist())
    else:
        data = str(con.from_arrow(table)).encode()
    if out_path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(out_path).write_bytes(data)
        click.echo(f"wrote {table.num_rows:,} rows to {out_path}", err=True)
