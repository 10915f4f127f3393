# ruff: noqa: RUF002, RUF003  (look-alike characters are the point here)
"""A detection view of a text: invisible characters removed, look-alikes folded.

Personal data can be hidden from pattern matchers by splitting it with
zero-width characters (``jo\\u200bhn@example.com``) or by writing it with
fullwidth or other compatibility forms (``４１１１ １１１１ …``). Detectors
run on a *folded* copy where those are removed or mapped to ASCII, and the
spans they find are mapped back to offsets in the original text.

Cost: an ASCII text is returned as is (``str.isascii`` is a memory scan). A
non-ASCII text costs one charset search; only the suspicious characters
found are rewritten. Cyrillic and Greek letters that look Latin are not
folded here (that would rewrite every Russian or Greek text); the detectors
use Unicode-aware letter classes instead and the IBAN check folds its few
letters with :func:`fold_homoglyphs`.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["FoldedText", "fold", "fold_homoglyphs"]

# Default-ignorable characters that render as nothing: soft hyphen, combining
# grapheme joiner, Arabic letter mark, Mongolian vowel separator, zero-width
# space/non-joiner/joiner, direction marks and embeddings, word joiner and
# invisible operators, BOM, variation selectors, and the tag block.
_INVISIBLE = "\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufe00-\ufe0f\ufeff"
# Fullwidth ASCII except the punctuation that CJK prose uses constantly and
# that no detector needs (，！？（）；), so Chinese text rarely needs rewriting.
_FULLWIDTH = "\uff02-\uff07\uff0a\uff0b\uff0d-\uff1a\uff1c-\uff5e"
_SPACES = "\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_DASHES = "\u2010-\u2015\u2212\ufe58\ufe63"
_OTHER = "\u2024\ufe52\ufe6b"  # one dot leader, small full stop, small commercial at


@lru_cache(maxsize=1)
def _digit_ranges() -> str:
    """Character-class ranges of all non-ASCII BMP decimal digits (Nd)."""
    parts: list[str] = []
    cp = 0x80
    while cp < 0x10000:
        if unicodedata.category(chr(cp)) == "Nd":
            start = cp
            while unicodedata.category(chr(cp)) == "Nd":
                cp += 1
            parts.append(f"{chr(start)}-{chr(cp - 1)}")
        cp += 1
    return "".join(parts)


@lru_cache(maxsize=1)
def _suspect_re() -> re.Pattern[str]:
    # Astral characters are all matched (one range keeps the BMP part a fast
    # bitmap); the fold function leaves the ones it does not know unchanged.
    chars = _INVISIBLE + _FULLWIDTH + _SPACES + _DASHES + _OTHER + _digit_ranges()
    one = f"[{chars}\U00010000-\U0010ffff]"
    # "X X*" rather than "X+": a pattern that starts with a plain character
    # class lets the engine skip non-matching text twice as fast, and runs
    # (a megabyte of zero-width spaces) still cost one callback.
    return re.compile(f"{one}{one}*")


_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}\U000e0000-\U000e007f]")
_INVISIBLE_RUN = re.compile(f"[{_INVISIBLE}\U000e0000-\U000e007f]+")
_DASH_RE = re.compile(f"[{_DASHES}]")
_SPACE_RE = re.compile(f"[{_SPACES}]")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """The ASCII stand-in for one suspicious character ("" to drop it)."""
    if _INVISIBLE_RE.fullmatch(ch):
        return ""
    if _SPACE_RE.fullmatch(ch):
        return " "
    if _DASH_RE.fullmatch(ch):
        return "-"
    if ch in "\u2024\ufe52":
        return "."
    digit = unicodedata.decimal(ch, -1)
    if digit >= 0:
        return str(digit)
    norm = unicodedata.normalize("NFKC", ch)
    if len(norm) == 1 and norm.isascii():
        return norm
    return ch


def _fold_match(match: re.Match[str]) -> str:
    run = match.group()
    return _fold_char(run) if len(run) == 1 else "".join(map(_fold_char, run))


@dataclass(slots=True)
class FoldedText:
    """The folded view of a text and the map back to original offsets."""

    text: str
    #: For each run of dropped characters, the folded offset at which it
    #: stood, and the number of characters dropped up to and including it.
    _run_at: list[int] = field(default_factory=list)
    _dropped_total: list[int] = field(default_factory=list)
    #: ``text`` encoded to ASCII with "?" for each other character, when
    #: folding made it anyway (a non-ASCII text that needed no change).
    ascii_copy: bytes | None = None

    @property
    def identity(self) -> bool:
        """True when folded offsets equal original offsets."""
        return not self._run_at

    def _shift(self, pos: int) -> int:
        i = bisect.bisect_right(self._run_at, pos)
        return self._dropped_total[i - 1] if i else 0

    def original(self, start: int, end: int) -> tuple[int, int]:
        """Map a folded span ``[start, end)`` to the original text.

        Dropped characters inside the span are included in it, so the
        original slice covers the whole disguised value.
        """
        if not self._run_at:
            return start, end
        return start + self._shift(start), end + self._shift(end - 1)


@lru_cache(maxsize=4096)
def _fold_any(ch: str) -> str:
    """``ch`` as :func:`fold` writes it (itself if it is not suspicious)."""
    return _fold_char(ch) if _suspect_re().match(ch) else ch


def _fold_sparse(text: str, raw: bytes) -> str:
    """Fold a mostly-ASCII text by visiting only its "?" bytes in ``raw``.

    A few accented names or typographic quotes should not cost a regex scan
    of the whole text; ``bytes.find`` skips the ASCII runs at memchr speed.
    """
    parts: list[str] = []
    done = 0
    at = raw.find(b"?")
    while at != -1:
        ch = text[at]
        new = _fold_any(ch) if ch != "?" else ch
        if new != ch:
            parts.append(text[done:at])
            parts.append(new)
            done = at + 1
        at = raw.find(b"?", at + 1)
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def fold(text: str) -> FoldedText:
    """Return the detection view of ``text`` (see the module docstring)."""
    if text.isascii():
        return FoldedText(text)
    raw = text.encode("ascii", "replace")  # "?" for each non-ASCII character
    if raw.count(b"?") <= len(raw) >> 5:
        folded = _fold_sparse(text, raw)
    else:
        folded = _suspect_re().sub(_fold_match, text)
    if folded is text:
        return FoldedText(folded, ascii_copy=raw)
    if len(folded) == len(text):
        return FoldedText(folded)
    # Characters were dropped: record where, in folded coordinates. Only
    # dropped characters change length; every mapping above is one to one.
    run_at: list[int] = []
    totals: list[int] = []
    dropped = 0
    for m in _INVISIBLE_RUN.finditer(text):
        run_at.append(m.start() - dropped)
        dropped += m.end() - m.start()
        totals.append(dropped)
    return FoldedText(folded, run_at, totals)


# Cyrillic and Greek letters that are drawn like Latin ones.
_HOMOGLYPHS = str.maketrans(
    "АВЕЅІЈКМНОРСТХУаеіјорсухѕԁһԛԝΑΒΕΖΗΙΚΜΝΟΡΤΥΧονρτ",
    "ABESIJKMHOPCTXYaeijopcyxsdhqwABEZHIKMNOPTYXovpt",
)


def fold_homoglyphs(value: str) -> str:
    """Map Cyrillic/Greek look-alikes of Latin letters in a short value."""
    return value if value.isascii() else value.translate(_HOMOGLYPHS)
