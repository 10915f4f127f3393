"""IBAN detection at a country code found by the number scan.

The cluster scan in :mod:`tandem.privacy.numbers` calls :func:`find_iban`
for a cluster right after two letters; the letters may be Cyrillic or Greek
look-alikes, which are folded before the country table and mod-97 check.
"""

from __future__ import annotations

import re
from itertools import accumulate

from tandem.privacy.checks import IBAN_LENGTHS, iban_digits_ok, iban_ok
from tandem.privacy.spans import IBAN_CODE, Span, make_span
from tandem.privacy.textfold import fold_homoglyphs

__all__ = ["IBAN_WINDOW", "find_iban"]

_IBAN_RUN = re.compile(r"[^\W_]+(?: [^\W_]+)*")
_IBAN_RUN_ASCII = re.compile(r"[0-9A-Za-z]+(?: [0-9A-Za-z]+)*")  # the same on ASCII, twice as fast
_IBAN_SPACES_MAX = 9  # one space between groups of (at least) four
#: How far from its start an IBAN (and the spaces in it) can reach.
IBAN_WINDOW = 2 + max(IBAN_LENGTHS.values()) + _IBAN_SPACES_MAX


def find_iban(text: str, start: int, out: list[Span], ascii_window: bool = False) -> int:
    """An IBAN starting at ``start`` (its country code); returns its end or 0.

    The IBAN may be written in groups separated by single spaces; it must
    end where a group ends. ``ascii_window`` says the IBAN_WINDOW characters
    of ``text`` from ``start`` are ASCII (no look-alikes to fold, the ASCII
    pattern applies, and the value is checked as ASCII letters and digits).
    """
    if start > 0 and text[start - 1].isalnum():
        return 0
    country = text[start : start + 2].upper() if ascii_window else fold_homoglyphs(text[start : start + 2]).upper()
    length = IBAN_LENGTHS.get(country)
    if length is None:
        return 0
    stop = start + 2 + length + _IBAN_SPACES_MAX
    run = (_IBAN_RUN_ASCII if ascii_window or text[start:stop].isascii() else _IBAN_RUN).match(text, start + 2, stop)
    if run is None:
        return 0
    # The IBAN ends after the group at which the count of its characters
    # reaches length - 2 exactly (not: too short, or a group runs past it).
    need = length - 2
    value = run.group()
    if " " not in value:
        if len(value) != need:
            return 0
        end = run.end()
        rest = value
    else:
        reached = list(accumulate(map(len, value.split(" "))))
        if need not in reached:
            return 0
        end = run.start() + need + reached.index(need)  # a space before each later group
        rest = value[: end - start - 2].replace(" ", "")
    if end < len(text) and text[end].isalnum():
        return 0
    if not (
        iban_digits_ok(country, rest.upper()) if ascii_window else iban_ok(country + fold_homoglyphs(rest).upper())
    ):
        return 0
    out.append(make_span((IBAN_CODE, start, end, 1.0)))
    return end
