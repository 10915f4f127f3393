"""The number scan's layout shortcuts against the paths they replace.

Companion of test_fast_paths.py: the card check on bytes, the phone check
split into what a shape decides (:class:`NationalLayout`) and what the
digits decide, the shape copies of the phone module's patterns, and the
shape tables themselves (each layout in them must be one that the general
path would also decide by the phone check alone).
"""

from __future__ import annotations

import random
import re

import pytest

from tandem.privacy import numbers
from tandem.privacy.checks import card_bytes_ok, card_ok
from tandem.privacy.credentials import lower_same_length
from tandem.privacy.phones import (
    _LAST_SINGLE,
    _LAST_SINGLE_SHAPE,
    _OTHER_NUMBER,
    _OTHER_NUMBER_SHAPE,
    _TWO_GROUPS,
    _TWO_GROUPS_SHAPE,
    PhoneValidator,
    _on_shapes,
)
from tandem.privacy.shapes import (
    CLUSTER,
    CLUSTER_NON_ASCII,
    COMMON_SHAPES,
    INTERNATIONAL_SHAPES,
    NATIONAL_SHAPES,
    PAREN_NATIONAL_SHAPES,
    shape_of,
)

_TABLES = {"+": INTERNATIONAL_SHAPES, "": NATIONAL_SHAPES, "(": PAREN_NATIONAL_SHAPES}


def test_luhn_all_ok_equals_card_bytes_ok() -> None:
    """Luhn for many numbers at once (one big-integer product) agrees with
    card_bytes_ok on each, the issuer rule aside."""
    from tandem.privacy.checks import CARD_HEADS, luhn_all_ok

    rng = random.Random(28)
    numbers = []
    for _ in range(50000):
        n = rng.randint(12, 19)
        digits = "".join(rng.choice("0123456789" if rng.random() < 0.9 else "09") for _ in range(n))
        numbers.append((digits[0] * n if rng.random() < 0.02 else digits).encode())
    passed = luhn_all_ok(numbers)
    assert len(passed) == len(numbers) and luhn_all_ok([]) == []
    for number, ok in zip(numbers, passed, strict=True):
        issuer = number[:2] in CARD_HEADS[len(number)] or number.startswith(b"0604")
        assert (issuer and ok) == card_bytes_ok(number), number
    assert 3000 < sum(passed) < 7000


def test_failed_card_with_an_extension_covers_what_follows() -> None:
    """Cards are checked after the scan; one that fails, followed by an
    extension, still takes the text the extension covers, as it did when
    each card was checked in its turn."""
    from tandem.privacy import PrivacyGuard

    guard = PrivacyGuard()

    def found(text: str) -> list[tuple[str, str]]:
        return [(s.entity_type, text[s.start : s.end]) for s in guard.scan(text)]

    assert found("card 4111 1111 1111 1112 #4111 1111 1111 1111 ok") == []
    assert found("card 4111 1111 1111 1112 and 4111 1111 1111 1111 ok") == [("CREDIT_CARD", "4111 1111 1111 1111")]
    assert found("ids 4111111111111112, 5500000000000004 and 4111111111111111") == [
        ("CREDIT_CARD", "5500000000000004"),
        ("CREDIT_CARD", "4111111111111111"),
    ]


def test_card_bytes_ok_equals_card_ok() -> None:
    rng = random.Random(21)
    heads = ["0604", "0605", "50", "55", "56", "69", "70", "4", "3", "1800", "2131", "5", "6", "1", "2", "0", "9"]
    for _ in range(60000):
        digits = rng.choice(heads) + "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 20)))
        if rng.random() < 0.1:
            digits = digits[0] * len(digits)
        # Make about half pass Luhn, so the issuer rule is what decides them.
        if rng.random() < 0.5 and digits[:-1]:
            digits = next(digits[:-1] + d for d in "0123456789" if card_ok(digits[:-1] + d) or d == "9")
        assert card_bytes_ok(digits.encode()) == card_ok(digits), digits


def _core(rng: random.Random) -> str:
    pieces = ["0", "1", "2", "9", "19", "20", "5", "12", " ", "-", ".", "/", "(", ")", "31"]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))


def test_shape_patterns() -> None:
    """Exact for patterns that only tell digits apart from the rest, a
    superset of the matches for the date pattern, which reads their values."""
    rng = random.Random(22)
    dates = ["2024-05-01", "1999.12.31 12:30", "01/02/24", "1.234.567", "10.1.2.3", "31-12-2024"]
    for core in [_core(rng) for _ in range(30000)] + dates:
        shape = shape_of(core).decode()
        assert (_LAST_SINGLE.search(core) is None) == (_LAST_SINGLE_SHAPE.search(shape) is None), core
        assert (_TWO_GROUPS.fullmatch(core) is None) == (_TWO_GROUPS_SHAPE.fullmatch(shape) is None), core
        if _OTHER_NUMBER.fullmatch(core):
            assert _OTHER_NUMBER_SHAPE.fullmatch(shape), core
    assert all(_OTHER_NUMBER.fullmatch(d) for d in dates)


