"""Phone number validation with the ``phonenumbers`` metadata.

The detector in :mod:`tandem.privacy.numbers` finds phone-shaped candidates;
this module decides whether a candidate is a phone number:

* With an international prefix (``+41 …``, ``0049 …``) the country calling
  code must exist and the national number must have a possible length for
  that country (what ``phonenumbers.is_possible_number`` checks).
* A national number must be *valid* (match a number-type pattern of the
  ``phonenumbers`` metadata) for at least one region of a configurable set,
  as dialed or after stripping that region's national (trunk) prefix.
* Numbers that are only dialable locally (a US 7-digit number), unformatted
  digit runs shorter than 10 digits, and two plain digit groups need a cue
  word nearby ("phone", "call", "fax", ...): such digit runs are more often
  house numbers, postal codes or IDs. Unformatted runs of 13+ digits and
  groups ending in a single digit (ISBNs) are never national phone numbers.

Speed: ``phonenumbers.parse`` costs 40-90 µs a call, far too slow to try
dozens of regions for every candidate on the request path. The metadata's
number patterns are therefore grouped by the first digit and the lengths
of the numbers they match (:class:`~tandem.privacy.leading.PatternGroups`),
as dialed and once per distinct trunk-prefix rule for the stripped form; a
candidate tries one small compiled union per rule, a microsecond or less.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneMetadata

from tandem.privacy.leading import DIGITS, PatternGroups, match_starts, strips_one

__all__ = [
    "DEFAULT_PHONE_REGIONS",
    "NationalCheck",
    "NationalLayout",
    "PhoneValidator",
    "international_possible",
    "possible_after_code",
]

#: Regions tried for national-format numbers: North America, Europe, and the
#: largest markets elsewhere.
# fmt: off
DEFAULT_PHONE_REGIONS: tuple[str, ...] = (
    "US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "IT",
    "ES", "PT", "SE", "NO", "DK", "FI", "IS", "PL", "CZ", "SK", "HU", "RO",
    "BG", "GR", "HR", "SI", "EE", "LV", "LT", "UA", "TR", "IL", "ZA", "IN",
    "AU", "NZ", "JP", "KR", "CN", "HK", "SG", "PH", "BR", "MX", "AR",
)
# fmt: on

_CUE_WORDS = (
    "phone", "tel", "telephone", "call", "calling", "mobile", "cell", "fax", "reach", "text", "sms",
    "whatsapp", "contact", "dial", "desk", "office", "answering", "registered", "ring", "number",
)  # fmt: skip
_CUE_GAP = 24
_CUE_BEFORE = re.compile(rf"\b(?:{'|'.join(_CUE_WORDS)})\b[^0-9]{{0,{_CUE_GAP}}}\Z")
# _CUE_BEFORE matched at the start of the reversed window: the gap first,
# shortest first, so the usual cue right before the number is found in a
# few steps, where a search tries every position of the window in turn.
_CUE_BEFORE_REVERSED = re.compile(rf"[^0-9]{{0,{_CUE_GAP}}}?\b(?:{'|'.join(w[::-1] for w in _CUE_WORDS)})\b")
_CUE_AFTER = re.compile(r"[^\w\n]{0,3}(?:office|mobile|cell|fax|home|work|desk|phone)\b")
# Dates (with an optional time after), 1.234.567, and dotted quads.
_OTHER_NUMBER = re.compile(
    r"(?:19|20)[0-9]{2}([-./])[01]?[0-9]\1[0-3]?[0-9](?![0-9]).*"
    r"|[0-3]?[0-9]([-./])[0-3]?[0-9]\2(?:19|20)?[0-9]{2}"
    r"|[0-9]{1,3}(?:\.[0-9]{3}){2,}"
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
)
_EXTENSION = re.compile(r"\s?(?:x|ext\.?|#)\s?[0-9]{1,6}\Z")
_LAST_SINGLE = re.compile(r"[ .\-/][0-9]\Z")
_TWO_GROUPS = re.compile(r"[0-9]+[ .\-/][0-9]+")
_SEPARATORS = b" .-/()+"


def _on_shapes(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` with every digit in its classes written as ``0``.

    On the shape of a text (digits as ``0``) it matches wherever
    ``pattern`` can match the text: exactly when ``pattern`` only tells
    digits from other characters (``[0-9]``), and at least then when it
    also looks at digit values (``[01]``, ``19|20``).
    """
    source = pattern.pattern
    for digits, zeros in (("(?:19|20)", "(?:00)"), ("0-9", "0"), ("0-3", "0"), ("[01]", "[0]")):
        source = source.replace(digits, zeros)
    if re.search(r"\[[^\]]*[1-9]|19\|20", source):
        raise ValueError(f"digit values left in {source!r}")  # pragma: no cover - a pattern changed
    return re.compile(source)


