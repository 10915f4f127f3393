"""Detectors for values made of digits: cards, SSNs, IBANs, IPv4, phones.

One regex pass finds *numeric clusters*, runs of digits joined by at most
three separator characters (space, ``.``, ``-``, ``/``, parentheses), on a
shape copy of the text (:mod:`tandem.privacy.shapes`), so the regex engine
skips prose quickly; only the few clusters found are examined by the
specific detectors, each with anchored, bounded patterns, so a
multi-megabyte run of digits stays linear. The usual layouts of cards,
SSNs, IPv4 and phone numbers (national or international, with or without
an extension) are decided from their shape with one check; only the rest
goes the general way (dates, ISBNs, cards, SSNs, then a phone search).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from itertools import compress, repeat
from operator import not_

from tandem.privacy.checks import CARD_HEADS, card_ok, card_prefix, ipv4_ok, luhn_all_ok, ssn_ok
from tandem.privacy.iban import IBAN_WINDOW, find_iban
from tandem.privacy.phones import NationalCheck, PhoneValidator, possible_after_code
from tandem.privacy.shapes import (
    CARD_KIND,
    CLUSTER,
    CLUSTER_NON_ASCII,
    CLUSTER_RUN,
    COMMON_SHAPES,
    IBAN_START,
    INTERNATIONAL_SHAPES,
    IPV4_KIND,
    NATIONAL_SHAPES,
    PAREN_NATIONAL_SHAPES,
    SSN_KIND,
    shape_of_ascii,
)
from tandem.privacy.spans import CREDIT_CARD, IBAN_CODE, IP_ADDRESS, PHONE_NUMBER, US_SSN, Span, make_span

__all__ = ["NUMBER_ENTITIES", "NumberDetector"]

NUMBER_ENTITIES = frozenset({CREDIT_CARD, US_SSN, IBAN_CODE, IP_ADDRESS, PHONE_NUMBER})

# Cards: 12-19 digits, unseparated, or in groups (the first of 4 digits)
# joined by one consistent separator; see checks.card_prefix for group sizes.
_CARD = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9]-)"
    r"(?:[0-9]{12,19}(?![0-9])|[0-9]{4}([ \-])[0-9]{1,6}(?:\1[0-9]{1,6}){1,4}(?![0-9]))"
)
_SSN = re.compile(r"(?<![0-9A-Za-z])(?<![0-9][\-.])([0-9]{3})([\- ]?)([0-9]{2})\2([0-9]{4})(?![0-9]|[\-.][0-9])")
_SSN_CUE = re.compile(r"(?:ssn|social security|ss#|ss no)[^\n0-9]{0,24}\Z")
_IPV4 = re.compile(r"(?<![0-9.])[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![0-9]|\.[0-9])")
_PHONE = re.compile(
    r"(?<![0-9])(?:\+[0-9]{1,3}[ .\-]?|\(\+[0-9]{1,3}\)[ .\-]?|00[0-9]{1,3}[ .\-])?"
    r"(?:\(0\)[ .\-]?)?"
    r"(?:\([0-9]{1,5}\)[ .\-/]?)?"
    r"[0-9]{1,14}(?:(?:[ .\-/]{1,2}\(?|\()[0-9]{1,10}\)?){0,7}"
    r"(?:\s?(?:x|ext\.?|\#)\s?[0-9]{1,6})?"
    r"(?![0-9])"
)
_GAP = re.compile(r"[ .\-/()]+")
_NONE: frozenset[int] = frozenset()
_PHONE_TRIES = 64  # phone validations per cluster at most


_EXTENSION = re.compile(r"\s?(?:x|ext\.?|\#)\s?[0-9]{1,6}(?![0-9A-Za-z])")
_DATE = re.compile(
    r"(?:19|20)[0-9]{2}([-./])[01]?[0-9]\1[0-3]?[0-9]"
    r"|[0-3]?[0-9]([-./])[0-3]?[0-9]\2(?:19|20)?[0-9]{2}"
)
# "2024-05-01 12" of "2024-05-01 12:30:00": the phone search would reject
# the whole (a date), the date without the hour, and the 6 digits after it
# (not after "+" or "(", which the phone search would take in).
_DATE_HOUR_SHAPES = frozenset({b"0000-00-00 00", b"0000/00/00 00", b"0000.00.00 00"})
_DATE_HOUR = re.compile(r"(?:19|20)[0-9]{2}([-./])[01][0-9]\1[0-3][0-9] [0-9]{2}")
_ISBN = re.compile(r"(?<![0-9])97[89][- ][0-9]{1,5}[- ][0-9]{1,7}[- ][0-9]{1,7}[- ][0-9](?![0-9])")
_KIND_ENTITY = {CARD_KIND: CREDIT_CARD, SSN_KIND: US_SSN, IPV4_KIND: IP_ADDRESS}
# Phone layouts decided by shape, next to the kinds of shapes.COMMON_SHAPES.
_INTERNATIONAL, _NATIONAL, _PAREN, _BARE_CARD = 11, 12, 13, 14
_TWO_SHORT_GROUPS = re.compile(rb"0{1,6}[ \-]0{1,6}")
# What IBAN_START looks at after a cluster's first digit: five letters or
# digits, each after at most one space.
_IBAN_LOOKAHEAD = 1 + 5 * 2


def _extension_end(text: str, end: int) -> int:
    """The end of an extension (" x12", "ext. 5", "#3") after ``end``, or 0."""
    after = text[end : end + 2]
    if "x" in after or "e" in after or "#" in after:
        extension = _EXTENSION.match(text, end)
        if extension is not None:
            return extension.end()
    return 0


def _group_ends(text: str, start: int, end: int) -> list[int]:
    """The ends of the candidate without its last 1, 2 or 3 groups."""
    ends: list[int] = []
    pos = end
    while len(ends) < 3:
        cut = max(text.rfind(" ", start, pos), text.rfind("-", start, pos), text.rfind(".", start, pos))
        if cut <= start:
            break
        while cut > start and text[cut - 1] in " .-/()":
            cut -= 1
        ends.append(cut)
        pos = cut
    return ends


class NumberDetector:
    """Finds digit-based entities in a folded text."""

    def __init__(self, entities: Collection[str], phone_validator: PhoneValidator) -> None:
        self._card = CREDIT_CARD in entities
        self._ssn = US_SSN in entities
        self._iban = IBAN_CODE in entities
        self._ip = IP_ADDRESS in entities
        self._phone = PHONE_NUMBER in entities
        self._phones = phone_validator
        # Shape -> the check that decides the usual layouts, and for phones
        # the layout the national check needs. A shape may be a national
        # and an international layout (after a "+"): it is tried as both.
        enabled = {CARD_KIND: self._card, SSN_KIND: self._ssn, IPV4_KIND: self._ip}
        self._kinds = {shape: kind for shape, kind in COMMON_SHAPES.items() if enabled[kind]}
        # Cards written as bare digits need no separators removed.
        self._kinds.update(
            [(shape, _BARE_CARD) for shape, kind in self._kinds.items() if kind == CARD_KIND and shape.isdigit()]
        )
        # Card shape -> the first two digits its length allows (checks.CARD_HEADS).
        self._card_heads = {
            shape: CARD_HEADS[shape.count(b"0")] for shape, kind in COMMON_SHAPES.items() if kind == CARD_KIND
        }
        # National layouts: the layout's phone check (what the shape decides
        # bound in), and whether it is "whole only" (below).
        self._layouts: dict[bytes, tuple[NationalCheck, bool]] = {}
        if self._phone:
            for kind, shapes, lead in ((_NATIONAL, NATIONAL_SHAPES, b""), (_PAREN, PAREN_NATIONAL_SHAPES, b"(")):
                for shape in shapes:
                    layout = phone_validator.layout(lead + shape)
                    if layout is not None:
                        self._kinds[shape] = kind
                        # Two groups shorter than 7 characters each: when the
                        # whole is no phone, the general path has no shorter
                        # candidate to try (it tries 7 characters or more).
                        whole_only = kind == _NATIONAL and _TWO_SHORT_GROUPS.fullmatch(shape) is not None
                        self._layouts[shape] = (phone_validator.national_check(layout), whole_only)
            self._kinds.update(dict.fromkeys(INTERNATIONAL_SHAPES, _INTERNATIONAL))

    def find(self, text: str, lowered: str, out: list[Span]) -> None:
        """Append the spans found in ``text`` to ``out``.

        ``lowered`` (``text`` lower-cased, one ASCII character per character)
        gives the shape copy: encoding it is a copy, where encoding ``text``
        must replace each non-ASCII character; the cluster patterns do not
        tell upper from lower case.
        """
        first = len(out)
        failed = self._scan(text, lowered, out, _NONE)
        decided = _NONE
        while failed:
            # A card-shaped cluster that failed Luhn had an extension after
            # it, which the scan would have skipped over: scan again, with
            # the failed ones taken the general way in their turn (each
            # round adds new ones: those it returns were not yet decided).
            decided |= failed
            del out[first:]
            failed = self._scan(text, lowered, out, decided)

    def _scan(self, text: str, lowered: str, out: list[Span], decided: frozenset[int]) -> frozenset[int]:
        """:meth:`find`, with the card-shaped clusters that start in
        ``decided`` taken the general way; returns the starts of failed
        cards that make a new scan necessary (none, nearly always)."""
        ascii_text = text.isascii()
        pattern = CLUSTER if ascii_text else CLUSTER_NON_ASCII
        kinds = self._kinds
        layouts = self._layouts
        append = out.append
        # Card-shaped clusters whose first digits fit their length: their
        # Luhn check runs for all at once after the scan (checks.luhn_all_ok),
        # and the spans of those that pass are made in one map.
        card_starts: list[int] = []
        card_ends: list[int] = []
        card_numbers: list[bytes] = []
        card_heads = self._card_heads
        raw = lowered.encode("ascii", "replace")  # the same digits and separators as text
        covered = -1
        shapes = shape_of_ascii(raw)
        for m in pattern.finditer(shapes):
            start, end = m.span()
            if start < covered:
                continue
            if m.lastindex:  # after two letters: maybe an IBAN
                # A "?" among the two letters or the five characters after
                # them may be no letter or digit: the text tells.
                if (
                    not ascii_text
                    and b"?" in shapes[start - 2 : start + _IBAN_LOOKAHEAD]
                    and not IBAN_START.match(text, start)
                ):
                    # "?" was not a letter: a cluster only as a run of 6+.
                    if not CLUSTER_RUN.match(text, start):
                        continue
                elif self._iban:
                    ascii_window = ascii_text or b"?" not in shapes[start - 2 : start - 2 + IBAN_WINDOW]
                    iban_end = find_iban(text, start - 2, out, ascii_window)
                    if iban_end:
                        covered = iban_end
                        continue
            shape = m.group()
            kind = kinds.get(shape)
            # The usual layouts: one check decides. A failed check falls
            # through to the general path below.
            if kind is None:
                if end - start < 7:
                    continue
            elif kind == _BARE_CARD or kind == CARD_KIND:
                if start == 0 or not text[start - 1].isalnum():
                    number = raw[start:end] if kind == _BARE_CARD else raw[start:end].translate(None, b" -")
                    if (number[:2] in card_heads[shape] or number.startswith(b"0604")) and start not in decided:
                        card_starts.append(start)
                        card_ends.append(end)
                        card_numbers.append(number)
                        covered = end
                        continue
            elif kind == _NATIONAL or kind == _INTERNATIONAL:
                if kind == _INTERNATIONAL:
                    phone_end = self._international(text, start, end)
                    if phone_end:
                        append(make_span((PHONE_NUMBER, start - 1, phone_end, 1.0)))
                        covered = phone_end
                        continue
                national = layouts.get(shape)  # an international layout may be a national one too
                if national is not None:
                    phone_end = self._national(text, start, end, national)
                    if phone_end >= 0:
                        if phone_end:
                            append(make_span((PHONE_NUMBER, start, phone_end, 1.0)))
                        covered = phone_end or end
                        continue
            elif kind == _PAREN:
                if text[start - 1 : start] == "(":
                    phone_end = self._national(text, start - 1, end, layouts[shape])
                    if phone_end > 0:
                        append(make_span((PHONE_NUMBER, start - 1, phone_end, 1.0)))
                        covered = phone_end
                        continue
            elif start == 0 or not text[start - 1].isalnum():
                value = text[start:end]
                if ssn_ok(value[:3], value[4:6], value[7:]) if kind == SSN_KIND else ipv4_ok(value):
                    append(make_span((_KIND_ENTITY[kind], start, end, 1.0)))
                    covered = end
                    continue
            covered = self._classify(text, start, end, shape, out)
        # Spans of different clusters never share a start: the order in
        # which they are added does not change the resolved result.
        if not card_numbers:
            return _NONE
        passed = luhn_all_ok(card_numbers)
        out.extend(
            map(
                make_span,
                zip(repeat(CREDIT_CARD), compress(card_starts, passed), compress(card_ends, passed), repeat(1.0)),
            )
        )
        if all(passed):
            return _NONE
        return self._not_cards(text, raw, card_starts, card_ends, passed, out)

    def _not_cards(
        self, text: str, raw: bytes, starts: list[int], ends: list[int], passed: list[bool], out: list[Span]
    ) -> frozenset[int]:
        """Card-shaped clusters that failed Luhn go the general way, as the
        scan would have sent them in their turn: nothing the scan did after
        them depends on that, unless an extension follows one (the general
        way then covers text past the cluster). Returns, in that case, the
        starts of all failed ones for a new scan."""
        redo = False
        for start, end, ok in zip(starts, ends, passed, strict=True):
            if not ok and self._classify(text, start, end, shape_of_ascii(raw[start:end]), out) > end:
                redo = True
        return frozenset(compress(starts, map(not_, passed))) if redo else _NONE

    def _international(self, text: str, start: int, end: int) -> int:
        """A usual international layout after a lone "+": the end of what
        _find_phones would find there (past an extension), without its
        search; 0 sends it the long way."""
        if start == 0 or text[start - 1] != "+":
            return 0
        if start > 1 and (text[start - 2].isalnum() or text[start - 2] in "_@/+("):
            return 0
        extension = _extension_end(text, end)
        if extension:
            return extension if self._phones.is_phone(text, start - 1, extension) else 0
        cluster = text[start:end]
        return end if possible_after_code(cluster.replace("(0)", "") if "(0)" in cluster else cluster) else 0

    def _national(self, text: str, start: int, end: int, layout: tuple[NationalCheck, bool]) -> int:
        """A usual national layout standing alone (with its "(" for the
        parenthesized ones): the end of the phone _find_phones would find
        there (past an extension), 0 when it would find none, -1 when only
        its search can tell (a "00" prefix, a glued start, a failed check
        of a layout with shorter candidates in it)."""
        if (start and ((before := text[start - 1]).isalnum() or before in "_@/+(")) or text.startswith("00", start):
            return -1
        after = text[end : end + 2]
        if "x" in after or "e" in after or "#" in after:  # _extension_end, inline
            extension = _EXTENSION.match(text, end)
            if extension is not None:
                return extension.end() if self._phones.is_phone(text, start, extension.end()) else -1
        check, whole_only = layout
        if check(text, start, end):
            return end
        return 0 if whole_only else -1

    def _classify(self, text: str, start: int, end: int, shape: bytes, out: list[Span]) -> int:
        """Detect entities in one cluster; returns the end of text consumed."""
        cluster = text[start:end]
        if shape in _DATE_HOUR_SHAPES and _DATE_HOUR.fullmatch(cluster) and text[start - 1 : start] not in ("+", "("):
            return end  # a log timestamp cut at its first ":"; no part of it is a phone
        digits = shape.count(b"0")
        # A date has at most 8 digits, an ISBN-13 starts 978 or 979.
        if digits < 4 or (digits <= 8 and _DATE.fullmatch(cluster)) or ("97" in cluster and _ISBN.search(cluster)):
            return end
        found = len(out)
        if self._ip and "." in cluster:
            for ip in _IPV4.finditer(text, start, end):
                if ipv4_ok(ip.group()):
                    out.append(make_span((IP_ADDRESS, ip.start(), ip.end(), 1.0)))
        if self._card and digits >= 12:
            self._find_cards(text, start, end, out)
        if self._ssn and (b"000-00-0000" in shape or b"000 00 0000" in shape or digits == 9):
            self._find_ssns(text, start, end, out)
        if not self._phone or digits < 7:
            return end
        if len(out) == found:
            return self._find_phones(text, start, end, out)
        # Phones may sit next to what was found ("+44 20 7946 0958 4111 1111
        # 1111 1111"): look in the gaps between the found spans.
        taken = sorted(out[found:], key=lambda s: s.start)
        gap_start = start
        for span in taken:
            if span.start - gap_start >= 7:
                self._find_phones(text, gap_start, span.start, out)
            gap_start = max(gap_start, span.end)
        if end - gap_start >= 7:
            return self._find_phones(text, gap_start, end, out)
        return end

    @staticmethod
    def _find_cards(text: str, start: int, end: int, out: list[Span]) -> None:
        # Searched group by group rather than with finditer, so a card right
        # after other digit groups ("+44 20 7946 0958 4111 1111 1111 1111")
        # is still tried from its own first group.
        pos = start
        while True:
            c = _CARD.search(text, pos, end)
            if c is None:
                return
            sep = c.group(1)
            length = 0
            if sep is None:
                length = len(c.group()) if card_ok(c.group()) else 0
            else:
                length = card_prefix(c.group().split(sep))
            if length:
                out.append(make_span((CREDIT_CARD, c.start(), c.start() + length, 1.0)))
                pos = c.start() + length
            else:
                gap = _GAP.search(text, c.start(), c.end())
                pos = gap.end() if gap else c.end()

    @staticmethod
    def _find_ssns(text: str, start: int, end: int, out: list[Span]) -> None:
        for s in _SSN.finditer(text, start, end):
            area, sep, group, serial = s.groups()
            if not ssn_ok(area, group, serial):
                continue
            # Nine bare digits are an SSN only when the text says so.
            if not sep and not _SSN_CUE.search(text[max(0, s.start() - 40) : s.start()].lower()):
                continue
            out.append(make_span((US_SSN, s.start(), s.end(), 1.0)))

    def _find_phones(self, text: str, start: int, end: int, out: list[Span]) -> int:
        """Phones in one cluster; returns the end of text consumed."""
        # Grow the cluster over a leading "+", "(" or "(+", and a trailing extension.
        if start > 0 and text[start - 1] in "+(":
            start -= 1
            if start > 0 and text[start - 1] in "+(" and text[start] != text[start - 1]:
                start -= 1
        ext = _EXTENSION.match(text, end)
        if ext:
            end = ext.end()
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_@/"):
            return end  # part of an identifier, a path or an address
        # A candidate that fails may be a phone followed by more digit groups
        # ("0490 75 40 81 2024"): retry without its last groups, then go on
        # from its second group. The budget bounds work on huge clusters.
        pos, budget = start, _PHONE_TRIES
        while budget > 0 and end - pos >= 7:
            p = _PHONE.search(text, pos, end)
            if p is None:
                break
            p_start, p_end = p.span()
            hit = 0
            budget -= 1
            if self._phones.is_phone(text, p_start, p_end):
                hit = p_end
            else:
                for cut in _group_ends(text, p_start, p_end):
                    budget -= 1
                    if cut - p_start >= 7 and self._phones.is_phone(text, p_start, cut):
                        hit = cut
                        break
            if hit:
                out.append(make_span((PHONE_NUMBER, p_start, hit, 1.0)))
                pos = hit
            else:
                gap = _GAP.search(text, p_start + 1, p_end)
                pos = gap.end() if gap else p_end
        return end
