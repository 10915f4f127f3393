"""Shared pieces of the bench tests: a fake ensemble, a small dataset, a scorer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: cheap echoes the prompt ("You said: ..."), has a 60-token context (long
#: prompts are refused by routing) and costs $1/$2 per million tokens;
#: strong always answers "Paris Rome Berlin" at $10/$30; flaky is priced 0
#: (hardware time), serves one call at a time and fails its first two calls.
FAKE_CONFIG = """
models:
  - name: cheap
    provider: fake
    price: {input: 1, output: 2}
    context_window: 60
    quality: 0.3
  - name: strong
    provider: fake
    price: {input: 10, output: 30}
    quality: 0.9
    options: {replies: ["Paris Rome Berlin"], delay_ms: 20}
  - name: flaky
    provider: fake
    max_concurrency: 1
    quality: 0.5
    options: {replies: ["Paris Rome Berlin Madrid Oslo"], errors: [500, 500]}
  - name: judge
    provider: fake
    price: {input: 1, output: 1}
    capabilities: [chat]
    quality: 0.1
    options: {replies: ["Good. Rating: [[8]]", "Rating: [[5]]", "I cannot rate this.", "Rating: [[10]]"]}
routes:
  - name: auto
    candidates: [cheap, strong]
    objective: cheapest
"""

LONG_DE = (
    "This is a much longer question that will not fit in the small context window of the cheap "
    "model: which city is the capital of Germany?"
)
LONG_NO = (
    "This is another long question that also does not fit in the small context window of the cheap "
    "model: which city is the capital of Norway?"
)

ROWS: list[dict[str, Any]] = [
    {"id": "q1", "prompt": "Say Paris", "reference": "Paris"},
    {"id": "q2", "prompt": "Say Madrid", "reference": "Madrid"},
    {"id": "q3", "prompt": "Name the capital of Italy", "reference": "Rome"},
    {"id": "q4", "prompt": LONG_DE, "reference": "Berlin"},
    {"id": "q5", "prompt": LONG_NO, "reference": "Oslo"},
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def reply_length(reply: str, row: dict[str, Any]) -> float:
    """A continuous user scorer: reply length in words / 10, capped at 1."""
    return min(1.0, len(reply.split()) / 10)


def is_long(reply: str, row: dict[str, Any]) -> bool:
    """A boolean user scorer."""
    return len(reply) > 12


def broken(reply: str, row: dict[str, Any]) -> float:
    raise RuntimeError("bug in the user's scorer")
