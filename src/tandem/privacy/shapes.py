"""Shape copies of texts, and the layouts the number scan decides by shape.

The cluster scan of :mod:`tandem.privacy.numbers` runs on a copy of the
text in bytes with every digit written as ``0`` and every non-ASCII
character as ``?``: one encode and one ``bytes.translate``, one byte per
character, so offsets agree. The cluster pattern then starts with a
literal, which the regex engine finds several times faster than a
character class, and a matched shape such as ``0000 0000 0000 0000``
classifies the usual layouts with one dict lookup. The copy costs about
2 µs/KB for any text, where ``str.translate`` costs 70 µs/KB on a
non-ASCII one.
"""

from __future__ import annotations

import re

__all__ = [
    "CARD_KIND",
    "CLUSTER",
    "CLUSTER_NON_ASCII",
    "CLUSTER_RUN",
    "COMMON_SHAPES",
    "IBAN_START",
    "INTERNATIONAL_SHAPES",
    "IPV4_KIND",
    "NATIONAL_SHAPES",
    "PAREN_NATIONAL_SHAPES",
    "SSN_KIND",
    "shape_of",
    "shape_of_ascii",
]

_ZEROS = bytes.maketrans(b"123456789", b"000000000")


def shape_of(text: str) -> bytes:
    """``text`` with digits as ``0`` and non-ASCII characters as ``?``."""
    return text.encode("ascii", "replace").translate(_ZEROS)


def shape_of_ascii(raw: bytes) -> bytes:
    """:func:`shape_of` a text given as ``text.encode("ascii", "replace")``."""
    return raw.translate(_ZEROS)


def _cluster_pattern(letter: str) -> re.Pattern[bytes]:
    """The cluster regex on shapes; ``letter`` is a class matching a letter.

    A cluster starts at a digit not preceded by a digit or by "digit:" (the
    seconds of "05:52:54" are not the start of a number; both checked after
    the first digit so the engine can skip to digits quickly) and is either
    at least 7 characters long, or, after two letters, possibly an IBAN's
    check digits: five more letters or digits (single spaces allowed)
    follow, as in every IBAN (group 1 then matches, empty). Shorter
    numbers ("2024", "3.5", "anna12@") are not even matched.
    """
    alnum = f"[0{letter[1:-1]}]"
    # The body is possessive (``*+``, ``{1,3}+``): nothing after it can
    # fail, so giving characters back never helps, and the engine skips
    # the bookkeeping for it (about 12% of the scan on digit-heavy text).
    return re.compile(
        rf"0(?<!00)(?<!0:0)"
        rf"(?:(?<={letter}{letter}0)(?=(?: ?{alnum}){{5}})()|(?=[0 .\-/()]{{6}}))"
        rf"0*+(?:[ .\-/()]{{1,3}}+0++)*+".encode()
    )


CLUSTER = _cluster_pattern("[A-Za-z]")
# On a non-ASCII text "?" may stand for a letter (Cyrillic look-alikes in an
# IBAN's country code): this pattern accepts it as one, and the IBAN branch
# is then confirmed on the text itself with IBAN_START. Elsewhere both
# patterns accept the same starts and match the same extent (digits and
# ASCII separators only).
CLUSTER_NON_ASCII = _cluster_pattern("[A-Za-z?]")
IBAN_START = re.compile(r"(?<=[^\W\d_][^\W\d_])[0-9](?=(?: ?[^\W_]){5})")
CLUSTER_RUN = re.compile(r"[0-9](?=[0-9 .\-/()]{6})")

