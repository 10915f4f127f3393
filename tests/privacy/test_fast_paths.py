"""The scan's fast paths for numbers must not drop values that reach them.

Each shortcut (shape lookup, international phones checked before the date
test, the literal-"0" cluster pattern on a bytes shape copy,
phone patterns grouped by leading digit, folding and anchor search that
visit only the non-ASCII characters, the no-overlap shortcut) is checked
against the slow answer it replaces, on valid values and on near-misses.
Secrets and web values: ``test_fast_paths_secrets_web.py``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import phonenumbers
import pytest
from phonenumbers import PhoneMetadata

from tandem.privacy import PrivacyGuard, Span
from tandem.privacy.leading import PatternGroups, match_starts, match_widths, strips_one
from tandem.privacy.phones import (
    DEFAULT_PHONE_REGIONS,
    PhoneValidator,
    _number_patterns,
    international_possible,
)
from tandem.privacy.shapes import CLUSTER, CLUSTER_NON_ASCII, COMMON_SHAPES, shape_of
from tests.privacy.helpers import found


def _union(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 ok", [("CREDIT_CARD", "4111 1111 1111 1111")]),
        ("card 4111-1111-1111-1111 ok", [("CREDIT_CARD", "4111-1111-1111-1111")]),
        ("amex 3782 822463 10005.", [("CREDIT_CARD", "3782 822463 10005")]),
        ("card 4111111111111111", [("CREDIT_CARD", "4111111111111111")]),
        ("ssn 078-05-1120 on file", [("US_SSN", "078-05-1120")]),
        ("ssn 078 05 1120 on file", [("US_SSN", "078 05 1120")]),
        ("from 10.0.0.1 and 255.255.255.255", [("IP_ADDRESS", "10.0.0.1"), ("IP_ADDRESS", "255.255.255.255")]),
        # A usual shape whose check fails goes on to the general detectors.
        ("from 256.1.1.1 today", []),
        ("card 4111 1111 1111 1112 or +44 20 7946 0958", [("PHONE_NUMBER", "+44 20 7946 0958")]),
        # Glued to a word: not the fast path, and not an entity.
        ("id A4111 1111 1111 1111", []),
    ],
)
def test_common_shapes(guard: PrivacyGuard, text: str, expected: list[tuple[str, str]]) -> None:
    assert found(guard, text) == expected


def test_failed_shape_check_is_not_that_entity(guard: PrivacyGuard) -> None:
    assert "US_SSN" not in {t for t, _ in found(guard, "ssn 666-05-1120 is invalid")}
    assert "CREDIT_CARD" not in {t for t, _ in found(guard, "card 4111 1111 1111 1112")}


def test_common_shape_table_covers_the_layouts() -> None:
    assert COMMON_SHAPES[shape_of("4111 1111 1111 1111")] == COMMON_SHAPES[shape_of("4111111111111")]
    assert shape_of("078-05-1120") in COMMON_SHAPES
    assert all(shape.count(b".") == 3 for shape, kind in COMMON_SHAPES.items() if b"." in shape)


@pytest.mark.parametrize(
    "phone",
    ["+1 (415) 555-2671", "+41 (0)69 979 80 58", "(+44) 20 7946 0958", "+49 30 1234567", "+1-212-555-0198"],
)
def test_international_phones(guard: PrivacyGuard, phone: str) -> None:
    assert found(guard, f"call me at {phone}, thanks") == [("PHONE_NUMBER", phone)]


def test_international_possible_matches_its_rules() -> None:
    assert international_possible("+1 415 555 2671")
    assert international_possible("+41 (0)69 979 80 58")
    assert not international_possible("+1 415 555 26")  # too short for +1
    assert not international_possible("+0 415 555 2671")  # no calling code 0
    assert not international_possible("+999 123 456 789")  # unassigned code


@pytest.mark.parametrize(
    "text",
    [
        "IBAN DE89 3704 0044 0532 0130 00, thanks",
        "IBAN DE89370400440532013000.",
        "iban: GB82 WEST 1234 5698 7654 32",
        "IBAN D\u041589 3704 0044 0532 0130 00 (Cyrillic E)",
    ],
)
def test_iban_after_letters(guard: PrivacyGuard, text: str) -> None:
    assert [t for t, _ in found(guard, text)] == ["IBAN_CODE"]


def test_digits_inside_an_email_are_not_numbers(guard: PrivacyGuard) -> None:
    text = "write to anna.meyer12@example.com or jo1234567@example.org"
    assert [t for t, _ in found(guard, text)] == ["EMAIL_ADDRESS", "EMAIL_ADDRESS"]


def test_ascii_and_non_ascii_paths_agree(guard: PrivacyGuard) -> None:
    # The same values, once in an ASCII text (matched on the digit shapes)
    # and once after a non-ASCII word (matched on the text itself).
    values = (
        "4111 1111 1111 1111, 078-05-1120, 10.1.2.3, +1 (415) 555-2671, "
        "DE89 3704 0044 0532 0130 00, 2024-05-01, 978-3-16-148410-0, tel 030 12345678"
    )
    ascii_spans = found(guard, "Values: " + values)
    other_spans = found(guard, "Grüße: " + values)
    assert ascii_spans == other_spans
    assert len(ascii_spans) == 6


@pytest.mark.parametrize(
    ("pattern", "k", "expected"),
    [
        (r"(?:[2-9]\d|1[0-9])\d{7}|5\d{3}", 1, set("123456789")),
        (r"0?(?:(11|2)15)?", 1, {"", "0", "1", "2"}),
        (r"[08]", 1, {"0", "8"}),
        (r"1(?:2\d|3)", 2, {"12", "13"}),
        (r"7\d{0,2}", 2, {"7"} | {f"7{d}" for d in "0123456789"}),
    ],
)
def test_match_starts(pattern: str, k: int, expected: set[str]) -> None:
    assert match_starts(pattern, k) == frozenset(expected)


def test_match_starts_gives_up_on_what_it_does_not_model() -> None:
    assert match_starts(r"(?=9)\d{3}", 1) is None
    assert match_starts(r"[^5]\d", 1) is None


def test_grouped_phone_patterns_agree_with_the_full_union() -> None:
    """Validation by first-digit group equals trying every region's patterns."""
    validator = PhoneValidator()
    everything: list[str] = []
    rules: list[tuple[re.Pattern[str], str | None, re.Pattern[str]]] = []
    for region in DEFAULT_PHONE_REGIONS:
        meta = PhoneMetadata.metadata_for_region(region)
        assert meta is not None
        patterns = _number_patterns(meta)
        everything += patterns
        if meta.national_prefix_for_parsing:
            rule = re.compile(meta.national_prefix_for_parsing)
            rules.append((rule, meta.national_prefix_transform_rule, _union(patterns)))
    full = _union(everything)

    def reference(digits: str) -> bool:
        if full.fullmatch(digits):
            return True
        for prefix, transform, valid in rules:
            m = prefix.match(digits)
            if m is None or m.end() == 0:
                continue
            rest = m.expand(transform) + digits[m.end() :] if transform and m.lastindex else digits[m.end() :]
            if rest and valid.fullmatch(rest):
                return True
        return False

    rng = random.Random(11)
    samples = [
        str(number.national_number) if number is not None else "0"
        for region in DEFAULT_PHONE_REGIONS
        for number in (phonenumbers.example_number(region), phonenumbers.example_number_for_type(region, 1))
    ]
    samples += ["0" + s for s in samples]
    samples += ["".join(rng.choice("0123456789") for _ in range(rng.randint(7, 15))) for _ in range(3000)]
    # Valid numbers one digit shorter or longer: the length grouping must
    # not confuse neighbouring lengths.
    samples += [s[:-1] for s in samples[:400]] + [s + str(rng.randint(0, 9)) for s in samples[:400]]
    samples += ["".join(rng.choice("0123456789") for _ in range(rng.randint(1, 18))) for _ in range(3000)]
    # Trunk prefixes: numbers led by 0, 1 or 8 (merged one-digit rules), 06, 08, 09.
    samples += [lead + "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 13)))
                for lead in ("0", "1", "8", "06", "08", "09", "0180020", "1832") for _ in range(1500)]  # fmt: skip
    for digits in samples:
        assert validator._valid_national(digits) == reference(digits), digits


