"""Cascade routes: answer with the cheap model first, escalate when a check fails.

Configured on a route::

    routes:
      - name: support-bot
        candidates: [local, gpt-4o-mini, gpt-4o]      # tried cheapest first
        cascade: {check: logprob, threshold: 0.6}

Checks (a registry of small classes, each with one decision method):

- ``logprob``: the geometric mean of the reply's token probabilities (asks the
  model for ``logprobs``); passes at or above ``threshold``.
- ``agree``: samples the same model twice more at ``temperature`` and passes
  when at least ``threshold`` of the samples agree with the first answer
  (normalized text, or the final number when the answers are numeric).
- ``judge``: asks ``judge_model`` to rate the answer 1-10; passes when
  rating / 10 >= ``threshold``.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from tandem.call import ProviderResult
from tandem.config import CascadeConfig

__all__ = ["CHECKS", "CascadeCheck", "CascadeConfig", "reply_text"]

#: Calls a model (by name) with an OpenAI chat body; returns its reply.
CallModel = Callable[[str, dict[str, Any]], Awaitable[ProviderResult]]


def reply_text(result: ProviderResult) -> str:
    """The text of the first choice of a chat reply."""
    choices = result.body.get("choices") or [{}]
    message = choices[0].get("message") or {}
    content = message.get("content")
    return str(content) if isinstance(content, str) else ""


class CascadeCheck(ABC):
    """Decides whether a cheap model's answer is good enough to return."""

    name: ClassVar[str]
    #: Extra request fields the first call needs (e.g. logprobs).
    request_extra: ClassVar[dict[str, Any]] = {}

    @abstractmethod
    async def passes(
        self, cfg: CascadeConfig, model: str, body: dict[str, Any], result: ProviderResult, call_model: CallModel
    ) -> tuple[bool, float]:
        """Return (passed, score) for ``result``, the answer of ``model`` to ``body``."""


class LogprobCheck(CascadeCheck):
    """Mean token probability of the answer."""

    name = "logprob"
    request_extra: ClassVar[dict[str, Any]] = {"logprobs": True}

    async def passes(
        self, cfg: CascadeConfig, model: str, body: dict[str, Any], result: ProviderResult, call_model: CallModel
    ) -> tuple[bool, float]:
        choice = (result.body.get("choices") or [{}])[0]
        content = ((choice.get("logprobs") or {}).get("content")) or []
        values = [t["logprob"] for t in content if isinstance(t, dict) and isinstance(t.get("logprob"), int | float)]
        if not values:
            return False, 0.0  # no evidence of confidence: escalate
        score = math.exp(sum(values) / len(values))
        return score >= cfg.threshold, score


_NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")


def _normalize(text: str) -> str:
    numbers = _NUMBER.findall(text)
    if numbers:
        return str(numbers[-1]).replace(",", "").rstrip(".")
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


class AgreeCheck(CascadeCheck):
    """Self-consistency: further samples agree with the first answer."""

    name = "agree"

    async def passes(
        self, cfg: CascadeConfig, model: str, body: dict[str, Any], result: ProviderResult, call_model: CallModel
    ) -> tuple[bool, float]:
        first = _normalize(reply_text(result))
        agree = 0
        for _ in range(cfg.samples):
            other = await call_model(model, {**body, "temperature": cfg.temperature})
            agree += _normalize(reply_text(other)) == first
        score = agree / cfg.samples
        return score >= cfg.threshold, score


_RATING = re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]|rating\W*(\d+(?:\.\d+)?)", re.IGNORECASE)
JUDGE_PROMPT = (
    "You are a strict grader. Rate how correct, complete and helpful the answer is on a scale of 1 to 10. "
    "Reply with the rating in the form [[N]].\n\n[Question]\n{question}\n\n[Answer]\n{answer}"
)


class JudgeCheck(CascadeCheck):
    """A judge model rates the answer from 1 to 10."""

    name = "judge"

    async def passes(
        self, cfg: CascadeConfig, model: str, body: dict[str, Any], result: ProviderResult, call_model: CallModel
    ) -> tuple[bool, float]:
        if not cfg.judge_model:
            raise ValueError("cascade check 'judge' needs judge_model")
        question = "\n".join(
            m["content"]
            for m in body.get("messages") or ()
            if m.get("role") == "user" and isinstance(m.get("content"), str)
        )
        prompt = JUDGE_PROMPT.format(question=question, answer=reply_text(result))
        verdict = await call_model(
            cfg.judge_model, {"messages": [{"role": "user", "content": prompt}], "temperature": 0}
        )
        m = _RATING.search(reply_text(verdict))
        score = min(10.0, float(m.group(1) or m.group(2))) / 10 if m else 0.0
        return score >= cfg.threshold, score


CHECKS: dict[str, CascadeCheck] = {c.name: c for c in (LogprobCheck(), AgreeCheck(), JudgeCheck())}
