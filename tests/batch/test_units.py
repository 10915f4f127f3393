"""Templates, schemas and tables on their own."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from tandem.batch.schema import OutputSchema, ReplyError, SchemaError
from tandem.batch.tables import TableError, format_of, read_table, write_table
from tandem.batch.template import PromptTemplate, TemplateError


def test_template_renders_columns_specs_and_escaped_braces() -> None:
    t = PromptTemplate('Item {name!r} costs {price:.2f}; JSON: {{"k": {tags}}} {missing_ok}')
    assert t.fields == ["name", "price", "tags", "missing_ok"]
    out = t.render({"name": "pen", "price": 1.5, "tags": ["a", "b"], "missing_ok": None})
    assert out == 'Item \'pen\' costs 1.50; JSON: {"k": ["a","b"]} '


def test_template_unknown_column_names_it_and_suggests() -> None:
    t = PromptTemplate("Summarize {bdy} for {user}")
    with pytest.raises(TemplateError) as err:
        t.check(["id", "body", "user"])
    msg = str(err.value)
    assert "{bdy}" in msg and "did you mean {body}" in msg and "{{" in msg and "user" in msg


@pytest.mark.parametrize("text", ["{}", "{0}", "a } b", "a { b", "{x!z}"])
def test_template_malformed(text: str) -> None:
    with pytest.raises(TemplateError, match="template"):
        PromptTemplate(text)


def test_template_fields_are_whole_column_names_never_attributes() -> None:
    t = PromptTemplate("{a.b} {c[0]}")
    assert t.fields == ["a.b", "c[0]"]
    assert t.render({"a.b": "x", "c[0]": "y"}) == "x y"


SCHEMA = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "score": {"type": "number"},
        "ok": {"type": "boolean"},
        "label": {"type": "string", "enum": ["spam", "ham"]},
        "maybe": {"type": ["integer", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "who": {"type": "object", "properties": {"name": {"type": "string"}}},
        "free": {},
    },
    "required": ["n", "ok"],
}


def test_schema_columns_are_typed() -> None:
    s = OutputSchema(SCHEMA)
    types = dict(s.columns)
    assert types["n"] == pa.int64() and types["score"] == pa.float64() and types["ok"] == pa.bool_()
    assert types["label"] == pa.string() and types["maybe"] == pa.int64()
    assert types["tags"] == pa.list_(pa.string())
    assert types["who"] == pa.struct([pa.field("name", pa.string())])
    assert types["free"] == pa.string()  # JSON text


def test_schema_parse_coerces_and_accepts_fenced_replies() -> None:
    s = OutputSchema(SCHEMA)
    reply = '```json\n{"n": 3.0, "score": 2, "ok": false, "free": {"x": 1}, "tags": ["a"]}\n```'
    assert s.parse(reply) == {
        "n": 3,
        "score": 2.0,
        "ok": False,
        "label": None,
        "maybe": None,
        "tags": ["a"],
        "who": None,
        "free": '{"x":1}',
    }
    assert s.parse('Sure! {"n": 1, "ok": true} Hope this helps.')["n"] == 1


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        ("not json at all", "not JSON"),
        ('{"ok": true}', "'n' is a required property"),
        ('{"n": "forty", "ok": true}', "at n"),
        ('{"n": 1, "ok": true, "label": "eggs"}', "at label"),
        ('{"n": 1.5, "ok": true}', "at n"),
    ],
)
def test_schema_parse_rejects_invalid_replies(reply: str, match: str) -> None:
    with pytest.raises(ReplyError, match=match):
        OutputSchema(SCHEMA).parse(reply)


def test_schema_load_openai_wrapper_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "triage.json"
    inner = {"type": "object", "properties": {"a": {"type": "string"}}}
    p.write_text(json.dumps({"name": "triage", "strict": True, "schema": inner}))
    s = OutputSchema.load(p)
    assert s.response_format() == {
        "type": "json_schema",
        "json_schema": {
            "name": "triage",
            "strict": True,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
        },
    }
    assert OutputSchema.load(str(p)).name == "triage"
    with pytest.raises(SchemaError, match="object with properties"):
        OutputSchema({"type": "string"})
    with pytest.raises(SchemaError, match="invalid JSON schema"):
        OutputSchema({"type": "object", "properties": {"a": {"type": "nope"}}})
    with pytest.raises(SchemaError, match="cannot read"):
        OutputSchema.load(tmp_path / "missing.json")


def test_tables_round_trip_and_formats(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text('id,text\n007,"a, ""quoted""\nline"\n8,\n')
    t = read_table(tmp_path / "in.csv")
    assert t.column("id").to_pylist() == ["007", "8"]  # CSV columns stay text
    assert t.column("text").to_pylist() == ['a, "quoted"\nline', ""]
    nested = t.append_column("tags", pa.array([["x"], None], pa.list_(pa.string())))
    for ext in ("csv", "tsv", "jsonl", "parquet"):
        write_table(nested, tmp_path / f"out.{ext}")
        back = read_table(tmp_path / f"out.{ext}")
        assert back.column("id").to_pylist() == ["007", "8"]
        assert back.column("text").to_pylist()[0] == 'a, "quoted"\nline'
    assert read_table(tmp_path / "out.parquet").column("tags").to_pylist() == [["x"], None]
    assert read_table(tmp_path / "out.csv").column("tags").to_pylist() == ['["x"]', ""]
    with pytest.raises(TableError, match=r"\.jsonl"):
        format_of("x.json")
    with pytest.raises(TableError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files
