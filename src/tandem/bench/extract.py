"""Reading answers out of free-text replies: normalized text, the last number,
the chosen option letter, the JSON value. Pure functions, shared by the scorers."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from tandem.bench.dataset import LETTERS

__all__ = ["extract_choice", "extract_json", "last_number", "normalize"]


def normalize(text: str) -> str:
    """Lower case, no punctuation, single spaces (Unicode-aware)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text)
    return " ".join(text.split())


_NUMBER = re.compile(r"(-?)\$?\s?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)")


def last_number(text: str) -> float | None:
    """The last number in ``text``: ``1,234``, ``$18.00``, ``-3.5``, ``50%``; GSM8K's
    ``#### 72`` wins over any later number."""
    marked = re.search(r"####\s*(.+)", text)
    if marked and _NUMBER.search(marked.group(1)):
        text = marked.group(1)
        found = _NUMBER.findall(text)[:1]
    else:
        found = _NUMBER.findall(text)
    if not found:
        return None
    sign, digits = found[-1]
    return float(sign + digits.replace(",", ""))


_EXPLICIT = re.compile(
    r"(?:answer|option|choice)\s*(?:is|would be|:|=|-)?\s*(?:option|choice)?\s*[\(\[\*]*\s*([A-Za-z])\b",
    re.IGNORECASE,
)
#: After "A" or "I": an English word, so the letter is the article or pronoun.
_AS_WORD = re.compile(r"\s+(?!is\b|would\b|seems\b|because\b|since\b|as\b|or\b|and\b)[a-z]")


def _word_use(letter: str, rest: str) -> bool:
    return letter in "AI" and _AS_WORD.match(rest) is not None


def extract_choice(reply: str, letters: str = "ABCD", choices: list[str] | None = None) -> str | None:
    """The option letter chosen in ``reply``, or None if there is no clear one.

    Tried in order: "the answer is (B)", "Answer: b", "option C" and the like;
    a reply starting with a letter ("B", "B.", "(B) ..."); the only bracketed
    letter "(B)"; the only option letter standing alone (not the article in
    "A word"); the only option whose text appears in the reply.
    """
    text = reply.strip()
    for m in _EXPLICIT.finditer(text):
        letter = m.group(1)
        rest = text[m.end() :]
        if letter.upper() not in letters:
            continue
        if letter.islower() and re.match(r"\s+[a-zA-Z]", rest):
            continue  # "the answer is a bit unclear"
        if _word_use(letter, rest):
            continue
        return letter.upper()
    lone = re.fullmatch(rf"[\(\[\*]*([{letters.lower()}])[\)\]\.\*]*", text)
    if lone:
        return lone.group(1).upper()
    first = re.match(rf"^[\(\[\*\s]*([{letters}])(?:[\)\]\.:,\*]|\s|$)", text)
    if first:
        rest = text[first.start(1) + 1 :]
        two = re.match(rf"[\)\]\.\*]*\s*(?:or|and|/|,)\s*[\(\[]?[{letters}]\b", rest)
        if not two and not _word_use(first.group(1), rest):
            return first.group(1)
    found: set[str] = set(re.findall(rf"\(([{letters}])\)", text))
    if len(found) == 1:
        return found.pop()
    alone: set[str] = {
        m.group(1)
        for m in re.finditer(rf"(?<![\w'])([{letters}])(?![\w'])", text)
        if not _word_use(m.group(1), text[m.end() :])
    }
    if len(alone) == 1:
        return alone.pop()
    if choices:
        got = f" {normalize(text)} "
        hits = [LETTERS[i] for i, c in enumerate(choices) if normalize(c) and f" {normalize(c)} " in got]
        if len(hits) == 1:
            return hits[0]
    return None


def extract_json(reply: str) -> Any:
    """The JSON value in ``reply`` (whole, in a code fence, or the first object or
    array in prose). Raises ValueError if there is none."""
    text = reply.strip()
    fence = re.search(r"```(?:json|JSON)?\s*\n?(.*?)```", text, re.DOTALL)
    if fence:
        text = fence.group(1).strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[\{\[]", text):
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        return value
    raise ValueError("no JSON value in the reply")
