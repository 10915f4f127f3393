"""``tandem router``: train and evaluate the learned quality predictor.

    tandem router train DATA [DATA ...] --out ROUTER_FILE [--seed N]
    tandem router eval --router ROUTER_FILE DATA [DATA ...] [--json] [--plot PNG]

DATA are CSV files (or directories of them): a ``prompt`` column and one
score column per model (``True``/``False`` or numbers), as in the RouteLLM
evaluation files and the ``router_train.csv`` that ``tandem bench`` writes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from tandem.routing.learned.data import RoutingData

__all__ = ["router"]


@click.group()
def router() -> None:
    """Train and evaluate the learned router (quality predictor)."""


def _read(data: tuple[str, ...]) -> RoutingData:
    from tandem.routing.learned import read_many

    try:
        return read_many(data)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@router.command()
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Router file to write (.npz).")
@click.option("--seed", default=0, show_default=True, help="Random seed of the fit.")
@click.option(
    "--model", "models", multiple=True, help="Only learn these models (repeatable; default: every score column)."
)
def train(data: tuple[str, ...], out: str, seed: int, models: tuple[str, ...]) -> None:
    """Fit a router on DATA and write it to --out."""
    from tandem.routing.learned import QualityPredictor

    rows = _read(data)
    t0 = time.perf_counter()
    try:
        predictor = QualityPredictor.train(rows, models=list(models) or None, seed=seed)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    predictor.save(out)
    size = Path(out).stat().st_size
    click.echo(
        f"trained on {len(rows)} prompts, {len(predictor.models)} models "
        f"in {time.perf_counter() - t0:.1f}s -> {out} ({size / 1024:.0f} KiB)"
    )
    for m in predictor.models:
        click.echo(f"  {m}")


@router.command("eval")
@click.option(
    "--router",
    "router_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Router file written by 'tandem router train'.",
)
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False), help="Write the curves to this PNG.")
def evaluate(router_file: str, data: tuple[str, ...], as_json: bool, plot: str | None) -> None:
    """APGR, CPT(50%), CPT(80%) and the cost/quality curve of every model pair on DATA."""
    from tandem.routing.learned import QualityPredictor, evaluate_scores

    try:
        predictor = QualityPredictor.load(router_file)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    rows = _read(data)
    known = [m for m in predictor.models if m in rows.models]
    if len(known) < 2:
        raise click.ClickException(
            f"DATA must score at least two of the router's models ({', '.join(predictor.models)})"
        )
    predicted = predictor.predict_many(rows.prompts)
    cols = [predictor.models.index(m) for m in known]
    results = evaluate_scores(rows, predicted[:, cols], known)
    if plot:
        from tandem.routing.learned.plot import plot_curves

        plot_curves(results, plot, title=Path(router_file).name)
    if as_json:
        payload: dict[str, object] = {
            "router": router_file,
            "prompts": len(rows),
            "pairs": [r.to_dict() for r in results],
        }
        if plot:
            payload["plot"] = plot
        click.echo(json.dumps(payload, indent=2))
        return
    for r in results:
        click.echo(f"{r.strong}  vs  {r.weak}   ({r.n} prompts; strong {r.curve.strong:.3f}, weak {r.curve.weak:.3f})")
        click.echo(f"  APGR {_num(r.apgr)}   CPT(50%) {_pct(r.cpt50)}   CPT(80%) {_pct(r.cpt80)}")
        click.echo("  strong calls   score    PGR")
        for share, quality, pgr in r.table():
            click.echo(f"  {share:>11.0%}   {quality:.3f}  {_num(pgr)}")
        click.echo("")
    if plot:
        click.echo(f"curve written to {plot}")


def _num(x: float) -> str:
    return "  n/a" if x != x else f"{x:.3f}"  # NaN: the two models score the same


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{x:.1%}"
