"""Each scorer on hand-made replies, malformed model output included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tandem.bench.dataset import DatasetError, Item
from tandem.bench.judge import Judge, parse_rating
from tandem.bench.scorers import extract_choice, extract_json, get_scorer, last_number, normalize


def item(reference: Any = None, **kw: Any) -> Item:
    prompt = kw.pop("prompt", "Q?")
    return Item(
        id=kw.pop("id", "1"),
        messages=[{"role": "user", "content": prompt}],
        prompt=prompt,
        reference=reference,
        row={"prompt": prompt, "reference": reference, **kw},
        **kw,
    )


def score(spec: str, reply: str, it: Item) -> float | None:
    s = get_scorer(spec)
    s.check(it)
    return s.score(reply, it)


def test_normalize() -> None:
    assert normalize("  The  Answer: PARIS!! ") == "the answer paris"
    assert normalize("Brasília.") == "brasília"
    assert normalize("\uff46\uff55\uff4c\uff4c\u3000width") == "full width"  # NFKC: full-width letters


@pytest.mark.parametrize(
    ("reply", "want"),
    [
        ("Paris", 1.0),
        ("paris.", 1.0),
        ("  PARIS \n", 1.0),
        ('"Paris!"', 1.0),
        ("The capital is Paris.", 0.0),
        ("", 0.0),
        ("Pari s", 0.0),
        ("Paris Paris", 0.0),
    ],
)
def test_exact(reply: str, want: float) -> None:
    assert score("exact", reply, item("Paris")) == want


def test_exact_any_of_several_references() -> None:
    it = item(["H2O", "water"])
    assert score("exact", "Water.", it) == 1.0
    assert score("exact", "h2o", it) == 1.0
    assert score("exact", "H2O2", it) == 0.0


@pytest.mark.parametrize(
    ("reply", "want"),
    [
        ("The capital is Paris.", 1.0),
        ("PARIS", 1.0),
        ("Parisian food", 0.0),
        ("", 0.0),
        ("I don't know", 0.0),
        ("paris, france", 1.0),
    ],
)
def test_contains_on_word_boundaries(reply: str, want: float) -> None:
    assert score("contains", reply, item("Paris")) == want


def test_contains_multiword_and_lists() -> None:
    assert score("contains", "They absorb carbon  dioxide.", item(["carbon dioxide", "CO2"])) == 1.0
    assert score("contains", "co2!", item(["carbon dioxide", "CO2"])) == 1.0
    assert score("contains", "8 legs", item(["8", "eight"])) == 1.0
    assert score("contains", "18 legs", item(["8", "eight"])) == 0.0


def test_reference_is_required() -> None:
    for spec in ("exact", "contains", "numeric", "choice"):
        with pytest.raises(DatasetError, match="reference"):
            get_scorer(spec).check(item(None))


def test_regex_sources_in_order() -> None:
    it = item(None, pattern=r"\b42\b")
    assert score("regex", "It is 42.", it) == 1.0
    assert score("regex", "It is 420.", it) == 0.0
    assert score(r"regex:^\d+$", "123", item(None)) == 1.0
    assert score(r"regex:^\d+$", "12a", item(None)) == 0.0
    assert score("regex", "x = 7", item(r"\d")) == 1.0  # the reference as a pattern
    with pytest.raises(DatasetError, match="bad regular expression"):
        get_scorer("regex").check(item(None, pattern="(unclosed"))
    with pytest.raises(DatasetError, match="needs a 'pattern'"):
        get_scorer("regex").check(item(None))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("The answer is 18.", 18.0),
        ("She makes $18.00 a day", 18.0),
        ("1,234 apples", 1234.0),
        ("Total: $1,234.50.", 1234.5),
        ("It fell to -3.5 degrees", -3.5),
        ("50%", 50.0),
        ("3 + 5 = 8. The answer is 8", 8.0),
        ("#### 72", 72.0),
        ("so 9 * 2 = 18\n#### 18\nthanks 5", 18.0),
        ("no digits here", None),
        ("", None),
        ("18.", 18.0),
    ],
)
def test_last_number(text: str, want: float | None) -> None:
    assert last_number(text) == want


@pytest.mark.parametrize(
    ("reply", "want"),
    [
        ("The answer is 18.", 1.0),
        ("$18", 1.0),
        ("18.0", 1.0),
        ("I think 17, no wait, 18", 1.0),
        ("18 eggs, so she earns 36", 0.0),
        ("eighteen", 0.0),
        ("", 0.0),
        ("18,000", 0.0),
    ],
)
def test_numeric(reply: str, want: float) -> None:
    assert score("numeric", reply, item("18")) == want


def test_numeric_gsm8k_reference_and_bad_reference() -> None:
    assert score("numeric", "= $1,000 total", item("She earns 10 * 100 = 1000.\n#### 1,000")) == 1.0
    with pytest.raises(DatasetError, match="has no number"):
        get_scorer("numeric").check(item("eighteen"))


@pytest.mark.parametrize(
    ("reply", "want"),
    [
        ("B", "B"),
        ("b", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        ("B) Jupiter", "B"),
        ("The answer is (B)", "B"),
        ("The answer is B because Jupiter is large.", "B"),
        ("Answer: b", "B"),
        ("answer: **C**", "C"),
        ("I think the correct option is D.", "D"),
        ("A good question. The answer is C.", "C"),
        ("A. Mars", "A"),
        ("A", "A"),
        ("A is correct", "A"),
        ("Jupiter", "B"),
        ("A lot of people say D", "D"),
        ("I'd say (C).", "C"),
        # no clear choice
        ("", None),
        ("I don't know", None),
        ("A or B", None),
        ("the answer is a bit unclear", None),
        ("E", None),
        ("Both Mars and Venus", None),
        ("(A) or (B)", None),
    ],
)
def test_extract_choice(reply: str, want: str | None) -> None:
    assert extract_choice(reply, "ABCD", ["Mars", "Jupiter", "Venus", "Earth"]) == want


def test_choice_scorer_reference_forms() -> None:
    choices = ["Mars", "Jupiter", "Venus", "Earth"]
    for ref in ("B", "b", "(B)", 1, "Jupiter"):
        assert score("choice", "The answer is (B).", item(ref, choices=choices)) == 1.0
    assert score("choice", "C", item("B", choices=choices)) == 0.0
    assert score("choice", "garbage !!", item("B", choices=choices)) == 0.0
    assert score("choice", "The answer is (B)", item("B")) == 1.0  # MMLU prompt with inline options
    with pytest.raises(DatasetError, match="not an option letter"):
        get_scorer("choice").check(item("Z", choices=choices))


def test_choice_more_than_four_options() -> None:
    choices = list("123456")
    assert score("choice", "The answer is F", item("F", choices=choices)) == 1.0
    assert extract_choice("E", "ABCD") is None


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


@pytest.mark.parametrize(
    ("reply", "want"),
    [
        ('{"name": "Ann", "age": 3}', 1.0),
        ('```json\n{"name": "Ann", "age": 3}\n```', 1.0),
        ('Sure! Here it is: {"name": "Ann", "age": 3} Hope that helps.', 1.0),
        ('{"name": "Ann", "age": "3"}', 0.0),  # wrong type
        ('{"name": "Ann"}', 0.0),  # missing key
        ('{"name": "Ann", "age": 3', 0.0),  # truncated
        ("name: Ann, age: 3", 0.0),
        ("", 0.0),
        ("null", 0.0),
        ("[1, 2]", 0.0),
    ],
)
def test_json_schema(reply: str, want: float) -> None:
    assert score("json_schema", reply, item(None, schema=SCHEMA)) == want


def test_json_schema_without_schema_and_default_schema() -> None:
    assert score("json_schema", "[1, 2]", item(None)) == 1.0
    assert score("json_schema", "not json", item(None)) == 0.0
    s = get_scorer("json_schema", schema=SCHEMA)
    assert s.score('{"name": "x", "age": 1}', item(None)) == 1.0
    assert s.score('{"name": "x"}', item(None)) == 0.0
    with pytest.raises(DatasetError, match="invalid JSON schema"):
        get_scorer("json_schema").check(item(None, schema={"type": "nonsense"}))
    assert extract_json('text {"a": {"b": [1]}} more') == {"a": {"b": [1]}}


async def test_function_scorer(tmp_path: Path) -> None:
    s = get_scorer("tests.bench_tool.helpers:reply_length")
    assert (await s.ascore("one two three", item(None))).score == pytest.approx(0.3)
    s = get_scorer("tests.bench_tool.helpers:is_long")
    assert (await s.ascore("a long enough reply", item(None))).score == 1.0
    assert (await s.ascore("short", item(None))).score == 0.0
    v = await get_scorer("tests.bench_tool.helpers:broken").ascore("x", item(None))
    assert v.score is None and "RuntimeError" in v.note
    f = tmp_path / "my_scorer.py"
    f.write_text("def score(reply, row):\n    return reply.strip() == row['reference']\n")
    s = get_scorer(f"{f}:score")
    assert (await s.ascore(" ok ", item("ok"))).score == 1.0
    with pytest.raises(DatasetError, match="cannot import"):
        get_scorer("no_such_module_xyz:fn")
    with pytest.raises(DatasetError, match="has no function"):
        get_scorer("tests.bench_tool.helpers:nope")
    with pytest.raises(DatasetError, match="unknown scorer"):
        get_scorer("bogus")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Solid answer.\nRating: [[7]]", 7.0),
        ("[[3]] at first, but on reflection Rating: [[6]]", 6.0),
        ("Rating: [[8.5]]", 8.5),
        ("Rating: [[ 9 / 10 ]]", 9.0),
        ("Rating: 4", 4.0),
        ("rating: **5**/10", 5.0),
        ("Rating: [[11]]", None),
        ("Rating: [[0]]", None),
        ("I refuse to rate.", None),
        ("", None),
    ],
)
def test_parse_rating(text: str, want: float | None) -> None:
    assert parse_rating(text) == want


def test_judge_prompt_fill_and_override(tmp_path: Path) -> None:
    j = Judge(model="m")
    text = j.prompt("My {answer} with braces", item("ref {x}", prompt="Why {sky}?"))
    assert "Why {sky}?" in text and "My {answer} with braces" in text and "ref {x}" in text
    assert "Rating: [[" in text
    assert "(none given)" in j.prompt("a", item(None))
    custom = tmp_path / "judge.txt"
    custom.write_text("Q: {question}\nA: {answer}\nSay [[N]].")
    j2 = Judge(model="m", prompt_path=custom)
    assert j2.prompt("yes", item(None, prompt="ok?")) == "Q: ok?\nA: yes\nSay [[N]]."
    assert j2.spec != j.spec  # another prompt, other scores
    bad = tmp_path / "bad.txt"
    bad.write_text("no placeholders")
    with pytest.raises(DatasetError, match="placeholder"):
        Judge(model="m", prompt_path=bad)