def _reference_clusters(text: str) -> list[tuple[int, int, bool]]:
    """The cluster regex as it ran on the text itself before the shape copy."""
    d = "[0-9]"
    pattern = re.compile(
        rf"{d}(?<!{d}{d})(?<!{d}:{d})"
        rf"(?:(?<=[^\W\d_][^\W\d_]{d})(?=(?: ?[^\W_]){{5}})()|(?=[0-9 .\-/()]{{6}}))"
        rf"{d}*(?:[ .\-/()]{{1,3}}{d}+)*"
    )
    return [(m.start(), m.end(), m.lastindex is not None) for m in pattern.finditer(text)]


def _shape_clusters(text: str) -> list[tuple[int, int, bool]]:
    """What NumberDetector.find makes of the shape matches (same rechecks,
    the text only consulted when a "?" of the shape is near)."""
    from tandem.privacy.numbers import _IBAN_LOOKAHEAD
    from tandem.privacy.shapes import CLUSTER_RUN, IBAN_START

    ascii_text = text.isascii()
    out = []
    shape = shape_of(text)
    for m in (CLUSTER if ascii_text else CLUSTER_NON_ASCII).finditer(shape):
        iban = m.lastindex is not None
        near = shape[m.start() - 2 : m.start() + _IBAN_LOOKAHEAD]
        if iban and not ascii_text and b"?" in near and not IBAN_START.match(text, m.start()):
            iban = False
            if not CLUSTER_RUN.match(text, m.start()):
                continue
        out.append((m.start(), m.end(), iban))
    return out


