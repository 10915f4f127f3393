"""Which digits a regular expression's match can start with, and how long it is.

The phone validator holds the number patterns of dozens of regions; trying
all of them on every candidate costs up to 35 µs. Grouping them by the
first digit a match can start with and by the lengths it can have lets a
candidate try only its own group (:class:`PatternGroups`), typically a few
patterns, compiled when first needed.

The answer is read from the parsed pattern (``re._parser``, the parser the
``re`` module itself uses). Anything not understood raises internally and
counts as "may start with anything", so a changed parser can only make the
grouping coarser, never drop a pattern a candidate needs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

__all__ = ["DIGITS", "PatternGroups", "match_starts", "match_widths", "strips_one"]

DIGITS = frozenset("0123456789")


class _Unknown(Exception):
    """A construct the analysis does not model."""


@lru_cache(maxsize=4096)  # each region's patterns are grouped as dialed and per trunk rule
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


@lru_cache(maxsize=4096)
def match_widths(pattern: str) -> tuple[int, int]:
    """The shortest and longest match of ``pattern`` (the parser's own bounds).

    ``(0, sys.maxsize)`` when the pattern is not understood.
    """
    try:
        from re import _parser  # type: ignore[attr-defined]

        low, high = _parser.parse(pattern).getwidth()
    except Exception:  # any parser change: no length bound
        return 0, sys.maxsize
    return int(low), int(high)


def strips_one(pattern: str, digit: str) -> bool:
    """Whether ``re.match(pattern, s)`` takes exactly ``s[0]`` for every ``s``
    that starts with ``digit``, without any capturing group.

    True when the first alternative (in the order the engine tries them)
    that can match such an ``s`` is one character or class that holds
    ``digit``: trunk prefixes such as ``0``, ``(183[12])|0`` or ``[08]``
    for a leading 0. False whenever unsure.
    """
    try:
        from re import _parser  # type: ignore[attr-defined]

        items = list(_parser.parse(pattern))
        alternatives = items[0][1][1] if len(items) == 1 and str(items[0][0]) == "BRANCH" else [items]
        for alternative in alternatives:
            starts = _sequence(alternative, 1)
            if "" in starts:
                return False  # may match nothing, and succeed at once
            if digit not in starts:
                continue  # cannot match here: the engine tries the next one
            if len(alternative) != 1:
                return False
            op, av = alternative[0]
            return str(op) in ("LITERAL", "IN") and digit in _item(str(op), av, 1)
    except Exception:  # _Unknown, or any parser change
        return False
    return False


class PatternGroups:
    """Patterns that a string of digits must fully match one of, grouped.

    A digit string tries only the union of the patterns that can start with
    its first digit and match its length. The unions are compiled on first
    use: there are up to ~150 of them, most never needed, and compiling them
    all would add about half a second to start-up. The cache is bounded by
    the number of (digit, length) pairs.
    """

    __slots__ = ("_compiled", "_patterns")

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns: dict[str, list[tuple[str, int, int]]] = {d: [] for d in sorted(DIGITS)}
        for pattern in dict.fromkeys(patterns):
            starts = match_starts(pattern, 1)
            low, high = match_widths(pattern)
            for d in DIGITS if starts is None else starts & DIGITS:
                self._patterns[d].append((pattern, low, high))
        self._compiled: dict[tuple[str, int], re.Pattern[str] | None] = {}

    def fullmatch(self, digits: str) -> bool:
        """Whether ``digits`` (ASCII digits, not empty) fully matches a pattern."""
        key = (digits[0], len(digits))
        try:
            pattern = self._compiled[key]
        except KeyError:
            pattern = self._compile(key)
        return pattern is not None and pattern.fullmatch(digits) is not None

    def _compile(self, key: tuple[str, int]) -> re.Pattern[str] | None:
        digit, length = key
        group = [p for p, low, high in self._patterns.get(digit, ()) if low <= length <= high]
        pattern = re.compile("|".join(f"(?:{p})" for p in group)) if group else None
        self._compiled[key] = pattern  # a racing thread compiles the same: harmless
        return pattern


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
