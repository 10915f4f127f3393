"""Prompt templates over table rows: ``"Summarize: {body}"``.

Python format syntax: ``{column}`` inserts a column's value, ``{price:.2f}``
formats it, ``{name!r}`` uses its repr, and ``{{``/``}}`` are literal braces.
A field is always a whole column name (``{a.b}`` is the column ``a.b``, not
an attribute), so a template can read nothing but the row. Nulls render as
the empty string; lists and structs as JSON.
"""

from __future__ import annotations

import difflib
import hashlib
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["PromptTemplate", "TemplateError"]


class TemplateError(ValueError):
    """The template is malformed or names a column the table lacks."""


@dataclass(frozen=True, slots=True)
class _Field:
    literal: str
    name: str | None
    spec: str
    conversion: str | None


class PromptTemplate:
    """A prompt template, parsed once and rendered per row."""

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise TemplateError(f"invalid prompt template: {exc} (write literal braces as {{{{ and }}}})") from None
        parts: list[_Field] = []
        for literal, name, spec, conversion in parsed:
            if name is not None:
                if name == "" or name.isdigit():
                    raise TemplateError(
                        "invalid prompt template: name a column inside braces, as {body} "
                        "(write literal braces as {{ and }})"
                    )
                if spec and ("{" in spec):
                    raise TemplateError(f"invalid prompt template: nested field in {{{name}:{spec}}}")
                if conversion not in (None, "s", "r", "a"):
                    raise TemplateError(f"invalid prompt template: unknown conversion !{conversion}")
            parts.append(_Field(literal, name, spec or "", conversion))
        self._parts = parts
        #: Column names in order of first use.
        self.fields: list[str] = list(dict.fromkeys(p.name for p in parts if p.name is not None))

    @property
    def digest(self) -> str:
        """A hash of the template text (part of a checkpoint's key)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def check(self, columns: Sequence[str]) -> None:
        """Raise :class:`TemplateError` naming every field that is not a column."""
        have = set(columns)
        missing = [f for f in self.fields if f not in have]
        if not missing:
            return
        hints = []
        for name in missing:
            close = difflib.get_close_matches(name, list(columns), n=1)
            hints.append(f"{{{name}}}" + (f" (did you mean {{{close[0]}}}?)" if close else ""))
        cols = ", ".join(columns) if len(columns) <= 30 else ", ".join(columns[:30]) + ", ..."
        plural = "s" if len(missing) > 1 else ""
        raise TemplateError(
            f"unknown column{plural} in the prompt template: {', '.join(hints)}. "
            f"The input has: {cols}. Write literal braces as {{{{ and }}}}."
        )

    def render(self, row: Mapping[str, Any]) -> str:
        """The prompt for one row (a mapping of column name to value)."""
        out: list[str] = []
        for part in self._parts:
            out.append(part.literal)
            if part.name is None:
                continue
            raw = row[part.name]
            if raw is None:
                continue
            value = _plain(raw)
            if part.conversion == "r":
                value = repr(value)
            elif part.conversion == "a":
                value = ascii(value)
            elif part.conversion == "s":
                value = str(value)
            try:
                out.append(format(value, part.spec))
            except (ValueError, TypeError) as exc:
                raise TemplateError(
                    f"cannot format column {part.name!r} value {value!r} with {{{part.name}:{part.spec}}}: {exc}"
                ) from None
        return "".join(out)


def _plain(value: Any) -> Any:
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=str).decode()
    return value
