"""Precision and recall of the detectors against labeled data.

The labeled format is Presidio's (``synth_dataset_v2.json``): a JSON list of
records ``{"full_text": str, "spans": [{"entity_type", "start_position",
"end_position", ...}]}`` with exclusive ends.

Matching is by overlap: a predicted span is correct when it overlaps a gold
span of a matching type; a gold span is found when a predicted span of a
matching type overlaps it. Type names differ in two places, mapped by
:data:`GOLD_TYPES`: Presidio labels full URLs ``DOMAIN_NAME``, so our ``URL``
matches gold ``URL`` or ``DOMAIN_NAME``; the NER engine's ``LOCATION``
matches gold ``LOCATION``, ``GPE``, ``STREET_ADDRESS`` or ``ADDRESS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tandem.privacy.spans import LOCATION, URL, Span

__all__ = ["GOLD_TYPES", "LabeledText", "Score", "evaluate", "load_labeled"]

#: Our entity type -> the gold entity types it is scored against.
GOLD_TYPES: dict[str, frozenset[str]] = {
    URL: frozenset({URL, "DOMAIN_NAME"}),
    LOCATION: frozenset({LOCATION, "GPE", "STREET_ADDRESS", "ADDRESS"}),
}


@dataclass(frozen=True, slots=True)
class LabeledText:
    """One text with its gold spans."""

    text: str
    spans: tuple[Span, ...]


@dataclass(slots=True)
class Score:
    """Counts for one entity type; precision and recall derive from them."""

    support: int = 0  # gold spans
    found: int = 0  # gold spans overlapped by a prediction
    predicted: int = 0  # predicted spans
    correct: int = 0  # predicted spans overlapping a gold span
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        """Share of predictions that overlap a gold span (1.0 if none made)."""
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Share of gold spans found (1.0 if there are none)."""
        return self.found / self.support if self.support else 1.0

    def as_dict(self) -> dict[str, float | int]:
        """Rounded numbers for reports."""
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "support": self.support,
            "predicted": self.predicted,
        }


def _record(item: Any) -> LabeledText:
    spans = tuple(
        Span(s["entity_type"], int(s["start_position"]), int(s["end_position"])) for s in item.get("spans") or ()
    )
    return LabeledText(str(item["full_text"]), spans)


def load_labeled(path: str | Path) -> list[LabeledText]:
    """Read a Presidio-format JSON list of labeled records."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records")
    return [_record(item) for item in data]


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def evaluate(
    records: Iterable[LabeledText],
    scan: Callable[[str], Sequence[Span]],
    entity_types: Iterable[str],
    *,
    keep_examples: int = 0,
) -> dict[str, Score]:
    """Score ``scan`` on ``records`` for each of ``entity_types``."""
    scores = {t: Score() for t in sorted(entity_types)}
    accepted = {t: GOLD_TYPES.get(t, frozenset({t})) for t in scores}
    for record in records:
        predicted = scan(record.text)
        for etype, score in scores.items():
            gold = [g for g in record.spans if g.entity_type in accepted[etype]]
            preds = [p for p in predicted if p.entity_type == etype]
            score.support += len(gold)
            score.predicted += len(preds)
            for g in gold:
                if any(_overlaps(g, p) for p in preds):
                    score.found += 1
                elif len(score.misses) < keep_examples:
                    score.misses.append(record.text[g.start : g.end])
            for p in preds:
                if any(_overlaps(g, p) for g in gold):
                    score.correct += 1
                elif len(score.false_alarms) < keep_examples:
                    score.false_alarms.append(record.text[p.start : p.end])
    return scores
