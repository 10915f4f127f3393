# ruff: noqa: RUF001, RUF003  (look-alike characters are the point here)
"""Disguised values, huge inputs and inputs built to make regexes backtrack."""

from __future__ import annotations

import time

import pytest

from tandem.privacy import PrivacyGuard
from tests.privacy.helpers import found

ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


def interleave(value: str, sep: str) -> str:
    return sep.join(value)


@pytest.mark.parametrize("zw", ZW)
@pytest.mark.parametrize(
    ("etype", "value"),
    [
        ("EMAIL_ADDRESS", "john.doe@example.com"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("US_SSN", "536-22-1234"),
        ("IBAN_CODE", "DE89370400440532013000"),
        ("IP_ADDRESS", "192.168.10.20"),
        ("PHONE_NUMBER", "+1 (415) 555-0132"),
        ("SECRET", "AKIAIOSFODNN7EXAMPLE"),
        ("URL", "https://example.com/x"),
    ],
)
def test_zero_width_split_values(guard: PrivacyGuard, zw: str, etype: str, value: str) -> None:
    disguised = interleave(value, zw)
    text = f"here: {disguised} ok"
    spans = guard.scan(text)
    assert [s.entity_type for s in spans] == [etype]
    # Offsets are in the original text and cover the whole disguised value.
    assert text[spans[0].start : spans[0].end] == disguised


def test_zero_width_at_edges_and_everywhere(guard: PrivacyGuard) -> None:
    text = "\u200b\u200bmail\u200b j\u200bo@exa\u200d\u200dmple.com\u200b!"
    assert found(guard, text) == [("EMAIL_ADDRESS", "j\u200bo@exa\u200d\u200dmple.com")]


@pytest.mark.parametrize(
    ("etype", "value"),
    [
        ("CREDIT_CARD", "４１１１ １１１１ １１１１ １１１１"),  # fullwidth digits
        ("EMAIL_ADDRESS", "ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ"),  # fullwidth letters, @ and .
        ("EMAIL_ADDRESS", "john﹫example﹒com"),  # small commercial at and full stop
        ("US_SSN", "５３６－２２－１２３４"),
        ("PHONE_NUMBER", "+1 (415) 555\u2013 0132".replace("\u2013 ", "\u2013")),  # en dash
        ("PHONE_NUMBER", "+44\u00a020\u00a07946\u00a00958"),  # no-break spaces
        ("IP_ADDRESS", "١٩٢.١٦٨.١.١"),  # Arabic-Indic digits
        ("CREDIT_CARD", "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏"),  # mathematical bold digits (astral)
        ("SECRET", "ＡＫＩＡＩＯＳＦＯＤＮＮ７ＥＸＡＭＰＬＥ"),
    ],
)
def test_lookalike_characters(guard: PrivacyGuard, etype: str, value: str) -> None:
    text = f"value {value} end"
    assert found(guard, text) == [(etype, value)]


@pytest.mark.parametrize(
    ("etype", "value"),
    [
        ("EMAIL_ADDRESS", "jоhn@gmаil.com"),  # Cyrillic о and а
        ("IBAN_CODE", "GВ82 WЕST 1234 5698 7654 32"),  # Cyrillic В and Е
        ("URL", "httрs://ехаmple.com/login"),  # Cyrillic р, е, х, а
        ("EMAIL_ADDRESS", "αlpha@example.com"),  # Greek alpha
    ],
)
def test_cyrillic_and_greek_homoglyphs(guard: PrivacyGuard, etype: str, value: str) -> None:
    assert found(guard, f"see {value} now") == [(etype, value)]


def test_disguised_copies_share_a_placeholder(guard: PrivacyGuard) -> None:
    red = guard.redact(["john@example.com", "jo\u200bhn@example.com", "ｊｏｈｎ@example.com"])
    assert red.texts == ["<EMAIL_ADDRESS_1>"] * 3


def test_offsets_with_astral_and_combining_characters(guard: PrivacyGuard) -> None:
    text = "😀👍🏽 e\u0301 mail: a@example.com 🎉"
    assert found(guard, text) == [("EMAIL_ADDRESS", "a@example.com")]


def test_hundreds_of_entities_in_one_message(guard: PrivacyGuard) -> None:
    lines = []
    for i in range(300):
        lines.append(f"user{i}@example.com +1 (415) 555-{i:04d} 10.0.{i % 256}.{i % 200 + 1}")
    text = "\n".join(lines)
    red = guard.redact([text])
    assert red.counts == {"EMAIL_ADDRESS": 300, "PHONE_NUMBER": 300, "IP_ADDRESS": 300}
    assert "<EMAIL_ADDRESS_300>" in red.texts[0] and "@" not in red.texts[0]
    assert red.restore(red.texts[0]) == text


def _timed(guard: PrivacyGuard, text: str) -> float:
    t0 = time.perf_counter()
    guard.scan(text)
    return time.perf_counter() - t0


@pytest.mark.parametrize(
    "text",
    [
        "lorem ipsum dolor sit amet " * 150_000,  # 4 MB of prose
        "1" * 1_000_000,  # one long digit run
        "1 " * 500_000,  # one huge numeric cluster
        "1-" * 500_000 + "1",
        "@" * 1_000_000,
        "a" * 500_000 + "@" + "b." * 250_000,
        "a@" * 500_000,
        ":" * 1_000_000,
        "1:" * 500_000,
        "a:" * 500_000,
        "http://" * 150_000,
        "www." * 250_000,
        "(" * 500_000 + "1" + ")" * 500_000,
        "password=" * 100_000,
        "sk-" * 300_000,
        "ghp_" * 250_000,
        "-----BEGIN PRIVATE KEY-----\n" * 40_000,
        "GB82 " * 200_000,
        "\u200b" * 1_000_000 + "a@example.com",
        "ｊ" * 1_000_000,
        "+" * 1_000_000,
        "x" * 500_000 + "." + "y" * 500_000,
    ],
    ids=lambda t: repr(t[:12]),
)
def test_huge_and_pathological_inputs_stay_fast(guard: PrivacyGuard, text: str) -> None:
    # Generous bound for a loaded 2-core CI machine; catastrophic
    # backtracking would take minutes or hours.
    assert _timed(guard, text) < 120.0  # a guard against catastrophic backtracking, not a speed test


def test_multi_megabyte_text_with_entities(guard: PrivacyGuard) -> None:
    unit = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20
    text = (unit + "Contact: a.b@example.com, 4111 1111 1111 1111.\n") * 2000  # ~2.4 MB
    t0 = time.perf_counter()
    counts = guard.contains_pii([text])
    assert time.perf_counter() - t0 < 120.0  # a guard against catastrophic backtracking, not a speed test
    assert counts == {"EMAIL_ADDRESS": 2000, "CREDIT_CARD": 2000}
