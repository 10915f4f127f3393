"""Runs the enabled detectors over one text and returns resolved spans.

The order of work is chosen for the common case, a prompt with no personal
data: the text is folded (free for ASCII), each detector first looks for its
anchor with a substring search or a regex that starts with a character
class, and only anchors found lead to real matching.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from tandem.privacy.credentials import find_secrets, lower_same_length
from tandem.privacy.numbers import NUMBER_ENTITIES, NumberDetector
from tandem.privacy.phones import DEFAULT_PHONE_REGIONS, PhoneValidator
from tandem.privacy.spans import EMAIL_ADDRESS, IP_ADDRESS, SECRET, URL, Span, resolve_overlaps
from tandem.privacy.textfold import fold
from tandem.privacy.web import find_emails, find_ipv6, find_urls

__all__ = ["NerEngine", "Scanner"]

# A detector: (folded text, the same lower-cased, list to append spans to).
_Finder = Callable[[str, str, list[Span]], None]


class NerEngine(Protocol):
    """A named-entity recognizer that adds spans the patterns cannot find."""

    entity_types: frozenset[str]

    def find(self, text: str) -> list[Span]:
        """Spans in ``text`` (offsets in ``text`` itself)."""
        ...


class Scanner:
    """Detects the configured entities in texts."""

    def __init__(
        self,
        entities: Collection[str],
        *,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
        ner: NerEngine | None = None,
    ) -> None:
        wanted = frozenset(entities)
        finders: list[_Finder] = []
        if SECRET in wanted:
            finders.append(find_secrets)
        if EMAIL_ADDRESS in wanted:
            finders.append(find_emails)
        if URL in wanted:
            finders.append(find_urls)
        if IP_ADDRESS in wanted:
            finders.append(find_ipv6)
        if wanted & NUMBER_ENTITIES:
            phones = PhoneValidator(phone_regions)
            finders.append(NumberDetector(wanted, phones).find)
        self._finders = tuple(finders)
        self._ner = ner
        self._ner_types = (ner.entity_types & wanted) if ner is not None else frozenset()

    def scan(self, text: str) -> list[Span]:
        """Non-overlapping spans, sorted by start, with original offsets."""
        if not text:
            return []
        view = fold(text)
        found: list[Span] = []
        folded = view.text
        # lower_same_length(folded), from the ASCII copy that fold made.
        raw = view.ascii_copy
        lowered = raw.lower().decode("ascii") if raw is not None else lower_same_length(folded)
        for finder in self._finders:
            finder(folded, lowered, found)
        if found and not view.identity:
            mapped = []
            for span in found:
                start, end = view.original(span.start, span.end)
                mapped.append(Span(span.entity_type, start, end, span.score))
            found = mapped
        if self._ner is not None and self._ner_types:
            found.extend(s for s in self._ner.find(text) if s.entity_type in self._ner_types)
        if len(found) < 2:
            return found
        return resolve_overlaps(found)
