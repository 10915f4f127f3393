"""IBAN detection at a country code found by the number scan.

The cluster scan in :mod:`tandem.privacy.numbers` calls :func:`find_iban`
for a cluster right after two letters; the letters may be Cyrillic or Greek
look-alikes, which are folded before the country table and mod-97 check.
"""

from __future__ import annotations

import re

from tandem.privacy.checks import IBAN_LENGTHS, iban_ok
from tandem.privacy.spans import IBAN_CODE, Span
from tandem.privacy.textfold import fold_homoglyphs

__all__ = ["find_iban"]

_IBAN_RUN = re.compile(r"[^\W_]+(?: [^\W_]+)*")
_IBAN_SPACES_MAX = 9  # one space between groups of (at least) four


def find_iban(text: str, start: int, out: list[Span]) -> int:
    """An IBAN starting at ``start`` (its country code); returns its end or 0.

    The IBAN may be written in groups separated by single spaces; it must
    end where a group ends.
    """
    if start > 0 and text[start - 1].isalnum():
        return 0
    country = fold_homoglyphs(text[start : start + 2]).upper()
    length = IBAN_LENGTHS.get(country)
    if length is None:
        return 0
    run = _IBAN_RUN.match(text, start + 2, start + 2 + length + _IBAN_SPACES_MAX)
    if run is None:
        return 0
    need = length - 2
    end = run.start()
    for group in run.group().split(" "):
        end += len(group)
        need -= len(group)
        if need <= 0:
            break
        end += 1
    if need != 0:
        return 0  # too short, or the last group runs past the IBAN length
    if end < len(text) and text[end].isalnum():
        return 0
    compact = (country + text[start + 2 : end]).replace(" ", "")
    if not iban_ok(fold_homoglyphs(compact).upper()):
        return 0
    out.append(Span(IBAN_CODE, start, end))
    return end