def _filled(shape: str, rng: random.Random) -> str:
    out = []
    for i, ch in enumerate(shape):
        if ch != "0":
            out.append(ch)
        elif i == 0 or shape[i - 1] != "0":
            out.append(rng.choice("0000123456789"))  # group starts: trunk 0 and "00" often
        else:
            out.append(rng.choice("0123456789"))
    return "".join(out)


_BEFORE = ["", "x ", "call ", "tel: ", "phone (office) ", "fax\n", "number is ", "the "]
_AFTER = ["", " ", ".", " (mobile)", " office", " home", ", ok"]


def test_is_national_equals_is_phone() -> None:
    validator = PhoneValidator()
    rng = random.Random(23)
    shapes = [lead + s.decode() for lead in ("", "(") for s in _TABLES[lead]]
    shapes += [shape_of(_core(rng)).decode() for _ in range(300)]
    checked = 0
    for shape in shapes:
        layout = validator.layout(shape.encode())
        if layout is None:
            assert "+" in shape or set(shape) - set("0 .-/()") or not shape
            continue
        for _ in range(60):
            before, after = rng.choice(_BEFORE), rng.choice(_AFTER)
            text = before + _filled(shape, rng) + after
            start, end = len(before), len(text) - len(after)
            assert validator.is_national(text, start, end, layout) == validator.is_phone(text, start, end), text
            checked += 1
    assert checked > 10000


_DATE_SHAPE = _on_shapes(numbers._DATE)
_IPV4_SHAPE = _on_shapes(numbers._IPV4)
_CARD_SHAPE = _on_shapes(numbers._CARD)
_SSN_SHAPE = _on_shapes(numbers._SSN)
_ISBN_SHAPE = re.compile(numbers._ISBN.pattern.replace("97[89]", "000").replace("[0-9]", "0"))


def _why_not_decidable(shape: str, lead: str) -> str | None:
    """Why the general path (numbers._classify) could decide a cluster of
    ``shape`` (after ``lead``) other than by the phone check on all of it.

    Shape copies of the detectors' patterns match wherever the pattern can
    match a text of that shape; a context of " " is the most permissive.
    """
    digits = shape.count("0")
    if shape.encode() in numbers._DATE_HOUR_SHAPES or set(shape) - set("0 .-/()"):
        return "not a number layout"
    if not 7 <= digits <= 15 or re.search(r"[ .\-/]0\Z", shape):
        return "length, or a last single digit"
    if digits <= 8 and _DATE_SHAPE.fullmatch(shape):
        return "date"
    if _ISBN_SHAPE.search(shape):
        return "ISBN"
    if "." in shape and _IPV4_SHAPE.search(" " + shape, 1):
        return "IPv4"
    if digits >= 12 and _CARD_SHAPE.search(" " + shape, 1):
        return "card"
    if ("000-00-0000" in shape or "000 00 0000" in shape or digits == 9) and _SSN_SHAPE.search(" " + shape, 1):
        return "SSN"
    # The phone pattern reads no digit values but those of a trunk "(0)".
    for value in (re.sub("0", "5", lead + shape), re.sub("0", "5", lead + shape).replace("(5)", "(0)")):
        phone = numbers._PHONE.search(value)
        if phone is None or phone.span() != (0, len(value)):
            return "phone pattern does not span it"
    return None


@pytest.mark.parametrize("lead", sorted(_TABLES))
def test_layout_tables_are_decided_by_the_phone_check(lead: str) -> None:
    failing = {s: why for s in _TABLES[lead] if (why := _why_not_decidable(s.decode(), lead))}
    assert not failing


def test_layout_tables_are_disjoint() -> None:
    """Only a national and an international layout may be the same shape
    (the scan tries both: they need different characters before them)."""
    tables = [set(COMMON_SHAPES), set(NATIONAL_SHAPES | INTERNATIONAL_SHAPES), set(PAREN_NATIONAL_SHAPES)]
    assert sum(map(len, tables)) == len(set().union(*tables))
    assert _why_not_decidable("000 00 0000", "") == "SSN"  # the criteria do reject
    assert _why_not_decidable("0000 0000 0000", "+") == "card"


def test_shape_of_lowered_text_finds_the_same_clusters() -> None:
    """The scan takes the shape of the lower-cased text (a cheaper encode)."""
    rng = random.Random(24)
    pieces = [*"0123456789", " ", ".", "-", "(", ")", ":", "a", "Z", "DE", "GB", "Iban", "\u00e9", "\u0130", "\u4e2d"]
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        pattern = CLUSTER if text.isascii() else CLUSTER_NON_ASCII
        lowered = lower_same_length(text)
        assert len(lowered) == len(text)
        expected = [(m.span(), m.lastindex) for m in pattern.finditer(shape_of(text))]
        assert [(m.span(), m.lastindex) for m in pattern.finditer(shape_of(lowered))] == expected, text