_OTHER_NUMBER_SHAPE = _on_shapes(_OTHER_NUMBER)
_LAST_SINGLE_SHAPE = _on_shapes(_LAST_SINGLE)
_TWO_GROUPS_SHAPE = _on_shapes(_TWO_GROUPS)


#: :meth:`PhoneValidator.national_check`: ``(text, start, end)`` -> is a phone.
NationalCheck = Callable[[str, int, int], bool]


class NationalLayout(NamedTuple):
    """What :meth:`PhoneValidator.is_phone` learns from the shape alone of
    a national candidate (digits and the separators `` .-/()``, no ``+``).

    :meth:`PhoneValidator.is_national` then decides a candidate of that
    shape with only the steps that depend on its digits.
    """

    #: The one separator character to remove ("" for bare digits), or None
    #: when there are several kinds.
    separator: str | None
    digits: int
    formatted: bool
    #: False: the shape alone rules a phone out (length, ISBN layout).
    possible: bool
    #: The shape may be a date or a dotted number: test the text.
    maybe_other: bool
    #: Two plain groups: a cue word decides unless the first digit is 0.
    two_groups: bool
    #: Formatted with a local-only length: invalid numbers still go to the cue test.
    local: bool


_TYPE_DESCS = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost",
    "personal_number", "voip", "pager", "uan", "voicemail",
)  # fmt: skip


def _number_patterns(meta: PhoneMetadata) -> list[str]:
    patterns = []
    for name in _TYPE_DESCS:
        desc = getattr(meta, name)
        if desc is not None and desc.national_number_pattern:
            patterns.append(desc.national_number_pattern)
    return patterns


@dataclass(frozen=True, slots=True)
class _TrunkRule:
    """Regions sharing one national-prefix rule, and their number patterns."""

    prefix: re.Pattern[str]
    transform: str | None
    valid: PatternGroups

    def stripped(self, digits: str) -> str | None:
        m = self.prefix.match(digits)
        if m is None or m.end() == 0:
            return None
        if self.transform and m.lastindex:
            return m.expand(self.transform) + digits[m.end() :]
        return digits[m.end() :]


@dataclass(frozen=True, slots=True)
class _Compiled:
    as_dialed: PatternGroups
    #: By leading digit: the patterns of every rule whose trunk prefix is
    #: just that digit (``0``, ``(183[12])|0``, ``[08]`` for a 0), checked
    #: on the rest at once, and the other rules whose prefix can start so.
    strip_one: dict[str, PatternGroups]
    trunk_rules: dict[str, tuple[_TrunkRule, ...]]
    local_lengths: frozenset[int]


@lru_cache(maxsize=8)
def _compile(regions: tuple[str, ...]) -> _Compiled:
    everything: list[str] = []
    by_rule: dict[tuple[str, str | None], list[str]] = {}
    local: set[int] = set()
    for region in regions:
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None:
            continue
        patterns = _number_patterns(meta)
        everything.extend(patterns)
        if meta.national_prefix_for_parsing:
            rule = (meta.national_prefix_for_parsing, meta.national_prefix_transform_rule)
            by_rule.setdefault(rule, []).extend(patterns)
        if meta.general_desc is not None:
            local.update(meta.general_desc.possible_length_local_only or ())
    strip_one: dict[str, PatternGroups] = {}
    trunk_rules: dict[str, tuple[_TrunkRule, ...]] = {}
    for d in sorted(DIGITS):
        # Rules that strip just this digit give the same rest: one union
        # of their patterns answers for all of them (1 check, not up to 6).
        merged: list[str] = []
        others: list[_TrunkRule] = []
        for (prefix, transform), patterns in by_rule.items():
            first = match_starts(prefix, 1)
            if first is not None and d not in first:
                continue
            if transform is None and strips_one(prefix, d):
                merged.extend(patterns)
            else:
                others.append(_rule(prefix, transform, tuple(patterns)))
        if merged:
            strip_one[d] = PatternGroups(merged)
        trunk_rules[d] = tuple(others)
    return _Compiled(PatternGroups(everything), strip_one, trunk_rules, frozenset(local))


