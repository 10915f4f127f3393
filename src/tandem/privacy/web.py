"""Detectors anchored on one character: e-mail (``@``), URL, IPv6 (``:``).

Scanning prose for a pattern that starts with a letter is slow in Python's
regex engine (every letter is a possible start). These detectors instead
find their anchor with ``str.find`` (a memchr-speed scan) and match bounded
patterns around it, which keeps the cost per kilobyte tiny and every match
bounded in length, so adversarial inputs stay linear.

Letter classes are Unicode-aware, so a Cyrillic or Greek look-alike inside
an address (``john@example.com`` with a Cyrillic ``o``) is still part of the
match; CJK characters are excluded so an address followed directly by
Chinese text ends where the address ends.
"""

from __future__ import annotations

import re

from tandem.privacy.checks import ipv6_ok
from tandem.privacy.spans import EMAIL_ADDRESS, IP_ADDRESS, URL, Span, make_span

__all__ = ["find_emails", "find_ipv6", "find_urls"]

# A letter or digit of a domain label: Unicode word characters except "_"
# and the CJK, kana, hangul and fullwidth blocks.
_ALNUM = r"[^\W_\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
_ALPHA = r"[^\W\d_\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
_LABEL = rf"{_ALNUM}(?:[\w\-]{{0,61}}{_ALNUM})?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+{_ALPHA}{{2,63}}(?![\-_]|{_ALNUM})")
# ASCII-only twin of _DOMAIN: same matches on ASCII text, several times faster.
_DOMAIN_ASCII = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![A-Za-z0-9\-_])")
# Matched on the reversed text before "@": one forward match instead of a
# search that would retry from every position of the window.
_LOCAL_REVERSED = re.compile(r"[\w.%+\-]{1,64}")
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_EMAIL_LOCAL_MAX = 64
_DOMAIN_MAX = 255

_SCHEME_REVERSED = re.compile(r"[\w+.\-]{1,32}")
# Characters that may appear in a URL as people paste it; it ends at white
# space, quotes, angle brackets and the like.
_URL_BODY = re.compile(r"""[^\s<>"'`{}|\\^\[\]\u3000-\u303f\uff00-\uffef]+""")
_URL_TRAILING = ".,;:!?*"
_URL_TRAILING_OR_PAREN = _URL_TRAILING + ")"  # what _trim_url_end may drop

# A colon followed by a hex digit or a colon: JSON, YAML and prose colons
# (": ") are skipped inside the regex engine, not one by one in Python.
_IPV6_ANCHOR = re.compile(r":(?=[0-9A-Fa-f:])")
# The hex digits and colons before an anchor, matched on the reversed text.
_IPV6_LEFT_REVERSED = re.compile(r"[0-9A-Fa-f:]{1,39}")
_DIGIT = re.compile(r"[0-9]")
_IPV6_RIGHT = re.compile(r"[0-9A-Fa-f:.]{0,45}")
_HEX = frozenset("0123456789abcdefABCDEF:")


def find_emails(text: str, lowered: str, out: list[Span]) -> None:
    """Append e-mail address spans (``local@domain.tld``) to ``out``.

    ``lowered`` is ``text`` lower-cased with the same length; the "@" and
    "." anchors are found in it (see :func:`find_urls`).
    """
    at = lowered.find("@")
    n = len(text)
    ascii_text = text.isascii()  # then no window needs its own check
    while at != -1:
        next_from = at + 1
        # Cheap rejections first: "@" with no address shape around it.
        if (
            at == 0
            or at + 3 >= n
            or not (text[at - 1].isalnum() or text[at - 1] in "_%+-")
            or not text[at + 1].isalnum()
            or lowered.find(".", at + 2, at + 2 + _DOMAIN_MAX) == -1
        ):
            at = lowered.find("@", next_from)
            continue
        lo = at - _EMAIL_LOCAL_MAX - 1
        local = _LOCAL_REVERSED.match(text[at - 1 : lo if lo >= 0 else None : -1]) if at else None
        if local is not None:
            start = at - local.end()
            if not ascii_text and not text[start:at].isascii() and _CJK.search(text, start, at):
                start = _last_cjk_end(text, start, at)
            while start < at and text[start] in ".-+":
                start += 1  # a local part does not start with a dot
            domain = (_DOMAIN_ASCII if ascii_text or text[at + 1 : at + 81].isascii() else _DOMAIN).match(
                text, at + 1, at + 1 + _DOMAIN_MAX
            )  # _match_domain, inline
            if start < at and text[at - 1] != "." and domain is not None:
                out.append(make_span((EMAIL_ADDRESS, start, domain.end(), 1.0)))
                next_from = domain.end()
        at = lowered.find("@", next_from)


def _match_domain(text: str, pos: int, ascii_text: bool = False) -> re.Match[str] | None:
    end = min(len(text), pos + _DOMAIN_MAX)
    if ascii_text or text[pos : pos + 80].isascii():
        return _DOMAIN_ASCII.match(text, pos, end)
    return _DOMAIN.match(text, pos, end)


def _last_cjk_end(text: str, start: int, at: int) -> int:
    """Where a local part starts after the last CJK character before ``at``."""
    for i in range(at - 1, start - 1, -1):
        if _CJK.match(text, i):
            return i + 1
    return start