def test_shape_clusters_equal_text_clusters() -> None:
    """Non-ASCII characters become "?" in the shape copy; clusters and their
    IBAN flag must still be exactly those found on the text."""
    rng = random.Random(5)
    pieces = [
        *"0123456789", " ", ".", "-", "/", "(", ")", ":", "a", "Z", "_", "?",
        "\u0414", "\u0415", "\u00e9", "\u20ac", "\u4e2d", "\u00b2", "\U0001f600", "DE", "\u0414\u0415",
    ]  # fmt: skip
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        assert _shape_clusters(text) == _reference_clusters(text), text


@pytest.mark.parametrize(
    "text",
    [
        "Grüße: IBAN D\u041589 3704 0044 0532 0130 00",  # Cyrillic E: a letter, an IBAN
        "Preis €€12345 netto",  # "?" that is no letter: not even a cluster (short)
        "Preis €€1234567 netto",
        "Tel \u00e9\u00e91 234 567 890",
    ],
)
def test_non_ascii_cluster_examples(text: str) -> None:
    assert _shape_clusters(text) == _reference_clusters(text)


def test_no_overlap_shortcut_equals_grouping() -> None:
    from tandem.privacy.spans import Span, _resolve_group, resolve_overlaps

    def reference(spans: list[Span]) -> list[Span]:
        ordered = sorted(spans, key=lambda s: (s.start, -s.end))
        result: list[Span] = []
        i = 0
        while i < len(ordered):
            group, end = [ordered[i]], ordered[i].end
            i += 1
            while i < len(ordered) and ordered[i].start < end:
                group.append(ordered[i])
                end = max(end, ordered[i].end)
                i += 1
            result.extend(group if len(group) == 1 else _resolve_group(group))
        return sorted(result, key=lambda s: s.start)

    rng = random.Random(8)
    types = ["URL", "PHONE_NUMBER", "SECRET", "EMAIL_ADDRESS", "PERSON"]
    for _ in range(20000):
        spans = []
        for _ in range(rng.randint(0, 8)):
            start = rng.randint(0, 40)
            spans.append(Span(rng.choice(types), start, start + rng.randint(0, 8)))
        assert resolve_overlaps(spans) == reference(spans), spans


