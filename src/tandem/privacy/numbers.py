"""Detectors for values made of digits: cards, SSNs, IBANs, IPv4, phones.

One regex pass finds *numeric clusters*, runs of digits joined by at most
three separator characters (space, ``.``, ``-``, ``/``, parentheses). It
starts with a digit class, so the regex engine skips prose quickly; only the
few clusters found are examined by the specific detectors, each with
anchored, bounded patterns, so a multi-megabyte run of digits stays linear.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from tandem.privacy.checks import card_ok, ipv4_ok, ssn_ok
from tandem.privacy.iban import find_iban
from tandem.privacy.phones import PhoneValidator
from tandem.privacy.spans import CREDIT_CARD, IBAN_CODE, IP_ADDRESS, PHONE_NUMBER, US_SSN, Span

__all__ = ["NUMBER_ENTITIES", "NumberDetector"]

NUMBER_ENTITIES = frozenset({CREDIT_CARD, US_SSN, IBAN_CODE, IP_ADDRESS, PHONE_NUMBER})

# Clusters are matched on a *shape* copy of the text in bytes: every digit
# written as "0" and every non-ASCII character as "?" (one encode and one
# ``bytes.translate``, one byte per character, so offsets agree). The
# pattern then starts with a literal, which the regex engine finds several
# times faster than a character class, and the matched shape classifies the
# usual layouts with one dict lookup. The copy costs about 2 µs/KB for any
# text, where ``str.translate`` costs 70 µs/KB on a non-ASCII one.
_ZEROS = bytes.maketrans(b"123456789", b"000000000")


def shape_of(text: str) -> bytes:
    """``text`` with digits as ``0`` and non-ASCII characters as ``?``."""
    return text.encode("ascii", "replace").translate(_ZEROS)


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
    return re.compile(
        rf"0(?<!00)(?<!0:0)"
        rf"(?:(?<={letter}{letter}0)(?=(?: ?{alnum}){{5}})()|(?=[0 .\-/()]{{6}}))"
        rf"0*(?:[ .\-/()]{{1,3}}0+)*".encode()
    )


_CLUSTER = _cluster_pattern("[A-Za-z]")
# On a non-ASCII text "?" may stand for a letter (Cyrillic look-alikes in an
# IBAN's country code): this pattern accepts it as one, and the IBAN branch
# is then confirmed on the text itself with _IBAN_START. Elsewhere both
# patterns accept the same starts and match the same extent (digits and
# ASCII separators only).
_CLUSTER_NON_ASCII = _cluster_pattern("[A-Za-z?]")
_IBAN_START = re.compile(r"(?<=[^\W\d_][^\W\d_])[0-9](?=(?: ?[^\W_]){5})")
_CLUSTER_RUN = re.compile(r"[0-9](?=[0-9 .\-/()]{6})")

# Cards: 12-19 digits, unseparated, or in groups (the first of 4 digits)
# joined by one consistent separator; see _card_prefix for group sizes.
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
_PHONE_TRIES = 64  # phone validations per cluster at most


_EXTENSION = re.compile(r"\s?(?:x|ext\.?|\#)\s?[0-9]{1,6}(?![0-9A-Za-z])")
# Shapes (digits as "0") of the usual layouts, each decided by one check:
# grouped or plain cards, SSNs with dashes or spaces, dotted quads.
_CARD_KIND, _SSN_KIND, _IPV4_KIND = 1, 2, 3
_COMMON_SHAPES: dict[bytes, int] = {
    **{
        sep.join(b"0" * n for n in groups): _CARD_KIND
        for sep in (b" ", b"-")
        for groups in ((4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 3), (4, 4, 4))
    },
    **{b"0" * n: _CARD_KIND for n in range(12, 20)},
    b"000-00-0000": _SSN_KIND,
    b"000 00 0000": _SSN_KIND,
    **{b".".join(b"0" * n for n in (a, b, c, d)): _IPV4_KIND
       for a in (1, 2, 3) for b in (1, 2, 3) for c in (1, 2, 3) for d in (1, 2, 3)},
}  # fmt: skip
_DATE = re.compile(
    r"(?:19|20)[0-9]{2}([-./])[01]?[0-9]\1[0-3]?[0-9]"
    r"|[0-3]?[0-9]([-./])[0-3]?[0-9]\2(?:19|20)?[0-9]{2}"
)
_ISBN = re.compile(r"(?<![0-9])97[89][- ][0-9]{1,5}[- ][0-9]{1,7}[- ][0-9]{1,7}[- ][0-9](?![0-9])")
_KIND_ENTITY = {_CARD_KIND: CREDIT_CARD, _SSN_KIND: US_SSN, _IPV4_KIND: IP_ADDRESS}


def _card_prefix(groups: list[str]) -> int:
    """Length of the longest leading run of groups that is a card, or 0.

    Inner groups have 3-6 digits (4-4-4-4, Amex 4-6-5, 4-4-4-4-3); trailing
    groups that break the checksum ("4111 1111 1111 1111 12/25") are
    dropped while 12 or more digits remain.
    """
    digits = "".join(groups)
    k = len(groups)
    while k >= 2 and len(digits) >= 12:
        if all(len(g) >= 3 for g in groups[1 : k - 1]) and card_ok(digits):
            return len(digits) + k - 1
        k -= 1
        digits = digits[: -len(groups[k])]
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
        enabled = {_CARD_KIND: self._card, _SSN_KIND: self._ssn, _IPV4_KIND: self._ip}
        self._common = {shape: kind for shape, kind in _COMMON_SHAPES.items() if enabled[kind]}

    def find(self, text: str, lowered: str, out: list[Span]) -> None:
        """Append the spans found in ``text`` to ``out`` (``lowered`` is unused)."""
        ascii_text = text.isascii()
        pattern = _CLUSTER if ascii_text else _CLUSTER_NON_ASCII
        common = self._common
        covered = -1
        for m in pattern.finditer(shape_of(text)):
            start, end = m.span()
            if start < covered:
                continue
            iban = m.lastindex
            if iban and not ascii_text and not _IBAN_START.match(text, start):
                # "?" was not a letter: a cluster only as a run of 6+.
                iban = None
                if not _CLUSTER_RUN.match(text, start):
                    continue
            if iban and self._iban:
                iban_end = find_iban(text, start - 2, out)
                if iban_end:
                    covered = iban_end
                    continue
            if end - start < 7:
                continue
            shape = m.group()
            kind = common.get(shape)
            # The usual layouts, not glued to a word: one check decides. A
            # failed check falls through to the general path below.
            if kind is not None and (start == 0 or not text[start - 1].isalnum()):
                value = text[start:end]
                if kind == _CARD_KIND:
                    found = card_ok(value.replace(" ", "").replace("-", ""))
                elif kind == _SSN_KIND:
                    found = ssn_ok(value[:3], value[4:6], value[7:])
                else:
                    found = ipv4_ok(value)
                if found:
                    out.append(Span(_KIND_ENTITY[kind], start, end))
                    covered = end
                    continue
            covered = self._classify(text, start, end, shape, out)

    def _classify(self, text: str, start: int, end: int, shape: bytes, out: list[Span]) -> int:
        """Detect entities in one cluster; returns the end of text consumed."""
        cluster = text[start:end]
        digits = shape.count(b"0")
        # A date has at most 8 digits, an ISBN-13 starts 978 or 979.
        if digits < 4 or (digits <= 8 and _DATE.fullmatch(cluster)) or ("97" in cluster and _ISBN.search(cluster)):
            return end
        found = len(out)
        if self._ip and "." in cluster:
            for ip in _IPV4.finditer(text, start, end):
                if ipv4_ok(ip.group()):
                    out.append(Span(IP_ADDRESS, ip.start(), ip.end()))
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
                length = _card_prefix(c.group().split(sep))
            if length:
                out.append(Span(CREDIT_CARD, c.start(), c.start() + length))
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
            out.append(Span(US_SSN, s.start(), s.end()))

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
                out.append(Span(PHONE_NUMBER, p_start, hit))
                pos = hit
            else:
                gap = _GAP.search(text, p_start + 1, p_end)
                pos = gap.end() if gap else p_end
        return end
