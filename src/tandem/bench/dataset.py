"""Benchmark datasets: JSONL or CSV rows, or a sample shipped with tandem.

One row is one item. Recognised fields (all but the prompt are optional):

``prompt`` (or ``question``/``input``), or ``messages``
    The task: a text, or an OpenAI ``messages`` list used as it is.
``reference`` (or ``answer``)
    The expected answer: a text, a number, or a list of acceptable texts.
``id``
    A stable id (default: the row number), the key results are stored under.
``fewshot``
    Examples shown before the prompt: a list of ``{prompt, answer}``.
    ``--fewshot FILE`` gives the same for every row that has none.
``choices``
    Options of a multiple-choice item; they are appended to the prompt as
    ``A. ...`` lines. ``reference`` is then a letter, a 0-based index or the
    text of the right option.
``schema``
    A JSON schema the reply must satisfy (``json_schema`` scorer).
``pattern``
    A regular expression the reply must match (``regex`` scorer).

In CSV, list and object fields (``choices``, ``schema``, ``fewshot``) are JSON
text. Any other field is kept and handed to a user scorer as part of the row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["SAMPLES", "Dataset", "DatasetError", "Item", "Sample", "load_dataset", "sample_names"]

LETTERS = string.ascii_uppercase
_PROMPT_KEYS = ("prompt", "question", "input")
_REFERENCE_KEYS = ("reference", "answer")
_JSON_FIELDS = ("choices", "schema", "fewshot", "messages", "reference")


class DatasetError(ValueError):
    """A dataset file that cannot be read, or a row that cannot be used."""


@dataclass(frozen=True, slots=True)
class Sample:
    """A small dataset shipped in the package, with the scorer it is made for."""

    file: str
    scorer: str
    description: str
    max_tokens: int = 64
    fewshot: str | None = None
    system: str | None = None


#: Shipped datasets (``tandem bench NAME``), one per built-in scorer.
SAMPLES: dict[str, Sample] = {
    "capitals": Sample("capitals.jsonl", "exact", "15 capital cities, one-word answers", 16),
    "facts": Sample("facts.jsonl", "contains", "15 short factual questions", 48),
    "formats": Sample("formats.jsonl", "regex", "12 formatting tasks checked by a regex", 32),
    "arithmetic": Sample(
        "arithmetic.jsonl",
        "numeric",
        "12 grade-school word problems (GSM8K style)",
        160,
        fewshot="arithmetic.fewshot.jsonl",
    ),
    "quiz": Sample("quiz.jsonl", "choice", "15 multiple-choice questions (MMLU style)", 24),
    "extract": Sample(
        "extract.jsonl",
        "json_schema",
        "10 extractions to JSON, checked by schema",
        96,
        system="Reply with a single JSON object and nothing else.",
    ),
    "explain": Sample("explain.jsonl", "judge", "10 open questions rated 1-10 by a judge model", 160),
}
#: The sample ``tandem bench`` runs without a DATASET: quick on the bundled model.
DEFAULT_SAMPLE = "quiz"


def sample_names() -> list[str]:
    """Names of the shipped samples."""
    return list(SAMPLES)


def data_file(name: str) -> bytes:
    """The bytes of a file shipped in ``tandem/bench/data``."""
    return resources.files("tandem.bench").joinpath("data", name).read_bytes()


@dataclass(frozen=True, slots=True)
class Item:
    """One benchmark item, ready to send."""

    id: str
    #: The request's messages: system, few-shot examples, then the prompt.
    messages: list[dict[str, Any]]
    #: The text of the task itself (the last user message).
    prompt: str
    reference: Any = None
    choices: list[str] | None = None
    schema: dict[str, Any] | None = None
    pattern: str | None = None
    #: The row as read, for user-supplied scorers.
    row: dict[str, Any] = field(default_factory=dict)

    @property
    def request_text(self) -> str:
        """All prompt text as the gateway sees it (what a learned router reads)."""
        return "\n".join(m["content"] for m in self.messages if isinstance(m.get("content"), str))


@dataclass(frozen=True, slots=True)
class Dataset:
    """Items plus where they came from."""

    name: str
    source: str
    items: list[Item]
    #: sha256 of the file(s) the items were built from.
    digest: str
    sample: Sample | None = None


def _parse_rows(data: bytes, source: str) -> list[tuple[int, dict[str, Any]]]:
    text = data.decode("utf-8-sig")
    rows: list[tuple[int, dict[str, Any]]] = []
    if source.lower().endswith(".csv"):
        for row in csv.DictReader(io.StringIO(text)):
            parsed: dict[str, Any] = {}
            for k, v in row.items():
                if k is None:
                    continue
                if k in _JSON_FIELDS and isinstance(v, str) and v.strip()[:1] in ("[", "{"):
                    try:
                        v = json.loads(v)
                    except ValueError:
                        pass
                parsed[k.strip()] = v if v != "" else None
            rows.append((len(rows) + 2, parsed))
        return rows
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{source}, line {lineno}: not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise DatasetError(f"{source}, line {lineno}: each line must be a JSON object")
        rows.append((lineno, value))
    return rows


def _fewshot(value: Any, where: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DatasetError(f"{where}: 'fewshot' must be a list of {{prompt, answer}}")
    pairs = []
    for ex in value:
        if not isinstance(ex, dict):
            raise DatasetError(f"{where}: each few-shot example must be an object")
        q = next((ex[k] for k in _PROMPT_KEYS if ex.get(k) is not None), None)
        a = next((ex[k] for k in _REFERENCE_KEYS if ex.get(k) is not None), None)
        if q is None or a is None:
            raise DatasetError(f"{where}: a few-shot example needs 'prompt' and 'answer'")
        pairs.append((str(q), str(a)))
    return pairs


def _choice_prompt(prompt: str, choices: list[str]) -> str:
    lines = [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return f"{prompt}\n" + "\n".join(lines) + "\nAnswer with the letter of the correct option."


def _item(
    lineno: int, row: dict[str, Any], source: str, system: str | None, shared_fewshot: list[tuple[str, str]]
) -> Item:
    where = f"{source}, {'row' if source.lower().endswith('.csv') else 'line'} {lineno}"
    choices = row.get("choices")
    if choices is not None and (not isinstance(choices, list) or not 2 <= len(choices) <= 26):
        raise DatasetError(f"{where}: 'choices' must be a list of 2 to 26 options")
    schema = row.get("schema")
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError:
            raise DatasetError(f"{where}: 'schema' is not valid JSON") from None
    if schema is not None and not isinstance(schema, dict):
        raise DatasetError(f"{where}: 'schema' must be a JSON object")
    reference = next((row[k] for k in _REFERENCE_KEYS if row.get(k) is not None), None)
    messages: list[dict[str, Any]]
    if row.get("messages") is not None:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise DatasetError(f"{where}: 'messages' must be a non-empty list of messages")
        if system and messages[0].get("role") != "system":
            messages = [{"role": "system", "content": system}, *messages]
        users = [m for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str)]
        prompt = users[-1]["content"] if users else ""
    else:
        raw = next((row[k] for k in _PROMPT_KEYS if row.get(k) is not None), None)
        if raw is None:
            raise DatasetError(f"{where}: no 'prompt' (or 'messages') field")
        prompt = _choice_prompt(str(raw), [str(c) for c in choices]) if choices else str(raw)
        messages = [{"role": "system", "content": system}] if system else []
        for q, a in _fewshot(row.get("fewshot"), where) or shared_fewshot:
            messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        messages.append({"role": "user", "content": prompt})
    item_id = row.get("id")
    return Item(
        id=str(item_id) if item_id is not None else str(lineno),
        messages=messages,
        prompt=prompt,
        reference=reference,
        choices=[str(c) for c in choices] if choices else None,
        schema=schema,
        pattern=str(row["pattern"]) if row.get("pattern") is not None else None,
        row=row,
    )


def load_dataset(spec: str, *, fewshot: str | Path | None = None, system: str | None = None) -> Dataset:
    """Read a dataset file (``.jsonl``/``.json`` lines or ``.csv``) or a sample by name."""
    sample = SAMPLES.get(spec)
    path = Path(spec)
    shots_bytes = b""
    if sample is not None and not path.is_file():
        data, source, name = data_file(sample.file), f"sample:{spec}", spec
        if sample.fewshot and fewshot is None:
            shots_bytes = data_file(sample.fewshot)
        system = system if system is not None else sample.system
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            known = ", ".join(SAMPLES)
            raise DatasetError(f"cannot read dataset {spec}: {exc.strerror} (samples: {known})") from None
        source, name, sample = str(path), path.stem, None
    if fewshot is not None:
        try:
            shots_bytes = Path(fewshot).read_bytes()
        except OSError as exc:
            raise DatasetError(f"cannot read few-shot file {fewshot}: {exc.strerror}") from None
    shared: list[tuple[str, str]] = []
    if shots_bytes:
        label = str(fewshot) if fewshot is not None else "few-shot examples"
        shared = _fewshot([r for _, r in _parse_rows(shots_bytes, label)], label)
    items = [_item(n, row, source, system, shared) for n, row in _parse_rows(data, source)]
    if not items:
        raise DatasetError(f"{source}: no items")
    seen: dict[str, int] = {}
    for i, it in enumerate(items):
        if it.id in seen:
            raise DatasetError(f"{source}: duplicate id {it.id!r} (items {seen[it.id] + 1} and {i + 1})")
        seen[it.id] = i
    digest = hashlib.sha256(data + b"\0" + shots_bytes + b"\0" + (system or "").encode()).hexdigest()
    return Dataset(name=name, source=source, items=items, digest=digest, sample=sample)