def test_sparse_fold_equals_regex_fold() -> None:
    from tandem.privacy.textfold import _fold_match, _suspect_re, fold

    rng = random.Random(9)
    odd = [
        "?", "\u200b", "\u00ad", "\uff11", "\uff20", "\u2013", "\u00a0", "\u00e9", "\u0414", "\u4e2d",
        "\U0001f600", "\U000e0041", "\u0663", "\ufe0f", "\u3000", "\U0001d7ce", "\uff1f", "\u2024",
    ]  # fmt: skip
    for _ in range(5000):
        text = "".join(rng.choice(odd) if rng.random() < 0.02 else rng.choice("ab 01.-@") for _ in range(200))
        assert fold(text).text == _suspect_re().sub(_fold_match, text), text


def test_anchors_found_in_lowered_text(guard: PrivacyGuard) -> None:
    tail = " jo@example.com, https://example.com/a, www.example.org and fe80::1"
    expected = ["EMAIL_ADDRESS", "URL", "URL", "IP_ADDRESS"]
    assert [t for t, _ in found(guard, "Grüße \u4e2d\u6587" + tail)] == expected
    assert [t for t, _ in found(guard, "Hello" + tail)] == expected


@pytest.mark.parametrize(
    ("pattern", "widths"),
    [(r"[2-9]\d{6}", (7, 7)), (r"1\d{2}(?:\d{3})?", (3, 6)), (r"8(?:00|6[5-9])\d{4,7}", (7, 10)), (r"", (0, 0))],
)
def test_match_widths(pattern: str, widths: tuple[int, int]) -> None:
    assert match_widths(pattern) == widths


def test_pattern_groups_compile_on_first_use() -> None:
    groups = PatternGroups([r"[2-9]\d{6}", r"1\d{9}", r"(?=5)\d{7}"])
    assert not groups._compiled
    assert groups.fullmatch("2345678") and groups.fullmatch("1234567890") and groups.fullmatch("5000000")
    assert not groups.fullmatch("234567") and not groups.fullmatch("0234567") and not groups.fullmatch("123456789")
    assert set(groups._compiled) == {("2", 7), ("1", 10), ("5", 7), ("2", 6), ("0", 7), ("1", 9)}


def test_extension_precheck_equals_the_pattern() -> None:
    from tandem.privacy.numbers import _EXTENSION, _extension_end

    rng = random.Random(16)
    pieces = ["x", "e", "xt", "ext", ".", "#", " ", "\t", "\u2028", "1", "12", "a", "X"]
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        match = _EXTENSION.match(text, 0)
        assert _extension_end(text, 0) == (match.end() if match else 0), text


@pytest.mark.parametrize(
    ("pattern", "digit", "expected"),
    [
        ("0", "0", True), ("(183[12])|0", "0", True), ("0|180020", "0", True), ("[08]", "0", True),
        ("(183[12])|0", "1", False), ("06", "0", False), ("0?", "0", False), ("(0)", "0", False),
        (r"0(8(?:[1-46-8]|5\d\d))?", "0", False), (r"[0-9]\d", "0", False), ("1", "1", True), ("(?=0)0", "0", False),
    ],
)  # fmt: skip
def test_strips_one(pattern: str, digit: str, expected: bool) -> None:
    assert strips_one(pattern, digit) is expected
    if expected:  # the claim itself, on a few inputs
        rng = random.Random(1)
        for _ in range(200):
            s = digit + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 12)))
            m = re.match(pattern, s)
            assert m is not None and m.end() == 1 and m.lastindex is None


