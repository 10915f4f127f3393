"""The privacy guard: the one object the gateway uses.

Typical use in a request::

    guard = PrivacyGuard()                          # once, at start-up
    messages, redaction = guard.redact_messages(request_messages)
    reply = call_upstream(messages)
    text = redaction.restore(reply)                 # or redaction.restorer()

A guard is immutable after construction and safe to share between
concurrent requests; all per-request state lives in the :class:`Redaction`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tandem.privacy.phones import DEFAULT_PHONE_REGIONS
from tandem.privacy.redaction import Redaction
from tandem.privacy.scanner import NerEngine, Scanner
from tandem.privacy.spans import (
    CREDIT_CARD,
    DEFAULT_ENTITIES,
    EMAIL_ADDRESS,
    IBAN_CODE,
    NER_ENTITIES,
    PHONE_NUMBER,
    US_SSN,
    Span,
)
from tandem.privacy.textfold import fold

__all__ = ["PrivacyGuard"]

Message = Mapping[str, Any]
_JOIN = "\n\n"


class PrivacyGuard:
    """Detects personal data and secrets, and pseudonymizes them reversibly.

    ``entities`` limits detection to these types (default: all pattern-based
    types, see :data:`DEFAULT_ENTITIES`). ``ner=True`` adds PERSON and
    LOCATION through a spaCy pipeline (slow; needs spaCy and a model).
    ``phone_regions`` are the regions whose national number formats count
    as phone numbers.
    """

    def __init__(
        self,
        entities: Iterable[str] | None = None,
        ner: bool = False,
        *,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
        ner_engine: NerEngine | None = None,
    ) -> None:
        known = DEFAULT_ENTITIES | NER_ENTITIES
        if entities is None:
            wanted = DEFAULT_ENTITIES | (NER_ENTITIES if ner else frozenset())
        else:
            wanted = frozenset(entities)
            unknown = sorted(wanted - known)
            if unknown:
                raise ValueError(f"unknown entity types: {', '.join(unknown)}")
        if wanted & NER_ENTITIES and not ner:
            raise ValueError("PERSON and LOCATION are found by the NER engine: pass ner=True")
        if ner and ner_engine is None:
            from tandem.privacy.ner import SpacyNer

            ner_engine = SpacyNer()
        self.entities: frozenset[str] = wanted
        self._scanner = Scanner(wanted, phone_regions=phone_regions, ner=ner_engine)

    def scan(self, text: str) -> list[Span]:
        """Entities in ``text``: non-overlapping, sorted, original offsets."""
        return self._scanner.scan(text)

    def contains_pii(self, texts: Iterable[str]) -> dict[str, int]:
        """Entity type -> occurrences across ``texts``; empty if none."""
        counts: dict[str, int] = {}
        for spans in self._scan_texts(list(texts)):
            for span in spans:
                counts[span.entity_type] = counts.get(span.entity_type, 0) + 1
        return counts

    def _scan_texts(self, texts: Sequence[str]) -> list[list[Span]]:
        """Scan several texts as one, so a request of many short messages
        pays the fixed cost of a scan once.

        The texts are joined with a blank line, which no detector matches
        across; a span that still crosses one (an unterminated PEM block) is
        cut at the text boundaries.
        """
        if len(texts) < 2:
            return [self._scanner.scan(t) for t in texts]
        starts: list[int] = []
        pos = 0
        for text in texts:
            starts.append(pos)
            pos += len(text) + len(_JOIN)
        per_text: list[list[Span]] = [[] for _ in texts]
        for span in self._scanner.scan(_JOIN.join(texts)):
            i = bisect.bisect_right(starts, span.start) - 1
            while i < len(texts) and starts[i] < span.end:
                lo = max(span.start, starts[i]) - starts[i]
                hi = min(span.end - starts[i], len(texts[i]))
                if lo < hi:
                    per_text[i].append(Span(span.entity_type, lo, hi, span.score))
                i += 1
        return per_text

    def redact(self, texts: Sequence[str]) -> Redaction:
        """Redact all texts of one request into one :class:`Redaction`.

        The same value gets the same placeholder in every text.
        """
        redaction = Redaction()
        redaction.reserve(texts)
        for text, spans in zip(texts, self._scan_texts(texts), strict=True):
            values = [_identity(text, s) for s in spans]
            redaction.add(text, spans, values)
        return redaction

    def redact_messages(self, messages: Sequence[Message]) -> tuple[list[dict[str, Any]], Redaction]:
        """Redact OpenAI chat ``messages``; returns new messages and the redaction.

        Redacted: ``content`` given as a string or as a list of parts (the
        ``text`` of ``{"type": "text"}`` parts; images and audio are passed
        through), and the ``arguments`` of assistant ``tool_calls``. The
        input messages are not modified; unchanged parts are shared.
        """
        slots: list[tuple[int, int, int]] = []  # (message, part or -1, tool call or -1)
        texts: list[str] = []
        for i, message in enumerate(messages):
            content = message.get("content")
            if isinstance(content, str):
                slots.append((i, -1, -1))
                texts.append(content)
            elif isinstance(content, list):
                for j, part in enumerate(content):
                    if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                        slots.append((i, j, -1))
                        texts.append(part["text"])
            for k, call in enumerate(message.get("tool_calls") or ()):
                args = _tool_arguments(call)
                if args is not None:
                    slots.append((i, -1, k))
                    texts.append(args)
        redaction = self.redact(texts)
        out: list[dict[str, Any]] = [dict(m) for m in messages]
        for (i, j, k), before, after in zip(slots, texts, redaction.texts, strict=True):
            if before == after:
                continue
            if k >= 0:
                calls = out[i]["tool_calls"] = list(out[i]["tool_calls"])
                call = calls[k] = dict(calls[k])
                call["function"] = {**call["function"], "arguments": after}
            elif j >= 0:
                if out[i]["content"] is messages[i]["content"]:
                    out[i]["content"] = list(out[i]["content"])
                out[i]["content"][j] = {**out[i]["content"][j], "text": after}
            else:
                out[i]["content"] = after
        return out, redaction


def _tool_arguments(call: Any) -> str | None:
    if not isinstance(call, Mapping):
        return None
    function = call.get("function")
    if isinstance(function, Mapping) and isinstance(function.get("arguments"), str):
        return str(function["arguments"])
    return None


_DIGITS_ONLY = frozenset({CREDIT_CARD, PHONE_NUMBER, US_SSN})


def _identity(text: str, span: Span) -> str:
    """The value of a span as compared for "same value".

    Disguises are removed, and formatting that does not change the value is
    ignored: "4111 1111 1111 1111" and "4111-1111-1111-1111" are one card,
    "John@Example.com" and "john@example.com" one address.
    """
    value = text[span.start : span.end]
    if not value.isascii():
        value = fold(value).text
    etype = span.entity_type
    if etype in _DIGITS_ONLY:
        return "".join(ch for ch in value if ch.isdigit())
    if etype == IBAN_CODE:
        return value.replace(" ", "").upper()
    if etype == EMAIL_ADDRESS:
        return value.lower()
    return value
