"""Detector for credentials (entity ``SECRET``).

Three kinds, cheapest first:

* Provider tokens with a fixed prefix (``sk-``, ``sk-ant-``, ``AKIA``,
  ``ghp_``, ``github_pat_``, ``xoxb-``, ``AIza``, ``sk_live_``, JWTs that
  start ``eyJ``, PEM private key blocks). Each pattern begins with a literal,
  which the regex engine finds with a fast substring search.
* ``Bearer <token>`` (case-insensitive, located with ``str.find``).
* Values assigned to a credential-like key: ``password=…``, ``api_key: …``,
  ``"client_secret": "…"``. Keywords are located with ``str.find`` on the
  lower-cased text, then a bounded pattern reads the value.

Only the secret value is reported, not the key name or the word "Bearer",
so a redacted text still says what was there.
"""

from __future__ import annotations

import re
from itertools import repeat
from operator import getitem

from tandem.privacy.spans import SECRET, Span

__all__ = ["find_secrets", "lower_same_length"]

# Provider tokens, grouped by a character every token of the group contains
# right after its prefix ("ghp_…" -> "_", "sk-…" -> "-"). Each pattern
# starts with that literal character, which the regex engine finds with a
# fast single-character scan; lookbehinds check the prefix in front of it.
# Group i of a pattern is a token body whose prefix has _PREFIX_LENGTHS[i]
# characters before the match start.
_UNDERSCORE_TOKENS = re.compile(
    r"_(?:"
    r"(?<=gh[pousr]_)([0-9A-Za-z]{30,})"  # GitHub
    r"|(?<=github_pat_)([0-9A-Za-z_]{22,})"  # GitHub fine-grained
    r"|(?<=[rs]k_live_)([0-9A-Za-z]{16,})"  # Stripe secret/restricted, live
    r"|(?<=[rs]k_test_)([0-9A-Za-z]{16,})"  # Stripe, test mode
    r"|(?<=hf_)([0-9A-Za-z]{30,})"  # Hugging Face
    r"|(?<=npm_)([0-9A-Za-z]{36})"  # npm
    r")"
)
_DASH_TOKENS = re.compile(
    r"-(?:"
    r"(?<=sk-)((?:ant-|proj-|svcacct-|admin-)?[\w\-]{20,})"  # OpenAI, Anthropic
    r"|(?<=xox[abposr]-)([0-9A-Za-z\-]{10,})"  # Slack
    r"|(?<=glpat-)([\w\-]{20,})"  # GitLab
    r")"
)
_A_TOKENS = re.compile(
    r"A(?:(?:KIA|SIA|BIA|CCA)[0-9A-Z]{16}(?![0-9A-Za-z])"  # AWS access key id
    r"|Iza[\w\-]{35})"  # Google API key
)
_JWT = re.compile(r"eyJ[\w\-]{8,}\.eyJ[\w\-]{8,}\.[\w\-]*")  # header.payload.signature
_PREFIX_LENGTHS: dict[re.Pattern[str], tuple[int, ...]] = {
    _UNDERSCORE_TOKENS: (0, 3, 10, 7, 7, 2, 3),
    _DASH_TOKENS: (0, 2, 4, 5),
}
# A private key block: from its BEGIN line to the matching END line, or, if
# that is missing (a cut-off paste), over the base64 and header lines after
# BEGIN up to the first blank or other line.
_PEM_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----")
_PEM_LINES = re.compile(r"(?:\r?\n(?:[A-Za-z0-9+/=]{1,100}|[A-Za-z\-]{1,40}:[^\n]{0,200})){0,400}")
_PEM_MAX = 16384
_BEARER = re.compile(r"bearer[ \t]+([A-Za-z0-9\-._~+/]{12,}=*)", re.IGNORECASE)
_KEY_VALUE = re.compile(
    r"""([\w\-]{0,40})["']?[ \t]{0,3}(?::=|=>|[:=])[ \t]{0,3}"""
    r"""(?:"([^"\\\n]{1,512})"|'([^'\\\n]{1,512})'|([^\s"'`,;<>]{3,512}))"""
)
# Key names are found through these stems (one str.find each), then the
# whole identifier around the stem ("OPENAI_API_KEY", "db-password") decides.
_STEMS = ("pass", "pwd", "key", "secret", "token")
# A stem (6 characters at most), the rest of the key ([\w\-]{0,40}), a quote
# and three blanks fit before the separator of _KEY_VALUE.
_KEY_REACH = 6 + 40 + 1 + 3
_TAIL = slice(-_KEY_REACH, None)
# More than one separator per _DENSE characters in the first _SAMPLE (or a
# shorter text): scan for every stem. Code has one every 30 characters or
# so, text with labeled fields ("Phone: ...") one per 100, prose one per
# several hundred.
_SAMPLE, _DENSE = 2048, 48
# No strong key name contains these stems without also containing another.
_WEAK_ONLY_STEMS = frozenset({"pwd", "token"})
_IDENT_LEFT = re.compile(r"[\w\-]{0,40}")
# Identifiers that name a credential whatever its value looks like.
_STRONG_RE = re.compile(
    r"pass(?:word|wd|phrase)|api[_\-]?key|access[_\-]?key|private[_\-]?key|secret[_\-]?key"
    r"|client[_\-]?secret",
    re.IGNORECASE,
)
# Also ordinary words or commands ("The secret: be kind", "max_tokens=1024",
# "pwd"): a key that starts or ends with one needs a generated-looking value.
_WEAK_RE = re.compile(r"^(?:secret|token|pwd|pass)|(?:secret|token|pwd|pass)$", re.IGNORECASE)
_TRIVIAL = frozenset({"null", "none", "true", "false", "undefined", "nil", "empty", "required"})


