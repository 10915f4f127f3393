"""Scorers: how good one reply is, as a number (1/0 for pass/fail, or 0..1).

Each scorer is a small class with a registry name, as the routing
objectives are. ``get_scorer("regex:^\\d+$")`` builds one from a spec:

``exact``        the reply equals the reference, ignoring case, punctuation
                 and runs of whitespace (any of a list of references)
``contains``     the normalized reference appears in the normalized reply
``regex[:PAT]``  ``re.search`` of the row's ``pattern``, else PAT, else the
                 reference, matches the reply
``numeric``      the last number in the reply (commas, ``$``, ``%`` ignored)
                 equals the reference's number (GSM8K: after ``####``)
``choice``       the letter picked in the reply (``The answer is (B)``)
                 is the reference letter (MMLU style)
``json_schema``  the reply parses as JSON (code fences and prose around it
                 are tolerated) and validates against the row's ``schema``
``judge``        a configured model rates the reply 1-10 (:mod:`.judge`)
``module:func``  any Python function ``func(reply, row) -> float | bool``;
                 ``path/to/file.py:func`` works too

A score of None means the reply could not be scored (a judge that gave no
rating); a failed *call* is scored 0 by the runner, not here.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import re
import sys
from abc import ABC
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from tandem.bench.dataset import LETTERS, DatasetError, Item
from tandem.bench.extract import extract_choice, extract_json, last_number, normalize

__all__ = ["SCORERS", "Scorer", "Verdict", "extract_choice", "extract_json", "get_scorer", "last_number", "normalize"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A score with a short note, and what scoring cost (judges call a model)."""

    score: float | None
    note: str = ""
    cost_usd: float = 0.0
    #: Seconds of a price-0 (local) judge model's time, charged at the hardware rate.
    compute_s: float = 0.0
    #: False when scoring itself broke: the reply is scored again on the next run.
    final: bool = True


class Scorer(ABC):
    """Scores one reply to one item."""

    name: ClassVar[str]
    #: Whether the scorer calls a model (it runs after all replies are in).
    needs_gateway: ClassVar[bool] = False

    def __init__(self, arg: str | None = None) -> None:
        self.arg = arg

    @property
    def spec(self) -> str:
        """What identifies this scorer's results (stored with each score)."""
        return f"{self.name}:{self.arg}" if self.arg else self.name

    def check(self, item: Item) -> None:
        """Raise :class:`DatasetError` if ``item`` lacks what this scorer needs."""
        if item.reference is None:
            raise DatasetError(f"item {item.id}: the {self.name} scorer needs a 'reference'")

    def score(self, reply: str, item: Item) -> float | None:
        """The score of ``reply``; None if it cannot be scored."""
        raise NotImplementedError

    async def ascore(self, reply: str, item: Item) -> Verdict:
        """The score with a note (a judge's rating, an error); async for judges."""
        return Verdict(self.score(reply, item))


def _references(item: Item) -> list[str]:
    ref = item.reference
    return [str(r) for r in ref] if isinstance(ref, list) else [str(ref)]


class Exact(Scorer):
    """Normalized exact match against any reference."""

    name = "exact"

    def score(self, reply: str, item: Item) -> float:
        got = normalize(reply)
        return float(any(got == normalize(r) for r in _references(item)))


class Contains(Scorer):
    """The normalized reference appears in the normalized reply (on word boundaries)."""

    name = "contains"

    def score(self, reply: str, item: Item) -> float:
        got = f" {normalize(reply)} "
        return float(any(f" {normalize(r)} " in got for r in _references(item) if normalize(r)))


class Regex(Scorer):
    """``re.search`` of the row's pattern (or the scorer's, or the reference)."""

    name = "regex"

    def _pattern(self, item: Item) -> str | None:
        if item.pattern is not None:
            return item.pattern
        if self.arg:
            return self.arg
        return str(item.reference) if item.reference is not None else None

    def check(self, item: Item) -> None:
        pattern = self._pattern(item)
        if pattern is None:
            raise DatasetError(f"item {item.id}: the regex scorer needs a 'pattern' (or regex:PATTERN)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DatasetError(f"item {item.id}: bad regular expression {pattern!r}: {exc}") from None

    def score(self, reply: str, item: Item) -> float:
        pattern = self._pattern(item)
        return float(pattern is not None and re.search(pattern, reply) is not None)


class Numeric(Scorer):
    """The last number in the reply equals the reference number."""

    name = "numeric"

    def check(self, item: Item) -> None:
        super().check(item)
        if last_number(str(item.reference)) is None:
            raise DatasetError(f"item {item.id}: reference {item.reference!r} has no number")

    def score(self, reply: str, item: Item) -> float:
        want = last_number(str(item.reference))
        got = last_number(reply)
        if want is None or got is None:
            return 0.0
        return float(math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9))


