"""Detected spans, entity names, and how overlapping detections are resolved.

Entity names follow Microsoft Presidio's vocabulary so that labeled data and
policies written for Presidio read the same here.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from itertools import islice
from operator import itemgetter, le, lt
from typing import NamedTuple

__all__ = [
    "CREDIT_CARD",
    "DEFAULT_ENTITIES",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "LOCATION",
    "NER_ENTITIES",
    "PERSON",
    "PHONE_NUMBER",
    "SECRET",
    "URL",
    "US_SSN",
    "Span",
    "make_span",
    "resolve_overlaps",
]

EMAIL_ADDRESS = "EMAIL_ADDRESS"
PHONE_NUMBER = "PHONE_NUMBER"
CREDIT_CARD = "CREDIT_CARD"
IBAN_CODE = "IBAN_CODE"
US_SSN = "US_SSN"
IP_ADDRESS = "IP_ADDRESS"
URL = "URL"
SECRET = "SECRET"
PERSON = "PERSON"
LOCATION = "LOCATION"

#: Entities found by the pattern and checksum detectors (on by default).
DEFAULT_ENTITIES: frozenset[str] = frozenset(
    {EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, US_SSN, IP_ADDRESS, URL, SECRET}
)
#: Entities that only the optional NER engine finds.
NER_ENTITIES: frozenset[str] = frozenset({PERSON, LOCATION})

# Lower rank wins an overlap; within a rank the longer span wins. A secret
# must keep its type (policies may block on it) even inside a URL; phone
# numbers and NER guesses are the least certain detections, so a validated
# card, SSN or IP address that overlaps one takes precedence.
_RANK: dict[str, int] = {
    SECRET: 0,
    EMAIL_ADDRESS: 1,
    CREDIT_CARD: 1,
    IBAN_CODE: 1,
    US_SSN: 1,
    IP_ADDRESS: 1,
    URL: 1,
    PHONE_NUMBER: 2,
    PERSON: 2,
    LOCATION: 2,
}


class Span(NamedTuple):
    """One detected entity: ``text[start:end]`` (end exclusive) is the value.

    Offsets always refer to the text the caller passed in, never to an
    internally normalized copy. A named tuple rather than a dataclass: spans
    are created on the hot path and tuples are several times cheaper.
    """

    entity_type: str
    start: int
    end: int
    score: float = 1.0

    def to_dict(self) -> dict[str, str | int]:
        """The JSON shape used by the CLI: entity type and offsets, no score."""
        return {"entity_type": self.entity_type, "start": self.start, "end": self.end}


#: ``make_span((entity_type, start, end, score))``, all four fields: a Span
#: built in C, without the Python-level ``__new__`` of a named tuple (170
#: instead of 290 ns; detectors create one per entity found).
make_span = partial(tuple.__new__, Span)

_START = itemgetter(1)
_END = itemgetter(2)


def _priority(span: Span) -> tuple[int, int, int]:
    return (_RANK.get(span.entity_type, 3), span.start - span.end, span.start)


def _resolve_group(group: list[Span]) -> list[Span]:
    """Greedy choice within one group of mutually reachable overlaps."""
    kept: list[Span] = []
    for span in sorted(group, key=_priority):
        if all(span.end <= k.start or k.end <= span.start for k in kept):
            kept.append(span)
    return kept


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Drop overlapping detections, keeping the more specific or longer one.

    Returns non-overlapping spans sorted by start. Work is done per group of
    transitively overlapping spans, so many separate entities stay linear.
    """
    # Usually nothing overlaps: sort by start and compare each end with the
    # next start, all in C (itemgetter, map), instead of grouping in Python.
    # Distinct starts are checked too, so empty spans take the full path.
    ordered = sorted(spans, key=_START)
    starts = list(map(_START, ordered))
    if all(map(le, map(_END, ordered), islice(starts, 1, None))) and all(map(lt, starts, islice(starts, 1, None))):
        return ordered
    ordered.sort(key=lambda s: (s.start, -s.end))
    result: list[Span] = []
    group: list[Span] = [ordered[0]]
    group_end = ordered[0].end
    for span in ordered[1:]:
        if span.start < group_end:
            group.append(span)
            group_end = max(group_end, span.end)
            continue
        result.extend(group if len(group) == 1 else _resolve_group(group))
        group = [span]
        group_end = span.end
    result.extend(group if len(group) == 1 else _resolve_group(group))
    result.sort(key=lambda s: s.start)
    return result
