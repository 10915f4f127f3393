"""Cascade routes: cheap first, escalate when the check fails, with the cost of
discarded answers accounted."""

from __future__ import annotations

import pytest

from tandem.config import parse_config
from tandem.gateway import Gateway


def _gateway(cheap_replies: list[str], check: str, extra: str = "") -> Gateway:
    text = f"""
models:
  - name: cheap
    provider: fake
    price: {{input: 1, output: 1}}
    options: {{replies: {cheap_replies!r}}}
  - name: strong
    provider: fake
    price: {{input: 100, output: 100}}
    options: {{replies: ["strong answer 42"]}}
  - name: judge
    provider: fake
    options: {{replies: ["Rating: [[3]]"]}}
routes:
  - name: c
    candidates: [strong, cheap]
    cascade: {{check: {check}, threshold: 0.6{extra}}}
"""
    return Gateway.from_config(parse_config(text))


BODY = {"model": "c", "messages": [{"role": "user", "content": "What is 6 x 7?"}]}


async def test_agreeing_samples_keep_the_cheap_answer() -> None:
    gw = _gateway(["It is 42", "42.", "the answer: 42"], "agree")
    result, call = await gw.run("chat", BODY)
    assert call.model == "cheap" and not call.escalated
    assert result.body["choices"][0]["message"]["content"] == "It is 42"
    assert "passed agree" in call.decision.reason
    # three cheap calls (answer + two samples) are all paid for
    assert gw.providers["cheap"].calls == 3
    assert call.cost_usd == pytest.approx(3 * (5 + 3) / 1e6, rel=0.3)


async def test_disagreeing_samples_escalate_to_the_strong_model() -> None:
    gw = _gateway(["It is 42", "41", "40"], "agree")
    result, call = await gw.run("chat", BODY)
    assert call.model == "strong" and call.escalated
    assert result.body["choices"][0]["message"]["content"] == "strong answer 42"
    assert "escalated past cheap" in call.decision.reason
    # the discarded cheap answers are part of the bill
    strong_cost = (5 + 3) * 100 / 1e6
    assert call.cost_usd > strong_cost
    assert call.discarded_cost_usd > 0


async def test_low_judge_rating_escalates() -> None:
    gw = _gateway(["whatever"], "judge", ", judge_model: judge")
    _, call = await gw.run("chat", BODY)
    assert call.escalated and call.model == "strong"
    assert "judge 0.30" in call.decision.reason


async def test_logprob_check_without_logprobs_escalates() -> None:
    gw = _gateway(["42"], "logprob")
    _, call = await gw.run("chat", BODY)
    assert call.escalated and call.model == "strong"
