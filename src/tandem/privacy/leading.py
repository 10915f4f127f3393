"""Which digits a regular expression's match can start with.

The phone validator holds the number patterns of dozens of regions; trying
all of them on every candidate costs up to 35 µs. Grouping them by the
first two digits a match can start with lets a candidate try only its own
group, typically a tenth of the patterns.

The answer is read from the parsed pattern (``re._parser``, the parser the
``re`` module itself uses). Anything not understood raises internally and
counts as "may start with anything", so a changed parser can only make the
grouping coarser, never drop a pattern a candidate needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["DIGITS", "match_starts"]

DIGITS = frozenset("0123456789")


class _Unknown(Exception):
    """A construct the analysis does not model."""


def match_starts(pattern: str, k: int) -> frozenset[str] | None:
    """The first ``k`` characters of every match of ``pattern`` on digits.

    Matches shorter than ``k`` contribute themselves whole. ``None`` means
    the pattern was not understood: it may start with anything.
    """
    try:
        from re import _parser  # type: ignore[attr-defined]

        starts = _sequence(_parser.parse(pattern), k)
    except Exception:  # _Unknown, or any parser change: no grouping
        return None
    return frozenset(starts) if len(starts) <= 10_000 else None


def _concat(left: set[str], right: set[str], k: int) -> set[str]:
    out = {a for a in left if len(a) >= k}
    out.update((a + b)[:k] for a in left if len(a) < k for b in right)
    return out


def _sequence(items: Iterable[tuple[Any, Any]], k: int) -> set[str]:
    starts = {""}
    for op, av in items:
        if all(len(s) >= k for s in starts):
            break
        starts = _concat(starts, _item(str(op), av, k), k)
    return starts


def _item(op: str, av: Any, k: int) -> set[str]:
    if op == "LITERAL":
        return {chr(av)}
    if op == "IN":
        return _set_chars(av)
    if op == "SUBPATTERN":
        return _sequence(av[-1], k)
    if op == "BRANCH":
        return set().union(*(_sequence(alternative, k) for alternative in av[1]))
    if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, high, sub = av
        one = _sequence(sub, k)
        # After k + 1 repetitions (or the minimum) the first k characters
        # no longer change; later repetitions add nothing new.
        rounds = min(high, max(low, k + 1))
        out: set[str] = {""} if low == 0 else set()
        current = {""}
        for i in range(1, rounds + 1):
            current = _concat(current, one, k)
            if i >= low:
                out |= current
        return out
    if op == "AT":
        return {""}  # an anchor: zero width
    raise _Unknown(op)  # lookarounds, back references, ...


def _set_chars(items: Iterable[tuple[Any, Any]]) -> set[str]:
    chars: set[str] = set()
    for op, av in items:
        kind = str(op)
        if kind == "LITERAL":
            chars.add(chr(av))
        elif kind == "RANGE":
            low, high = av
            chars.update(d for d in DIGITS if low <= ord(d) <= high)
            if low < 0x30 or high > 0x39:
                raise _Unknown("non-digit range")
        elif kind == "CATEGORY" and str(av) == "CATEGORY_DIGIT":
            chars.update(DIGITS)  # ASCII digits are all the text here has
        else:
            raise _Unknown(kind)  # a negated set, another category, ...
    return chars