@lru_cache(maxsize=64)
def _rule(prefix: str, transform: str | None, patterns: tuple[str, ...]) -> _TrunkRule:
    """One rule object per distinct rule, shared by the digits it serves."""
    return _TrunkRule(re.compile(prefix), transform, PatternGroups(patterns))


class PhoneValidator:
    """Decides whether a phone-shaped candidate is a phone number."""

    def __init__(self, regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> None:
        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown phone regions: {', '.join(unknown)}")
        self._compiled = _compile(tuple(sorted(set(regions))))
        _possible_lengths()  # load the metadata now, not on the first request

    def is_phone(self, text: str, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` (a phone-shaped candidate) is a phone.

        ``text`` is the whole (folded, ASCII-digit) text, used for cue words.
        """
        core = text[start:end]
        if "x" in core or "e" in core or "#" in core:
            ext = _EXTENSION.search(core)
            if ext:
                core = core[: ext.start()]
        digits = core.encode("ascii", "replace").translate(None, _SEPARATORS).decode()
        if not 7 <= len(digits) <= 15 or not digits.isdigit():
            return False
        # International forms first: none of them can look like a date or a
        # dotted number, so they skip that check.
        first = core[0]
        if first == "+" or (first == "(" and core[1] == "+"):
            return _possible_after_code(digits if "(0)" not in core else _digits(core.replace("(0)", "")))
        if _OTHER_NUMBER.fullmatch(core):
            return False
        if first == "0" and core[1] == "0" and len(digits) > 9:
            return international_possible("+" + core[2:])
        formatted = len(digits) != len(core)
        if not formatted and len(digits) > 12:
            return False  # 13+ bare digits: EAN codes, IDs; phones show a "+" or groups
        if formatted and _LAST_SINGLE.search(core):
            return False  # "0-306-40615-2": ISBN-10 and reference numbers
        valid = self._valid_national(digits)
        # Two plain groups ("224 4966", "3610-114") are also how house
        # numbers, postal codes and IDs look; a trunk prefix ("0341 8387176")
        # makes them a phone, otherwise a cue word must.
        two_groups = formatted and core[0] != "0" and _TWO_GROUPS.fullmatch(core) is not None
        # Bare digits: 10+ digits, or 9 with a trunk prefix ("038401107").
        bare_ok = len(digits) >= (9 if digits[0] == "0" else 10)
        if valid and (formatted or bare_ok) and not two_groups:
            return True
        if valid or (formatted and len(digits) in self._compiled.local_lengths):
            return _has_cue(text, start, end)
        return False

    def layout(self, shape: bytes) -> NationalLayout | None:
        """The :class:`NationalLayout` of candidates with ``shape`` (digits
        as ``0``), or None when ``shape`` holds other characters."""
        core = shape.decode("ascii", "replace")
        kinds = set(core) - {"0"}
        if not core or core[0] == "+" or not kinds <= set(" .-/()"):
            return None
        n = core.count("0")
        formatted = n != len(core)
        possible = 7 <= n <= 15 and (formatted or n <= 12) and not (formatted and _LAST_SINGLE_SHAPE.search(core))
        return NationalLayout(
            separator=kinds.pop() if len(kinds) == 1 else ("" if not kinds else None),
            digits=n,
            formatted=formatted,
            possible=possible,
            maybe_other=_OTHER_NUMBER_SHAPE.fullmatch(core) is not None,
            two_groups=formatted and _TWO_GROUPS_SHAPE.fullmatch(core) is not None,
            local=formatted and n in self._compiled.local_lengths,
        )

    def is_national(self, text: str, start: int, end: int, layout: NationalLayout) -> bool:
        """:meth:`is_phone` for a candidate whose shape has ``layout``.

        Only what depends on the digits is done here: a date test when the
        shape can be one, the pattern check, and the cue-word test.
        """
        return self.national_check(layout)(text, start, end)

    def national_check(self, layout: NationalLayout) -> NationalCheck:
        """:meth:`is_national` for one ``layout``, as a function of
        ``(text, start, end)``: what the layout decides is bound once, so a
        candidate costs no attribute look-ups (the number scan keeps one per
        layout and calls it for every candidate of that shape)."""
        is_phone = self.is_phone
        as_dialed, after_trunk = self._compiled.as_dialed.fullmatch, self._valid_after_trunk
        if not layout.possible:

            def impossible(text: str, start: int, end: int) -> bool:
                # Only an international "00" prefix can still make it one.
                return text.startswith("00", start) and is_phone(text, start, end)

            return impossible
        separator, formatted, two_groups, local = layout.separator, layout.formatted, layout.two_groups, layout.local
        other = _OTHER_NUMBER.fullmatch if layout.maybe_other else None
        # Bare digits: 10+ digits, or 9 with a trunk prefix ("038401107").
        bare_ok = layout.digits >= 10, layout.digits >= 9

        def check(text: str, start: int, end: int) -> bool:
            if text.startswith("00", start):
                return is_phone(text, start, end)  # an international "00" prefix
            core = text[start:end]
            if other is not None and other(core):
                return False
            if separator is None:
                digits = core.encode().translate(None, _SEPARATORS).decode()
            else:
                digits = core.replace(separator, "") if separator else core
            if as_dialed(digits) or after_trunk(digits):  # _valid_national
                if formatted:
                    if not two_groups or digits[0] == "0":
                        return True
                elif bare_ok[digits[0] == "0"]:
                    return True
                return _has_cue(text, start, end)
            return local and _has_cue(text, start, end)

        return check

    def _valid_national(self, digits: str) -> bool:
        return self._compiled.as_dialed.fullmatch(digits) or self._valid_after_trunk(digits)

    def _valid_after_trunk(self, digits: str) -> bool:
        """Valid once a national (trunk) prefix is taken off."""
        compiled = self._compiled
        merged = compiled.strip_one.get(digits[0])
        if merged is not None and len(digits) > 1 and merged.fullmatch(digits[1:]):
            return True
        for rule in compiled.trunk_rules.get(digits[0], ()):
            stripped = rule.stripped(digits)
            if stripped and rule.valid.fullmatch(stripped):
                return True
        return False


def _has_cue(text: str, start: int, end: int) -> bool:
    if _CUE_BEFORE_REVERSED.match(text[max(0, start - 48) : start].lower()[::-1]):
        return True
    return _CUE_AFTER.match(text[end : end + 16].lower()) is not None


@lru_cache(maxsize=1)
def _possible_lengths() -> dict[str, frozenset[int]]:
    """Calling code (as digits) -> possible national number lengths (incl. local-only).

    Calling codes are prefix-free, so the code of a number is the one of its
    first 1, 2 or 3 digits found here.
    """
    lengths: dict[str, frozenset[int]] = {}
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        meta = PhoneMetadata.metadata_for_region_or_calling_code(code, phonenumbers.region_code_for_country_code(code))
        if meta is None or meta.general_desc is None:
            continue
        desc = meta.general_desc
        lengths[str(code)] = frozenset(desc.possible_length or ()) | frozenset(desc.possible_length_local_only or ())
    return lengths


def _digits(number: str) -> str:
    """``number`` without the separators (``+`` included) a phone is written with."""
    return number.encode("ascii", "replace").translate(None, _SEPARATORS).decode()


def _possible_after_code(digits: str) -> bool:
    """Calling code plus national number (``digits``): a possible length?"""
    if not digits.isdigit() or digits[0] == "0":
        return False
    table = _possible_lengths()
    for size in (1, 2, 3):
        lengths = table.get(digits[:size])
        if lengths is not None:
            return len(digits) - size in lengths
    return False


def international_possible(number: str) -> bool:
    """A ``+``-prefixed number: known calling code and a possible length.

    This is ``phonenumbers.is_possible_number`` on metadata, without the
    cost of ``phonenumbers.parse``. A trunk ``(0)`` written after the
    calling code (``+41 (0)69 …``) is not part of the number.
    """
    return possible_after_code(number[1:].replace("(0)", "") if "(0)" in number else number[1:])


def possible_after_code(number: str) -> bool:
    """:func:`international_possible` of ``number`` written without its "+"
    and without a trunk "(0)"."""
    return _possible_after_code(_digits(number))
