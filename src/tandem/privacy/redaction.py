"""Pseudonymization: typed placeholders in, original values back out.

A request's texts are redacted together into one :class:`Redaction`, so the
same value gets the same placeholder (``<EMAIL_ADDRESS_1>``) in every
message, and the model can still refer to "the same e-mail" consistently.
The reply is restored with :meth:`Redaction.restore`, or chunk by chunk with
a :class:`~tandem.privacy.stream.StreamRestorer` for streamed replies.

Models sometimes reformat what they copy, so restoration also accepts a
placeholder with ``[ ]`` or HTML-escaped ``&lt; &gt;`` brackets, a space
inside the brackets, or a lower-case type: ``[email_address_1]``. Only
placeholders this redaction issued are replaced; anything else is left as
written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tandem.privacy.spans import Span

if TYPE_CHECKING:
    from tandem.privacy.stream import StreamRestorer

__all__ = ["PLACEHOLDER_RE", "Redaction"]

#: A placeholder as issued (``<TYPE_N>``) or as a model may rewrite it.
PLACEHOLDER_RE = re.compile(r"(?:<|&lt;|\[)[ ]?([A-Za-z][A-Za-z_]{0,39}_[0-9]{1,6})[ ]?(?:>|&gt;|\])")
_ISSUED_RE = re.compile(r"<([A-Z][A-Z_]{0,39}_[0-9]{1,6})>")


class Redaction:
    """The redacted texts of one request and the way back to the originals.

    ``texts`` are the redacted texts in input order; ``counts`` maps entity
    type to the number of values found (occurrences, never the values). The
    object holds personal data; its ``repr`` shows only counts.
    """

    __slots__ = ("_by_value", "_next", "_originals", "counts", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.counts: dict[str, int] = {}
        self._originals: dict[str, str] = {}  # "EMAIL_ADDRESS_1" -> original
        self._by_value: dict[tuple[str, str], str] = {}  # (type, folded value) -> key
        self._next: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Redaction(texts={len(self.texts)}, counts={self.counts!r})"

    def __bool__(self) -> bool:
        """True when anything was redacted."""
        return bool(self._originals)

    @property
    def placeholders(self) -> list[str]:
        """The placeholders issued, in order (no values)."""
        return [f"<{key}>" for key in self._originals]

    def reserve(self, texts: Iterable[str]) -> None:
        """Never issue a placeholder that already occurs in ``texts``.

        A user who pastes ``<EMAIL_ADDRESS_1>`` literally must not have it
        "restored" into someone's address in the reply.
        """
        for text in texts:
            if "<" not in text:
                continue
            for m in _ISSUED_RE.finditer(text):
                etype, _, number = m.group(1).rpartition("_")
                self._next[etype] = max(self._next.get(etype, 0), int(number))

    def add(self, text: str, spans: Sequence[Span], folded_values: Sequence[str]) -> None:
        """Append ``text`` with ``spans`` replaced by placeholders.

        ``folded_values[i]`` identifies the value of ``spans[i]`` (its text
        with invisible characters removed and look-alikes folded), so that
        disguised copies of one value share a placeholder.
        """
        if not spans:
            self.texts.append(text)
            return
        parts: list[str] = []
        last = 0
        for span, value in zip(spans, folded_values, strict=True):
            parts.append(text[last : span.start])
            parts.append(self._placeholder(span.entity_type, value, text[span.start : span.end]))
            last = span.end
        parts.append(text[last:])
        self.texts.append("".join(parts))

    def _placeholder(self, etype: str, value: str, original: str) -> str:
        self.counts[etype] = self.counts.get(etype, 0) + 1
        key = self._by_value.get((etype, value))
        if key is None:
            number = self._next.get(etype, 0) + 1
            self._next[etype] = number
            key = f"{etype}_{number}"
            self._by_value[(etype, value)] = key
            self._originals[key] = original
        return f"<{key}>"

    def original(self, key: str) -> str | None:
        """The original value for a placeholder key such as ``EMAIL_ADDRESS_1``."""
        return self._originals.get(key.upper())

    def restore(self, text: str) -> str:
        """Replace the placeholders in ``text`` by the original values."""
        if not self._originals or not ("<" in text or "[" in text or "&lt;" in text):
            return text
        return PLACEHOLDER_RE.sub(self._substitute, text)

    def _substitute(self, match: re.Match[str]) -> str:
        value = self._originals.get(match.group(1).upper())
        return match.group() if value is None else value

    def restorer(self) -> StreamRestorer:
        """A restorer for a streamed reply (see :class:`StreamRestorer`)."""
        from tandem.privacy.stream import StreamRestorer

        return StreamRestorer(self)

    def keys(self) -> list[str]:
        """Placeholder keys (``EMAIL_ADDRESS_1``…) issued, in order."""
        return list(self._originals)
