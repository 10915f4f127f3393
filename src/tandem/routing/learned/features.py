"""Topic-independent difficulty features of a prompt, cheap enough for the hot path.

The learned router must generalize to subjects and tasks it never saw, so
these features describe the *shape* of a prompt rather than its topic:
length, how much arithmetic it carries, how its question is built (negation,
conditions, multi-statement or scenario pairs) and what its answer options
look like (how many, how long, numeric or not, how repetitive). Lexicons are
small sets of function words and cue words, never subject names.

Speed matters more than elegance here (the gateway calls this once per
request, p99 budget under a millisecond), so the text is scanned a few times
by C code (``re.findall``, ``str.count``, ``bytes.translate``), per-word
statistics are list comprehensions, and cue words are found with one set
intersection. Prompts longer than :data:`MAX_CHARS` are cut to their head
and tail, which bounds the cost of a very long prompt.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import numpy.typing as npt

from tandem.routing.learned.lexicon import CUES, PHRASES, UPPER_CUES

__all__ = ["FEATURE_NAMES", "MAX_CHARS", "extract", "extract_many"]

#: Only the head and the tail of very long prompts are scanned (length
#: features still see the full length): the cost stays bounded and the
#: question and its options, which sit at the end, are always included.
MAX_CHARS = 1500

_WORD = re.compile(r"[A-Za-z]+")
_NUM = re.compile(r"\d+(?:[.,/]\d+)*")
_OPTION = re.compile(r"[ \t]*\(?([A-J])[.)][ \t]+(.*)")
#: Answer options are looked for in this many last lines only (they end the prompt).
_OPTION_LINES = 16
_SENT_END = re.compile(r"[.!?](?:\s|$)")
_ROMAN = re.compile(r"\b(?:I{1,3}|IV|VI?)\b(?:,| and| or| only)")
_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = b"0123456789"
_MATH = b"=+*/^<>%$\\~"
#: sum, integral, root, <=, >=, !=, implies, or, and, equiv, tilde, dot, times, divide, pi
_MATH_UNICODE = tuple("\u2211\u222b\u221a\u2264\u2265\u2260\u2283\u2228\u2227\u2261\u223c\u00b7\u00d7\u00f7\u03c0")
_PUNCT = b"()[]{};:|\"'"

_CATS = tuple(CUES)
_FRACTION_CAT = _CATS.index("fraction")
_PERCENT_CAT = _CATS.index("percent")
#: word as written (lower, Capitalized, UPPER) -> its categories: no lower() per word
_CAT_OF: dict[str, list[int]] = {}
for _i, _cat in enumerate(_CATS):
    for _w in CUES[_cat]:
        for _form in {_w, _w.capitalize(), _w.upper()}:
            _CAT_OF.setdefault(_form, []).append(_i)


_BASE = (
    "log_chars",
    "log_words",
    "lines",
    "log_stem_chars",
    "n_options",
    "opt_len_mean",
    "opt_len_max",
    "opt_len_min",
    "opt_len_cv",
    "opt_numeric_share",
    "opt_vocab_diversity",
    "opt_words_mean",
    "digit_share",
    "log_numbers",
    "log_stem_numbers",
    "log_option_numbers",
    "log_distinct_numbers",
    "max_number_log10",
    "log_math_chars",
    "math_share",
    "punct_share",
    "mean_word_len",
    "long_word_share",
    "capitalized_share",
    "allcaps_share",
    "sentences",
    "words_per_sentence",
    "question_marks",
    "log_bars",
    "log_roman",
    "log_tex",
    "upper_cues",
    "last_sentence_len",
    "log_decimals",
    "log_fractions",
    "log_money",
    "log_percent",
)
#: Names of the features, in the order :func:`extract` returns them.
FEATURE_NAMES: tuple[str, ...] = (
    *_BASE,
    *(f"cue_{c}" for c in _CATS),
    *(f"phrase_{p}" for p in PHRASES),
)


def _clip_text(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    half = MAX_CHARS // 2
    return text[:half] + "\n" + text[-half:]


def _option_stats(text: str) -> tuple[int, list[float], int, int, str]:
    """Answer options (``A. ...`` lines): count, their stats, word and number counts, the stem."""
    lines = text.rsplit("\n", _OPTION_LINES)
    opts: list[tuple[str, str]] = []
    first = -1
    for i, line in enumerate(lines):
        m = _OPTION.match(line)
        if m is not None:
            opts.append((m.group(1), m.group(2)))
            if first < 0:
                first = i
    if len(opts) < 2:
        return 0, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 0, 0, text
    stem = "\n".join(lines[:first])
    lens = [len(o[1]) for o in opts]
    mean = sum(lens) / len(lens)
    std = math.sqrt(sum((x - mean) ** 2 for x in lens) / len(lens))
    words: list[str] = []
    numeric = n_nums = 0
    for _, body in opts:
        ow = _WORD.findall(body.lower())
        words.extend(ow)
        k = len(_NUM.findall(body))
        n_nums += k
        if len(ow) <= 2 and k:
            numeric += 1
    diversity = len(set(words)) / len(words) if words else 0.0
    stats = [
        math.log1p(mean),
        math.log1p(max(lens)),
        math.log1p(min(lens)),
        std / (mean + 1.0),
        numeric / len(opts),
        diversity,
    ]
    # +1: the option letter itself is a word of the full text
    return len(opts), stats, len(words) + len(opts), n_nums, stem


def extract(text: str) -> list[float]:
    """The feature vector of one prompt (see :data:`FEATURE_NAMES`)."""
    full_len = len(text)
    text = _clip_text(text)
    n = max(len(text), 1)
    n_opt, opt_stats, n_opt_words, opt_nums, stem = _option_stats(text)
    words = _WORD.findall(text)
    nw = max(len(words), 1)
    nums = _NUM.findall(text)
    stem_nums = max(len(nums) - opt_nums, 0)
    max_num = 0.0
    decimals = fractions = 0
    for x in nums:
        if "/" in x:
            fractions += 1
            continue
        if "." in x:
            decimals += 1
        try:
            max_num = max(max_num, math.log10(1.0 + float(x.replace(",", ""))))
        except ValueError:  # "1.2.3" style tokens are not numbers
            continue
    raw = text.encode("utf-8", "ignore")
    digits = len(raw) - len(raw.translate(None, _DIGITS))
    math_chars = len(raw) - len(raw.translate(None, _MATH))
    if len(raw) != len(text):  # non-ASCII text: count the few math symbols one by one
        math_chars += sum(text.count(c) for c in _MATH_UNICODE)
    punct = len(raw) - len(raw.translate(None, _PUNCT))
    sentences = max(1, len(_SENT_END.findall(stem)))
    stem_words = max(len(words) - n_opt_words, 0)

    # word statistics: comprehensions and C-level scans; the loop only visits cue words
    total_len = sum(map(len, words))
    long_words = len([w for w in words if len(w) >= 9])
    allcaps = len([w for w in words if w.isupper() and len(w) > 1])
    firsts = "".join([w[0] for w in words]).encode("ascii")
    caps = len(firsts) - len(firsts.translate(None, _UPPER))
    cats = [0] * len(_CATS)
    counts = Counter(words)
    for w in counts.keys() & _CAT_OF.keys():
        for i in _CAT_OF[w]:
            cats[i] += counts[w]
    low = text.lower()
    last = stem.rstrip().rsplit("\n", 1)[-1]
    last_sent = re.split(r"(?<=[.!?])\s+", last.strip())[-1] if last.strip() else ""
    base = [
        math.log1p(full_len),
        math.log1p(len(words)),
        float(text.count("\n")),
        math.log1p(len(stem)),
        float(n_opt),
        *opt_stats,
        (n_opt_words / n_opt - 1.0) if n_opt else 0.0,
        digits / n,
        math.log1p(len(nums)),
        math.log1p(stem_nums),
        math.log1p(len(nums) - stem_nums),
        math.log1p(len(set(nums))),
        max_num,
        math.log1p(math_chars),
        math_chars / n,
        punct / n,
        total_len / nw,
        long_words / nw,
        caps / nw,
        allcaps / nw,
        float(sentences),
        stem_words / sentences,
        float(text.count("?")),
        math.log1p(text.count("|")),
        math.log1p(len(_ROMAN.findall(text[len(stem) :]))),
        math.log1p(raw.count(b"^") + raw.count(b"\\")),
        math.log1p(sum(text.count(u) for u in UPPER_CUES)),
        math.log1p(len(last_sent)),
        math.log1p(decimals),
        math.log1p(fractions + cats[_FRACTION_CAT] + raw.count(b"\\frac")),
        math.log1p(raw.count(b"$")),
        math.log1p(raw.count(b"%") + cats[_PERCENT_CAT]),
    ]
    cues = [math.log1p(c) for c in cats]
    phrases = [math.log1p(sum(low.count(p) for p in group)) for group in PHRASES.values()]
    return base + cues + phrases


def extract_many(texts: list[str]) -> npt.NDArray[np.float64]:
    """Features of many prompts as a ``(len(texts), len(FEATURE_NAMES))`` array."""
    out = np.zeros((len(texts), len(FEATURE_NAMES)), dtype=np.float64)
    for i, t in enumerate(texts):
        out[i] = extract(t)
    return out
