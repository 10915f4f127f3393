"""``tandem privacy``: run the privacy guard's detectors on files.

``scan`` prints the spans found in each record, one JSON line per record;
``eval`` scores the detectors against the labels of a Presidio-format file
(see :mod:`tandem.privacy.evaluation` for the matching rules).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

__all__ = ["privacy"]


def _guard(entities: str | None, ner: bool) -> Any:
    from tandem.privacy import PrivacyGuard

    wanted = [e.strip() for e in entities.split(",") if e.strip()] if entities else None
    try:
        return PrivacyGuard(wanted, ner=ner)
    except (ValueError, RuntimeError) as exc:
        raise click.UsageError(str(exc)) from exc


def _texts(path: Path, fmt: str | None) -> Iterator[str]:
    """Texts of a JSON list (records with ``full_text``) or JSONL (``{"text"}``)."""
    if fmt is None:
        fmt = "jsonl" if path.suffix.lower() == ".jsonl" else "json"
    with path.open(encoding="utf-8") as fh:
        if fmt == "jsonl":
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                    raise click.ClickException(f'{path}:{n}: expected {{"text": ...}}')
                yield record["text"]
            return
        data = json.load(fh)
    if not isinstance(data, list):
        raise click.ClickException(f"{path}: expected a JSON list of records")
    for n, record in enumerate(data):
        text = record.get("full_text", record.get("text")) if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise click.ClickException(f"{path}: record {n} has no full_text")
        yield text


@click.group()
def privacy() -> None:
    """Detect personal data and secrets; evaluate the detectors."""


_entities_option = click.option(
    "--entities",
    metavar="TYPES",
    help="Comma-separated entity types (default: all pattern-based types).",
)
_ner_option = click.option("--ner", is_flag=True, help="Also find PERSON and LOCATION (spaCy).")


@privacy.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "jsonl"]),
    default=None,
    help='json: a list of records with full_text; jsonl: {"text": ...} per line. Default: by file extension.',
)
@_entities_option
@_ner_option
def scan(file: Path, fmt: str | None, entities: str | None, ner: bool) -> None:
    """Print one JSON line {"spans": [...]} per record of FILE, in order."""
    guard = _guard(entities, ner)
    out = sys.stdout
    for text in _texts(file, fmt):
        spans = [s.to_dict() for s in guard.scan(text)]
        out.write(json.dumps({"spans": spans}, ensure_ascii=False) + "\n")


@privacy.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--examples", default=0, show_default=True, help="Show up to N misses/false alarms.")
@_entities_option
@_ner_option
def eval_(file: Path, as_json: bool, examples: int, entities: str | None, ner: bool) -> None:
    """Precision, recall and support per entity type against FILE's labels.

    FILE is a Presidio-format JSON list. Our URL is scored against gold
    DOMAIN_NAME (Presidio labels full URLs so).
    """
    from tandem.privacy.evaluation import evaluate, load_labeled

    guard = _guard(entities, ner)
    try:
        records = load_labeled(file)
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    scores = evaluate(records, guard.scan, guard.entities, keep_examples=examples)
    if as_json:
        click.echo(json.dumps({t: s.as_dict() for t, s in scores.items()}, indent=2))
        return
    click.echo(f"{'entity':<16} {'precision':>9} {'recall':>7} {'support':>8} {'predicted':>9}")
    for etype, s in scores.items():
        click.echo(f"{etype:<16} {s.precision:>9.3f} {s.recall:>7.3f} {s.support:>8} {s.predicted:>9}")
        for value in s.misses:
            click.echo(f"    missed: {value!r}")
        for value in s.false_alarms:
            click.echo(f"    false alarm: {value!r}")
