"""Fixtures shared by the privacy tests."""

from __future__ import annotations

import pytest

from tandem.privacy import PrivacyGuard


@pytest.fixture(scope="module")
def guard() -> PrivacyGuard:
    """A guard with the default (non-NER) detectors."""
    return PrivacyGuard()
