"""Restoring placeholders in a streamed reply.

A model streams its reply in arbitrary pieces, so ``<EMAIL_ADDRESS_1>`` may
arrive as ``<EMA`` + ``IL_ADDRESS_`` + ``1>``. :class:`StreamRestorer` emits
everything that can no longer be part of a placeholder at once and holds
back only a tail that could still become one of the placeholders the
redaction issued. A ``<`` followed by text that no issued placeholder starts
with (``<div``, ``< 3``) is released immediately, so ordinary text is never
delayed by more than the length of one placeholder.
"""

from __future__ import annotations

import bisect

from tandem.privacy.redaction import Redaction

__all__ = ["StreamRestorer"]

_OPENERS = ("<", "[", "&lt;")
_CLOSERS = (">", "]", "&gt;")
_BODY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


class StreamRestorer:
    """Restores placeholders across chunk boundaries of a streamed reply."""

    def __init__(self, redaction: Redaction) -> None:
        self._redaction = redaction
        self._keys = sorted(redaction.keys())
        self._key_set = frozenset(self._keys)
        longest = max((len(k) for k in self._keys), default=0)
        # opener (4) + space + key + space + closer (4)
        self._window = longest + 10
        self._pending = ""

    def feed(self, chunk: str) -> str:
        """Take the next chunk; return the text that is safe to emit now."""
        if not self._keys:
            return chunk
        buffer = self._pending + chunk
        hold = self._hold_from(buffer)
        self._pending = buffer[hold:]
        return self._redaction.restore(buffer[:hold])

    def flush(self) -> str:
        """End of stream: return whatever is still held, restored if possible."""
        rest, self._pending = self._pending, ""
        return self._redaction.restore(rest)

    def _hold_from(self, buffer: str) -> int:
        """Index of the earliest unfinished placeholder at the end of ``buffer``."""
        n = len(buffer)
        start = max(0, n - self._window)
        for i in range(start, n):
            if buffer[i] in "<[&" and self._could_become_placeholder(buffer, i):
                return i
        return n

    def _could_become_placeholder(self, buffer: str, i: int) -> bool:
        """Whether ``buffer[i:]`` (running to the end) is an unfinished placeholder."""
        rest = buffer[i:]
        for opener in _OPENERS:
            if rest.startswith(opener):
                rest = rest[len(opener) :]
                break
        else:
            return "&lt;".startswith(rest)  # "&", "&l", "&lt"
        if rest[:1] == " ":
            rest = rest[1:]
        j = 0
        while j < len(rest) and rest[j] in _BODY_CHARS:
            j += 1
        body, after = rest[:j].upper(), rest[j:]
        if not after:
            return self._is_key_prefix(body)
        if body not in self._key_set:
            return False
        if after[:1] == " ":
            after = after[1:]
        # Complete closers are finished placeholders (restore() handles them);
        # a partial "&gt;" may still complete.
        return after in ("", "&", "&g", "&gt") and after not in _CLOSERS

    def _is_key_prefix(self, body: str) -> bool:
        if not body:
            return True
        k = bisect.bisect_left(self._keys, body)
        return k < len(self._keys) and self._keys[k].startswith(body)