def _letters(item: Item | None) -> str:
    return LETTERS[: len(item.choices)] if item is not None and item.choices else "ABCD"


def _reference_letter(item: Item) -> str | None:
    ref = item.reference
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return LETTERS[ref] if item.choices is None or ref < len(item.choices) else None
    text = str(ref).strip().strip("()[].").strip()
    if len(text) == 1 and text.upper() in _letters(item):
        return text.upper()
    if item.choices:
        for i, c in enumerate(item.choices):
            if normalize(c) == normalize(text):
                return LETTERS[i]
    return None


class Choice(Scorer):
    """The letter chosen in the reply is the reference's."""

    name = "choice"

    def check(self, item: Item) -> None:
        super().check(item)
        if _reference_letter(item) is None:
            raise DatasetError(f"item {item.id}: reference {item.reference!r} is not an option letter")

    def score(self, reply: str, item: Item) -> float:
        got = extract_choice(reply, _letters(item), item.choices)
        return float(got is not None and got == _reference_letter(item))


class JsonSchema(Scorer):
    """The reply is JSON that validates against the row's schema (any JSON without one)."""

    name = "json_schema"

    def __init__(self, arg: str | None = None, schema: dict[str, Any] | None = None) -> None:
        super().__init__(arg)
        self.default_schema = schema
        self._validators: dict[str, Any] = {}

    def _validator(self, schema: dict[str, Any]) -> Any:
        try:
            import jsonschema  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise DatasetError("the json_schema scorer needs jsonschema: pip install jsonschema") from None

        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            cls = jsonschema.validators.validator_for(schema)
            try:
                cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise DatasetError(f"invalid JSON schema: {exc.message}") from None
            self._validators[key] = cls(schema)
        return self._validators[key]

    def check(self, item: Item) -> None:
        schema = item.schema or self.default_schema
        if schema is not None:
            try:
                self._validator(schema)
            except DatasetError as exc:
                raise DatasetError(f"item {item.id}: {exc}") from None

    def score(self, reply: str, item: Item) -> float:
        try:
            value = extract_json(reply)
        except ValueError:
            return 0.0
        schema = item.schema or self.default_schema
        if schema is None:
            return 1.0
        return float(self._validator(schema).is_valid(value))


def load_function(target: str) -> Callable[..., Any]:
    """``module:function`` or ``path/to/file.py:function``, imported."""
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise DatasetError(f"scorer {target!r}: expected module:function")
    if module_name.endswith(".py"):
        path = Path(module_name)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None or not path.exists():
            raise DatasetError(f"scorer {target!r}: cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise DatasetError(f"scorer {target!r}: cannot import {module_name} ({exc})") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise DatasetError(f"scorer {target!r}: {module_name} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]


class Function(Scorer):
    """A user's ``func(reply, row) -> float | bool`` (async functions too)."""

    name = "function"

    def __init__(self, arg: str | None = None) -> None:
        super().__init__(arg)
        assert arg is not None
        self.fn = load_function(arg)

    @property
    def spec(self) -> str:
        return f"function:{self.arg}"

    def check(self, item: Item) -> None:
        return None

    def score(self, reply: str, item: Item) -> float | None:
        value = self.fn(reply, item.row)
        return None if value is None else float(value)

    async def ascore(self, reply: str, item: Item) -> Verdict:
        try:
            value = self.fn(reply, item.row)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:  # a bug in the user's function scores the item None
            return Verdict(None, f"scorer raised {type(exc).__name__}: {exc}"[:200])
        if value is None:
            return Verdict(None, "scorer returned None")
        try:
            return Verdict(float(value))
        except (TypeError, ValueError):
            return Verdict(None, f"scorer returned {type(value).__name__}, not a number")


SCORERS: dict[str, type[Scorer]] = {cls.name: cls for cls in (Exact, Contains, Regex, Numeric, Choice, JsonSchema)}


def get_scorer(spec: str, **kwargs: Any) -> Scorer:
    """Build a scorer from ``name``, ``name:arg`` or ``module:function``.

    ``judge`` takes keyword arguments (the gateway, the judge model): see
    :class:`tandem.bench.judge.Judge`.
    """
    name, _, arg = spec.partition(":")
    if name == "judge":
        from tandem.bench.judge import Judge

        return Judge(arg or None, **kwargs)
    cls = SCORERS.get(name)
    if cls is not None:
        if cls is JsonSchema:
            return JsonSchema(arg or None, schema=kwargs.get("schema"))
        return cls(arg or None)
    if ":" in spec:
        return Function(spec)
    known = ", ".join([*SCORERS, "judge", "module:function"])
    raise DatasetError(f"unknown scorer {spec!r} (known: {known})")