# Shapes (digits as "0") of the usual layouts, each decided by one check:
# grouped or plain cards, SSNs with dashes or spaces, dotted quads.
CARD_KIND, SSN_KIND, IPV4_KIND = 1, 2, 3
COMMON_SHAPES: dict[bytes, int] = {
    **{
        sep.join(b"0" * n for n in groups): CARD_KIND
        for sep in (b" ", b"-")
        for groups in ((4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 3), (4, 4, 4))
    },
    **{b"0" * n: CARD_KIND for n in range(12, 20)},
    b"000-00-0000": SSN_KIND,
    b"000 00 0000": SSN_KIND,
    **{b".".join(b"0" * n for n in (a, b, c, d)): IPV4_KIND
       for a in (1, 2, 3) for b in (1, 2, 3) for c in (1, 2, 3) for d in (1, 2, 3)},
}  # fmt: skip
# The phone layouts below are decided by the phone check alone: for every
# one, whatever its digits, no date, ISBN, IPv4, card or SSN can be found in
# it, and the phone pattern spans it whole (tests/privacy check each shape).
# Beyond the usual grids, they hold the layouts in which ``phonenumbers``
# writes the example numbers of the default regions.
#
# International numbers after a "+": the calling code and length decide
# (see numbers.py).
INTERNATIONAL_SHAPES: frozenset[bytes] = frozenset(
    {
        b"00 00000", b"0 000-0000", b"00 0000000", b"00 00 000 00", b"00 00 000000", b"00 0000-0000", b"000 00 00000",
        b"00 0 00 00 00", b"00 0 000 0000", b"00 0 00000000", b"00 0-000-0000", b"00 00 000 000", b"00 00 0000000",
        b"00 000 0 0000", b"00 000 00 000", b"000 0 000 000", b"000 00 00 000", b"000 00 000000", b"000 000 00000",
        b"00 0 0000 0000", b"00 0 000000000", b"00 0-0000-0000", b"00 00 00 00 00", b"00 00-000-0000",
        b"00 000 000 000", b"00 000-000-000", b"00 00000 00000", b"000 0 0000 000", b"000 0-000-0000",
        b"000 00 00 0000", b"000 00 000 000", b"000 00 0000000", b"000 000 00 000", b"000 000 000000",
        b"000 0000 00000", b"00 00 000 00 00", b"00 00 0000-0000", b"00 00-0000-0000", b"00 000 0 000000",
        b"00 000 00 00 00", b"00 000-000-0000", b"00 0000 0000000", b"00 00000 000000", b"000 0 000 00 00",
        b"000 00 00 00 00", b"000 00 000 0000", b"000 00-000-0000", b"000 000 000 000", b"000 0000-000000",
        b"00 0 00 00 00 00", b"00 00 00000-0000", b"00 000 00 00 000", b"00 000 000 00 00", b"00 000 0000 0000",
        b"000 0 000 000 00", b"00 0 00 0000-0000", b"00 000 00 0000000", b"00 000 0000000000", b"000 0-000-000-000",
        b"000 00 0 000 0000", b"000 00 000 000 000", b"000 000 00 000 000", b"000 000-0 000-0000",
        b"00 000 00 000 00 00",
        b"0 (000) 000-0000", b"0 000 000 0000", b"0-000-000-0000", b"0 000-000-0000", b"0 (000) 000 0000",
        b"00 00 0000 0000", b"00 0000 000000", b"00 000 0000000", b"00 00 000 0000", b"00 000 000 0000",
        b"00 0000 00000", b"00 000 000000", b"00 000 00000", b"00 00 00000000", b"00 0 00 000 000",
        b"00 (0)0 000 000 00", b"00 (0)00 000 00 00", b"00 (0)000 000 00", b"00 (0)00 000 0000", b"00 (0)0 0000 0000",
    }
)  # fmt: skip
# National layouts: 8-11 digits in at most four groups joined by spaces or
# dashes, and more (the phone check sends a "00" start the long way).
NATIONAL_SHAPES: frozenset[bytes] = frozenset(
    sep.join(b"0" * n for n in groups)
    for sep in (b" ", b"-")
    for groups in (
        (3, 3, 4), (3, 3, 3), (3, 2, 3), (3, 3, 2, 2), (4, 2, 2, 2), (4, 3, 2, 2), (2, 2, 2, 2), (2, 3, 3),
        (2, 6), (3, 4, 4), (4, 3, 4), (3, 7), (4, 7), (2, 4, 4), (2, 3, 4), (3, 4), (4, 4), (3, 3, 2), (2, 8),
    )
) | {
    b"0" * 10, b"0" * 11,
    b"00000000", b"000 0 000", b"00000 000", b"00 00 0000", b"000 000000", b"0000 00000", b"00 0000 000",
    b"00-00 00 00", b"0000 0 0000", b"0000 00 000", b"0000 000000", b"0000-000000", b"00000 00000",
    b"0 000 00 000", b"00 000 00 00", b"00 000000000", b"000 00 00 00", b"000-00 00 00", b"000.000.0000",
    b"0000 00 0000", b"0000 000 000", b"0000-000-000", b"00000 000000", b"000000 00000", b"0-000-000-000",
    b"00 00 000 000", b"00 000 000 00", b"000 0000-0000", b"000-000 00 00", b"0000 0 000000", b"0000 0000 000",
    b"00000 000 000", b"00000 0000000", b"000000 000000", b"0 000 00 00 00", b"00 00 00 00 00", b"00 000 000 000",
    b"00.00.00.00.00", b"000 0 000 0000", b"000 00 000 000", b"000-0 000-0000", b"0000-00 00 000",
    b"0000 00 0000000", b"0000 0000000000", b"000 00-0000-0000", b"0000-00 000 00 00",
} | {
    # Every two-group layout of 7-12 digits, groups of at most six: such a
    # cluster is a phone as a whole or holds none (see numbers.py).
    sep.join((b"0" * a, b"0" * b)) for sep in (b" ", b"-") for a in range(1, 7) for b in range(2, 7) if a + b >= 7
}  # fmt: skip
# National numbers with the area code in parentheses, "(602)272-9781": the
# cluster starts after the "(".
PAREN_NATIONAL_SHAPES: frozenset[bytes] = frozenset(
    {
        b"000)000-0000", b"000) 000-0000", b"000) 000 0000", b"000)000 0000", b"00) 000-000", b"0000) 000000",
        b"000) 00000", b"00) 000 00 00", b"00) 0000 0000", b"00) 0000-0000", b"0000) 000 000", b"00) 00000-0000",
        b"0000) 000 00 00",
    }
)  # fmt: skip