def test_reversed_cue_match_finds_every_cue() -> None:
    """The cue words are matched on the reversed window before a number:
    the same answer as searching the window for _CUE_BEFORE."""
    from tandem.privacy.phones import _CUE_BEFORE, _CUE_BEFORE_REVERSED, _CUE_WORDS

    rng = random.Random(25)
    fillers = [
        " ",
        "a",
        "x",
        ":",
        "-",
        "(",
        ")",
        "\n",
        "5",
        "\u0130",
        "\u00e9",
        "my ",
        "is ",
        "_",
        *_CUE_WORDS,
        "phones",
    ]
    found = 0
    for _ in range(30000):
        parts = [rng.choice(fillers) for _ in range(rng.randint(1, 14))]
        before = "".join(parts)[-48:].lower()
        expected = _CUE_BEFORE.search(before) is not None
        assert (_CUE_BEFORE_REVERSED.match(before[::-1]) is not None) == expected, before
        found += expected
    assert found > 3000


def _reference_iban(text: str, start: int) -> int:
    """find_iban's end as its first version computed it: group by group,
    with the Unicode run pattern only."""
    from tandem.privacy.checks import IBAN_LENGTHS, iban_ok
    from tandem.privacy.iban import _IBAN_RUN, _IBAN_SPACES_MAX
    from tandem.privacy.textfold import fold_homoglyphs

    country = fold_homoglyphs(text[start : start + 2]).upper()
    length = IBAN_LENGTHS.get(country, 0)
    run = _IBAN_RUN.match(text, start + 2, start + 2 + length + _IBAN_SPACES_MAX)
    if not length or run is None or (start > 0 and text[start - 1].isalnum()):
        return 0
    need, end = length - 2, run.start()
    for group in run.group().split(" "):
        end += len(group)
        need -= len(group)
        if need <= 0:
            break
        end += 1
    if need != 0 or (end < len(text) and text[end].isalnum()):
        return 0
    compact = (country + text[start + 2 : end]).replace(" ", "")
    return end if iban_ok(fold_homoglyphs(compact).upper()) else 0


def test_find_iban_equals_the_group_walk() -> None:
    from tandem.privacy.iban import IBAN_WINDOW, find_iban

    rng = random.Random(26)
    valid = ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "NO9386011117947"]
    pieces = [*"0123456789", " ", " ", "A", "x", "\u00e9", "\u0415", "-", "."]
    texts = []
    for _ in range(20000):
        iban = rng.choice(valid)
        step = rng.choice([4, 4, 3, 5, 100])
        value = " ".join(iban[i : i + step] for i in range(0, len(iban), step))
        chars = list(value)
        for _ in range(rng.randint(0, 2)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(pieces))
        if rng.random() < 0.2:
            chars[0] = "\u0415" if chars[0] == "E" else chars[0]
        texts.append(
            rng.choice(["", "IBAN ", "x", "\u00e9 "]) + "".join(chars) + rng.choice(["", " ", "5", "\u00e9", "."])
        )
    found = 0
    for text in texts:
        for start in range(len(text) - 1):
            end = find_iban(text, start, [])
            assert end == _reference_iban(text, start), (text, start)
            if text[start : start + IBAN_WINDOW].isascii():  # the number scan tells: no look-alikes to fold
                assert find_iban(text, start, [], ascii_window=True) == end, (text, start)
            found += end > 0
    assert found > 2000


def test_fold_ascii_copy_is_the_folded_text_encoded() -> None:
    """The scan lower-cases fold's ASCII copy instead of encoding again."""
    from tandem.privacy.textfold import fold

    rng = random.Random(27)
    pieces = [
        "a",
        "B",
        "1",
        " ",
        "?",
        "\u00e9",
        "\u00dc",
        "\u0130",
        "\u4e2d",
        "\u200b",
        "\uff11",
        "\u2013",
        "\U0001f600",
    ]
    copies = 0
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        view = fold(text)
        if view.ascii_copy is not None:
            copies += 1
            assert view.ascii_copy == view.text.encode("ascii", "replace"), text
            assert view.ascii_copy.lower().decode("ascii") == lower_same_length(view.text), text
    assert copies > 500


def test_possessive_cluster_pattern_equals_backtracking() -> None:
    """The cluster patterns' possessive body finds what a backtracking one would."""
    from tandem.privacy.shapes import CLUSTER, CLUSTER_NON_ASCII

    rng = random.Random(27)
    pieces = [*"0000000", " ", " ", ".", "-", "/", "(", ")", ":", "a", "Z", "?", "  ", "   ", "    ", "\n"]
    for pattern in (CLUSTER, CLUSTER_NON_ASCII):
        backtracking = re.compile(pattern.pattern.replace(b"*+", b"*").replace(b"}+", b"}").replace(b"++", b"+"))
        assert backtracking.pattern != pattern.pattern
        for _ in range(20000):
            shape = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))).encode()
            expected = [(m.span(), m.lastindex) for m in backtracking.finditer(shape)]
            assert [(m.span(), m.lastindex) for m in pattern.finditer(shape)] == expected, shape
