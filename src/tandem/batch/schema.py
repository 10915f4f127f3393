"""Structured output: a JSON schema turned into typed output columns.

The request carries OpenAI's ``response_format`` ``json_schema``; the reply is
parsed, validated against the schema (``jsonschema``, draft 2020-12) and
split into one column per top-level property, typed from the schema:

==========================  ===============================
schema                      Arrow column
==========================  ===============================
``integer``                 int64
``number``                  float64
``boolean``                 bool
``string`` (or str enum)    string
``array`` with ``items``    list of the item type
``object`` with properties  struct
anything else               string holding JSON text
==========================  ===============================

``["integer", "null"]`` is a nullable int64. Replies wrapped in prose or a
Markdown code fence (small models do that) are accepted when exactly the
text between the first ``{`` and the last ``}`` is a valid object.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa  # type: ignore[import-untyped]

__all__ = ["OutputSchema", "ReplyError", "SchemaError"]

_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")
_FENCE_RE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```$", re.S)
_JSON_TEXT = pa.string()


class SchemaError(ValueError):
    """The JSON schema file is unreadable or unusable for output columns."""


class ReplyError(ValueError):
    """A reply is not JSON or does not match the schema."""


def _json_type(schema: dict[str, Any]) -> str | None:
    """The single non-null JSON type a schema allows, else None."""
    kind = schema.get("type")
    if isinstance(kind, list):
        rest = [k for k in kind if k != "null"]
        return rest[0] if len(rest) == 1 else None
    if kind is None and isinstance(schema.get("enum"), list) and schema["enum"]:
        kinds = {type(v) for v in schema["enum"] if v is not None}
        return {
            frozenset({str}): "string",
            frozenset({int}): "integer",
            frozenset({bool}): "boolean",
        }.get(frozenset(kinds))
    if kind is None and "properties" in schema:
        return "object"
    return kind if isinstance(kind, str) else None


def arrow_type(schema: Any) -> pa.DataType:
    """The Arrow type of a column holding values of ``schema``."""
    if not isinstance(schema, dict):
        return _JSON_TEXT
    kind = _json_type(schema)
    if kind == "integer":
        return pa.int64()
    if kind == "number":
        return pa.float64()
    if kind == "boolean":
        return pa.bool_()
    if kind == "string":
        return pa.string()
    if kind == "array" and isinstance(schema.get("items"), dict):
        return pa.list_(arrow_type(schema["items"]))
    if kind == "object" and isinstance(schema.get("properties"), dict) and schema["properties"]:
        return pa.struct([pa.field(k, arrow_type(v)) for k, v in schema["properties"].items()])
    return _JSON_TEXT


def _coerce(value: Any, t: pa.DataType) -> Any:
    """``value`` (already valid against the schema) as a Python value of Arrow type ``t``."""
    if value is None:
        return None
    if t == _JSON_TEXT:
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    if pa.types.is_int64(t):
        return int(value)  # the schema check admitted an integral float such as 3.0
    if pa.types.is_float64(t):
        return float(value)
    if pa.types.is_list(t):
        return [_coerce(v, t.value_type) for v in value]
    if pa.types.is_struct(t):
        return {f.name: _coerce(value.get(f.name), f.type) for f in t}
    return value


def extract_json(text: str) -> Any:
    """The JSON object in a reply: the whole text, a fenced block, or the outermost braces."""
    text = text.strip()
    candidates = [text]
    m = _FENCE_RE.match(text)
    if m:
        candidates.append(m.group(1).strip())
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for c in candidates:
        try:
            return orjson.loads(c)
        except orjson.JSONDecodeError:
            continue
    snippet = text[:200] + ("..." if len(text) > 200 else "")
    raise ReplyError(f"reply is not JSON: {snippet!r}")


class OutputSchema:
    """A JSON schema for the reply and the typed columns it yields."""

    def __init__(self, schema: dict[str, Any], name: str = "output", strict: bool | None = None) -> None:
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
        from jsonschema.exceptions import SchemaError as JsonSchemaError  # type: ignore[import-untyped]

        if not isinstance(schema, dict):
            raise SchemaError("the JSON schema must be an object")
        try:
            Draft202012Validator.check_schema(schema)
        except JsonSchemaError as exc:
            raise SchemaError(f"invalid JSON schema: {exc.message}") from None
        props = schema.get("properties")
        if _json_type(schema) != "object" or not isinstance(props, dict) or not props:
            raise SchemaError(
                "the JSON schema must describe an object with properties, e.g. "
                '{"type": "object", "properties": {"sentiment": {"type": "string"}}}'
            )
        self.schema = schema
        self.name = (_NAME_RE.sub("_", name).strip("_") or "output")[:64]
        self.strict = strict
        self._validator = Draft202012Validator(schema)
        #: (column, Arrow type) for every top-level property, in schema order.
        self.columns: list[tuple[str, pa.DataType]] = [(k, arrow_type(v)) for k, v in props.items()]

    @classmethod
    def load(cls, source: str | Path | dict[str, Any], name: str | None = None) -> OutputSchema:
        """From a file path, JSON text or a dict: the schema itself, or OpenAI's
        ``{"name": ..., "schema": {...}, "strict": ...}`` wrapper."""
        default_name = name or "output"
        if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
            path = Path(source)
            try:
                text: str | bytes = path.read_bytes()
            except OSError as exc:
                raise SchemaError(f"cannot read JSON schema file {path}: {exc.strerror}") from None
            default_name = name or path.stem
            where = str(path)
        else:
            text = source if isinstance(source, str | bytes) else orjson.dumps(source)
            where = "the JSON schema"
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise SchemaError(f"{where} is not valid JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("schema"), dict) and "properties" not in data:
            strict = data.get("strict")
            return cls(
                data["schema"],
                str(data.get("name") or default_name),
                strict if isinstance(strict, bool) else None,
            )
        return cls(data, default_name)

    @property
    def digest(self) -> str:
        """A hash of the schema (part of a checkpoint's key)."""
        return hashlib.sha256(orjson.dumps(self.schema, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def response_format(self) -> dict[str, Any]:
        """OpenAI's ``response_format`` for this schema."""
        spec: dict[str, Any] = {"name": self.name, "schema": self.schema}
        if self.strict is not None:
            spec["strict"] = self.strict
        return {"type": "json_schema", "json_schema": spec}

    def validate(self, value: Any) -> dict[str, Any]:
        """``value`` if it matches the schema, else :class:`ReplyError` saying where."""
        from jsonschema.exceptions import best_match

        error = best_match(self._validator.iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            raise ReplyError(f"reply does not match the schema{f' at {where}' if where else ''}: {error.message}")
        assert isinstance(value, dict)
        return value

    def parse(self, text: str | None) -> dict[str, Any]:
        """The typed column values of one reply; raises :class:`ReplyError`."""
        if text is None:
            raise ReplyError("the reply has no text content")
        obj = self.validate(extract_json(text))
        return {name: _coerce(obj.get(name), t) for name, t in self.columns}
