"""The optional NER engine: wiring with a fake engine, and spaCy if installed."""

from __future__ import annotations

import importlib.util

import pytest

from tandem.privacy import NerUnavailable, PrivacyGuard, Span
from tandem.privacy.ner import DEFAULT_MODELS, SpacyNer, _pieces


class FakeNer:
    """Tags every occurrence of a few known names."""

    entity_types = frozenset({"PERSON", "LOCATION"})

    def __init__(self) -> None:
        self.calls = 0

    def find(self, text: str) -> list[Span]:
        self.calls += 1
        spans = []
        for name, etype in (("Jane Doe", "PERSON"), ("Berlin", "LOCATION")):
            start = text.find(name)
            while start != -1:
                spans.append(Span(etype, start, start + len(name), 0.85))
                start = text.find(name, start + 1)
        return spans


def test_ner_spans_join_pattern_spans() -> None:
    guard = PrivacyGuard(ner=True, ner_engine=FakeNer())
    text = "Jane Doe (jane@example.com) lives in Berlin."
    got = [(s.entity_type, text[s.start : s.end]) for s in guard.scan(text)]
    assert got == [
        ("PERSON", "Jane Doe"),
        ("EMAIL_ADDRESS", "jane@example.com"),
        ("LOCATION", "Berlin"),
    ]
    red = guard.redact([text, "Call Jane Doe"])
    assert red.texts == ["<PERSON_1> (<EMAIL_ADDRESS_1>) lives in <LOCATION_1>.", "Call <PERSON_1>"]
    assert red.restore(red.texts[0]) == text


def test_ner_off_by_default() -> None:
    fake = FakeNer()
    guard = PrivacyGuard(ner_engine=fake)
    assert "PERSON" not in guard.entities
    assert guard.scan("Jane Doe") == []
    with pytest.raises(ValueError, match="ner=True"):
        PrivacyGuard(["PERSON"])
    assert PrivacyGuard(["PERSON"], ner=True, ner_engine=fake).entities == {"PERSON"}


def test_pattern_entity_wins_overlap_with_ner() -> None:
    class Greedy(FakeNer):
        def find(self, text: str) -> list[Span]:
            return [Span("PERSON", 0, 4)]  # "jane" inside the e-mail address

    guard = PrivacyGuard(ner=True, ner_engine=Greedy())
    assert [s.entity_type for s in guard.scan("jane@example.com")] == ["EMAIL_ADDRESS"]


def test_long_texts_are_split_for_the_model() -> None:
    text = ("word " * 30_000 + "\n") * 2  # 300 000 characters
    pieces = _pieces(text)
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 100_000 for _, p in pieces)
    assert all(text[o : o + len(p)] == p for o, p in pieces)


def test_missing_model_is_reported() -> None:
    with pytest.raises(NerUnavailable):
        SpacyNer(models=["no_such_pipeline_xyz"])


_HAVE_MODEL = importlib.util.find_spec("spacy") is not None and any(
    importlib.util.find_spec(m) is not None for m in DEFAULT_MODELS
)


@pytest.mark.skipif(not _HAVE_MODEL, reason="spaCy or an English pipeline is not installed")
def test_real_spacy_pipeline() -> None:
    guard = PrivacyGuard(ner=True)
    text = "Angela Merkel met Barack Obama in Berlin on Monday; write to press@example.com."
    got = {(s.entity_type, text[s.start : s.end]) for s in guard.scan(text)}
    assert ("PERSON", "Barack Obama") in got
    assert ("LOCATION", "Berlin") in got
    assert ("EMAIL_ADDRESS", "press@example.com") in got