def test_make_span_is_a_span(guard: PrivacyGuard) -> None:
    from tandem.privacy.spans import Span, make_span

    span = make_span(("URL", 3, 9, 1.0))
    assert type(span) is Span and span == Span("URL", 3, 9) and span.score == 1.0
    text = "mail jo@example.com, card 4111 1111 1111 1111, https://example.com, +44 20 7946 0958"
    assert all(type(s) is Span and len(s) == 4 for s in guard.scan(text))


def test_iban_check_digits_without_translate() -> None:
    """The fast paths of iban_ok (all digits after the country code, or
    letters only at the start: a bank code) give the ISO 13616 answer."""
    import string

    from tandem.privacy.checks import IBAN_LENGTHS, iban_ok

    letters = {ord(ch): str(i) for i, ch in enumerate(string.ascii_uppercase, 10)}
    rng = random.Random(18)
    for _ in range(20000):
        country = rng.choice(sorted(IBAN_LENGTHS))
        alphabet = string.digits if rng.random() < 0.6 else string.digits + string.ascii_uppercase
        body = "".join(rng.choice(alphabet) for _ in range(IBAN_LENGTHS[country] - 4))
        if rng.random() < 0.2:  # a bank code in letters, as in GB, NL, IE
            bank = rng.randint(0, 8)
            body = "".join(rng.choice(string.ascii_uppercase) for _ in range(bank)) + body[bank:]
        check = f"{98 - int((body + country + '00').translate(letters)) % 97:02d}"
        iban = country + (check if rng.random() < 0.5 else f"{rng.randint(0, 99):02d}") + body
        expected = int((iban[4:] + iban[:4]).translate(letters)) % 97 == 1
        assert iban_ok(iban) == expected, iban


def _filled(shape: bytes, rng: random.Random, prefix: str = "") -> str:
    """``shape`` with a random digit for each "0" (zeros made likelier)."""
    return prefix + "".join(rng.choice("0000123456789") if ch == "0" else ch for ch in shape.decode())


def _timestamp(rng: random.Random) -> str:
    year = rng.choice(["19", "20", "21", "18", "99"]) + f"{rng.randint(0, 99):02d}"
    sep = rng.choice("-./")
    return f"{year}{sep}{rng.randint(0, 19):02d}{sep}{rng.randint(0, 39):02d} {rng.randint(0, 99):02d}"


_BEFORE = ["", " ", "call ", "tel: ", "ssn ", "(", "+", "x", "5", "_", "/", "@", "\u00e9 ", "00"]
_AFTER = ["", " ", ".", " x12", "x0135", " ext. 5", "#3", "5", " (office)", ":30", ":30:00", ", 2024", "\u4e2d"]


@pytest.mark.parametrize(
    ("table", "values"),
    [
        ("INTERNATIONAL_SHAPES", lambda shape, rng: _filled(shape, rng, "+")),
        ("NATIONAL_SHAPES", _filled),
        ("PAREN_NATIONAL_SHAPES", lambda shape, rng: _filled(shape, rng, "(")),
        ("_DATE_HOUR_SHAPES", lambda shape, rng: _timestamp(rng)),
    ],
)
def test_shortcuts_agree_with_the_general_path(
    monkeypatch: pytest.MonkeyPatch, table: str, values: Callable[[bytes, random.Random], str]
) -> None:
    """Each layout decided without the general path (dates, ISBNs, cards,
    SSNs, then the phone search with its cuts) gives what that path gives,
    on random digits in every context around it."""
    from tandem.privacy import numbers

    rng = random.Random(14)
    texts = [
        rng.choice(_BEFORE) + values(shape, rng) + rng.choice(_AFTER)
        for shape in sorted(getattr(numbers, table))
        for _ in range(max(60, 900 // len(getattr(numbers, table))))
    ]
    fast = PrivacyGuard()
    fast_spans = [fast.scan(t) for t in texts]
    monkeypatch.setattr(numbers, table, frozenset())
    slow = PrivacyGuard()
    assert [slow.scan(t) for t in texts] == fast_spans
    if table != "_DATE_HOUR_SHAPES":
        assert sum(len(s) for s in fast_spans) > len(texts) // 4  # mostly phones found