def _looks_generated(value: str) -> bool:
    """Mixed letters and digits (8+ characters), or 16+ characters."""
    if len(value) >= 16:
        return True
    return len(value) >= 8 and any(ch.isdigit() for ch in value) and any(ch.isalpha() for ch in value)


def lower_same_length(text: str) -> str:
    """``text`` with ASCII letters lower-cased, one character per character.

    Keywords and markers searched in it are ASCII. For non-ASCII text every
    other character becomes ``?``: ``str.lower`` could change the length
    ("İ" becomes two characters), and the one-byte result is also faster to
    search than a two- or four-byte string.
    """
    if text.isascii():
        return text.lower()
    return text.encode("ascii", "replace").lower().decode("ascii")


def _word_start(text: str, pos: int) -> bool:
    return pos == 0 or not (text[pos - 1].isalnum())


def _key_strength(ident: str) -> int:
    """2 for a credential key name, 1 for a weak one, 0 for neither."""
    if _STRONG_RE.search(ident):
        return 2
    return 1 if _WEAK_RE.search(ident) else 0


def _stems_before_separators(lowered: str) -> tuple[str, ...]:
    """The key stems that can start a key-value match in ``lowered``.

    A match needs its stem in the _KEY_REACH characters before its ":" or
    "=", with no other separator between (the key, a quote and blanks are
    all that may stand there). Those stretches are joined and each stem is
    looked for once in that short text, instead of five scans of the whole
    text (about 3 µs/KB); a stem not found there cannot match anywhere.
    Few separators (prose: at most one per 512 characters) are found with
    single-character ``str.find`` (memchr); more, with one split of the
    text (:func:`_stems_before_many`).
    """
    limit = len(lowered) >> 9
    separators: list[int] = []
    for sep in ":=":
        at = lowered.find(sep)
        while at != -1:
            if len(separators) == limit:
                return _stems_before_many(lowered)
            separators.append(at)
            at = lowered.find(sep, at + 1)
    if not separators:
        return ()
    near = "\0".join([lowered[max(0, at - _KEY_REACH) : at] for at in separators])
    return tuple(filter(near.__contains__, _STEMS))


