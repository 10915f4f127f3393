"""Helpers shared by the privacy tests."""

from __future__ import annotations

from tandem.privacy import PrivacyGuard


def found(guard: PrivacyGuard, text: str) -> list[tuple[str, str]]:
    """What ``guard`` finds in ``text``: (entity type, the value's text) pairs, in order."""
    return [(s.entity_type, text[s.start : s.end]) for s in guard.scan(text)]