def _trim_url_end(text: str, start: int, end: int) -> int:
    """Drop punctuation that ends a sentence rather than the URL."""
    while end > start:
        ch = text[end - 1]
        if ch in _URL_TRAILING:
            end -= 1
        elif ch == ")" and text.count("(", start, end) < text.count(")", start, end):
            end -= 1
        else:
            break
    return end


def _scheme_start(text: str, pos: int, floor: int) -> int:
    """Start of the URL scheme that ends at ``pos`` (-1 if there is none)."""
    lo = max(floor, pos - 33) - 1
    m = _SCHEME_REVERSED.match(text[pos - 1 : lo if lo >= 0 else None : -1]) if pos else None
    if m is None:
        return -1
    start = pos - m.end()
    while start < pos and not text[start].isalpha():
        start += 1  # a scheme starts with a letter
    return start if start < pos else -1


def _web_scheme_start(text: str, lowered: str, pos: int, floor: int) -> int:
    """:func:`_scheme_start` for "http" and "https" standing alone (the
    usual case), without its search; -1 for anything else."""
    for scheme in ("https", "http"):
        start = pos - len(scheme)
        if start >= floor and lowered.startswith(scheme, start):
            # Nothing a scheme may hold right before it (nor the floor).
            if start == floor or not (text[start - 1].isalnum() or text[start - 1] in "_+.-"):
                return start
            return -1
    return -1


def find_urls(text: str, lowered: str, out: list[Span]) -> None:
    """Append URL spans: ``scheme://…`` and ``www.…`` forms.

    ``lowered`` is ``text`` lower-cased with the same length.
    """
    last_end = 0
    # Anchors are searched in ``lowered``: one byte per character even when
    # ``text`` is not ASCII, so faster to scan, and the ASCII anchors are at
    # the same offsets.
    pos = lowered.find("://")
    while pos != -1:
        start = _web_scheme_start(text, lowered, pos, last_end)
        if start < 0:
            start = _scheme_start(text, pos, last_end)
        body = _URL_BODY.match(text, pos + 3)
        if start >= 0 and body is not None:
            end = body.end()
            if text[end - 1] in _URL_TRAILING_OR_PAREN:
                end = _trim_url_end(text, start, end)
            host = text[pos + 3]
            if end > pos + 3 and (host.isalnum() or host == "["):
                out.append(make_span((URL, start, end, 1.0)))
                last_end = end
        pos = lowered.find("://", max(pos + 3, last_end))
    pos = lowered.find("www.")
    while pos != -1:
        end = pos + 4
        before = text[pos - 1] if pos else " "
        # "://www." is already covered by the scheme form above.
        if not (before.isalnum() or before in "./@-_"):
            domain = _match_domain(text, pos)
            if domain is not None:
                body = _URL_BODY.match(text, pos)
                assert body is not None  # "www." itself matches
                end = _trim_url_end(text, pos, body.end())
                out.append(make_span((URL, pos, end, 1.0)))
        pos = lowered.find("www.", end)


def _ipv6_shaped(candidate: str) -> bool:
    """At most 8 groups of at most 4 hex digits (the last may be IPv4)."""
    groups = candidate.split(":")
    if len(groups) > 9:
        return False
    return all(len(g) <= 4 for g in groups[:-1]) and len(groups[-1]) <= 15


def _enough_colons(lowered: str, start: int, end: int) -> bool:
    """ "::" or six colons in ``lowered[start:end]``."""
    reach = lowered[start:end]
    return "::" in reach or reach.count(":") >= 6


def find_ipv6(text: str, lowered: str, out: list[Span]) -> None:
    """Append IPv6 address spans (full, ``::``-compressed, IPv4-mapped).

    ``lowered`` is ``text`` lower-cased with the same length; colons are
    found in it (one byte per character, at the same offsets).
    """
    if ":" not in lowered:
        return
    n = len(text)
    next_from = 0
    for anchor in _IPV6_ANCHOR.finditer(lowered):
        pos = anchor.start()
        if pos < next_from or pos == 0 or text[pos - 1] not in _HEX:
            continue
        # Colons of an IPv6 address are at most five characters apart; a
        # lone colon ("9:30", "key:value") is rejected without more work.
        if text.find(":", pos + 1, pos + 6) == -1 and text.find(":", max(0, pos - 5), pos) == -1:
            continue
        right = _IPV6_RIGHT.match(text, pos)
        end = right.end() if right else pos + 1
        while end > pos + 1 and text[end - 1] in ".:" and text[end - 2 : end] != "::":
            end -= 1
        next_from = end
        # The candidate lies within 39 characters before the anchor and
        # ``end``: without "::" or six colons there ("12:30:05") it cannot
        # pass the test below, so the costlier leftward search is skipped.
        if not _enough_colons(lowered, max(0, pos - 39), end):
            continue
        lo = pos - 40
        left = _IPV6_LEFT_REVERSED.match(text[pos - 1 : lo if lo >= 0 else None : -1])
        start = pos - left.end() if left else pos
        candidate = text[start:end]
        if not _ipv6_shaped(candidate):
            continue
        before = text[start - 1] if start else " "
        after = text[end] if end < n else " "
        if (
            ("::" in candidate or candidate.count(":") >= 6)
            and _DIGIT.search(candidate) is not None  # not C++'s "a::b"
            and not (before.isalnum() or before in "_.:")
            and not (after.isalnum() or after == "_")
            and ipv6_ok(candidate)
        ):
            out.append(make_span((IP_ADDRESS, start, end, 1.0)))