def _stems_before_many(lowered: str) -> tuple[str, ...]:
    """:func:`_stems_before_separators` of a text with many separators:
    the pieces of the text split at them end where a key would end."""
    # Code and config text have a separator every few characters: the
    # stretches would be most of the text, and splitting it costs more than
    # it saves. A sample of the start tells; a short text is not worth it
    # (counting would cost as much as the scans it could save).
    if len(lowered) < _SAMPLE or (lowered.count(":", 0, _SAMPLE) + lowered.count("=", 0, _SAMPLE)) * _DENSE > _SAMPLE:
        return _STEMS
    pieces = lowered.replace("=", ":").split(":")
    pieces.pop()  # no separator after the last piece
    near = "\0".join(map(getitem, pieces, repeat(_TAIL)))
    return tuple(filter(near.__contains__, _STEMS))


def _find_key_values(text: str, lowered: str, out: list[Span]) -> None:
    for stem in _stems_before_separators(lowered):
        pos = lowered.find(stem)
        while pos != -1:
            pos = _key_value_at(text, lowered, stem, pos, out)
            pos = lowered.find(stem, pos)


def _key_value_at(text: str, lowered: str, stem: str, pos: int, out: list[Span]) -> int:
    """Report the value assigned to the key around ``pos``; return where to go on."""
    m = _KEY_VALUE.match(text, pos + len(stem))
    if m is None:
        return pos + len(stem)
    group = m.lastindex or 4
    value = m.group(group)
    generated = _looks_generated(value)
    if not generated and stem in _WEAK_ONLY_STEMS:
        return m.end(1)  # "max_tokens: 512": only a strong key name would do
    lo = max(0, pos - 41)
    left = _IDENT_LEFT.match(lowered[pos - 1 : lo - 1 if lo else None : -1]) if pos else None
    ident = text[pos - (left.end() if left else 0) : m.end(1)]
    strength = _key_strength(ident)
    if strength == 0 or (strength == 1 and not generated):
        return m.end(1)
    if value.lower() in _TRIVIAL or set(value) == {"*"}:
        return m.end(1)
    out.append(Span(SECRET, m.start(group), m.end(group)))
    return m.end()


def _find_tokens(text: str, lowered: str, out: list[Span]) -> None:
    for char, pattern in (("_", _UNDERSCORE_TOKENS), ("-", _DASH_TOKENS)):
        if char not in text:
            continue
        lengths = _PREFIX_LENGTHS[pattern]
        for m in pattern.finditer(text):
            start = m.start() - lengths[m.lastindex or 0]
            if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
                out.append(Span(SECRET, start, m.end()))
    if "A" in text:
        _find_starting(text, _A_TOKENS, out)
    # "eyj" is looked for in ``lowered`` first: one byte a character, where
    # a text with a non-ASCII character has two or four.
    if "eyj" in lowered and "eyJ" in text:
        _find_starting(text, _JWT, out)


def _find_starting(text: str, pattern: re.Pattern[str], out: list[Span]) -> None:
    """Tokens of ``pattern`` that do not continue a word."""
    for m in pattern.finditer(text):
        start = m.start()
        if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
            out.append(Span(SECRET, start, m.end()))


def _find_pem(text: str, out: list[Span]) -> None:
    covered = 0
    for begin in _PEM_BEGIN.finditer(text):
        if begin.start() < covered:
            continue
        end_line = f"-----END {begin.group(1)}PRIVATE KEY-----"
        # str.find, not a lazy regex: a memchr-speed scan, so many BEGIN
        # lines without END cost little each.
        found = text.find(end_line, begin.end(), begin.end() + _PEM_MAX)
        if found != -1:
            covered = found + len(end_line)
        else:
            lines = _PEM_LINES.match(text, begin.end())
            covered = lines.end() if lines else begin.end()
        out.append(Span(SECRET, begin.start(), covered))


def find_secrets(text: str, lowered: str, out: list[Span]) -> None:
    """Append credential spans found in ``text`` to ``out``.

    ``lowered`` is ``text`` lower-cased with the same length (shared with
    other detectors).
    """
    _find_tokens(text, lowered, out)
    if "-----begin " in lowered and "-----BEGIN " in text:
        _find_pem(text, out)
    pos = lowered.find("bearer")
    while pos != -1:
        m = _BEARER.match(text, pos)
        if m is not None and _word_start(text, pos):
            out.append(Span(SECRET, m.start(1), m.end(1)))
        pos = lowered.find("bearer", pos + 6)
    _find_key_values(text, lowered, out)
