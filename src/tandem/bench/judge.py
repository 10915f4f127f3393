"""LLM-as-judge: a configured model rates each reply 1-10 (MT-Bench style).

The judge prompt (``data/judge_prompt.txt``, or ``--judge-prompt FILE``) has
three placeholders, ``{question}``, ``{answer}`` and ``{reference}``, and asks
for a final line ``Rating: [[N]]``. The score is ``(N - 1) / 9``, so 1 maps
to 0 and 10 to 1. A reply without a readable rating is left unscored (None)
rather than counted as 0: the judge failed, not the model under test.

The judge is called through the same :class:`~tandem.gateway.Gateway` as
everything else (any configured model or route, priced and in the ledger);
its cost is reported apart from the cost of the models it grades.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from tandem.bench.dataset import DatasetError, Item, data_file
from tandem.bench.scorers import Scorer, Verdict
from tandem.errors import TandemError

__all__ = ["Judge", "parse_rating"]

_BRACKETS = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*(?:/\s*10\s*)?\]\]")
_LOOSE = re.compile(r"rating\s*[:=]?\s*\**\s*\[?\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?", re.IGNORECASE)


def parse_rating(text: str) -> float | None:
    """The 1-10 rating in a judge's reply: the last ``[[N]]``, else ``Rating: N``."""
    found = _BRACKETS.findall(text) or _LOOSE.findall(text)
    if not found:
        return None
    value = float(found[-1])
    return value if 1 <= value <= 10 else None


class Judge(Scorer):
    """Rates replies with a judge model; see the module docstring."""

    name = "judge"
    needs_gateway = True

    def __init__(
        self,
        arg: str | None = None,
        *,
        gateway: Any = None,
        model: str | None = None,
        prompt_path: str | Path | None = None,
        max_tokens: int = 512,
        **_: Any,
    ) -> None:
        super().__init__(arg)
        self.gateway = gateway
        self.model = arg or model
        if prompt_path is not None:
            self.template = Path(prompt_path).read_text(encoding="utf-8")
        else:
            self.template = data_file("judge_prompt.txt").decode("utf-8")
        missing = [p for p in ("{question}", "{answer}") if p not in self.template]
        if missing:
            raise DatasetError(f"judge prompt lacks the placeholder(s) {', '.join(missing)}")
        self.max_tokens = max_tokens

    @property
    def spec(self) -> str:
        digest = hashlib.sha256(self.template.encode()).hexdigest()[:10]
        return f"judge:{self.model}:{digest}"

    def check(self, item: Item) -> None:
        return None  # a reference helps but is not needed

    def prompt(self, reply: str, item: Item) -> str:
        """The judge prompt for one reply (plain replacement: braces in texts are safe)."""
        reference = item.reference if item.reference is not None else "(none given)"
        if isinstance(reference, list):
            reference = " / ".join(map(str, reference))
        out = self.template
        for key, value in (("{question}", item.prompt), ("{reference}", str(reference)), ("{answer}", reply)):
            out = out.replace(key, value)
        return out

    def score(self, reply: str, item: Item) -> float | None:
        raise TypeError("the judge scorer is asynchronous: use ascore")

    async def ascore(self, reply: str, item: Item) -> Verdict:
        if self.gateway is None or self.model is None:
            raise RuntimeError("the judge needs a gateway and a judge model")
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.prompt(reply, item)}],
            "max_tokens": self.max_tokens,
            "temperature": 0,
        }
        call = self.gateway.new_call("chat", body)
        call.request_id = f"bench-judge:{item.id}"[:64]
        try:
            result = await self.gateway.complete(call)
        except TandemError as exc:
            return Verdict(None, f"judge call failed: {exc.code}", call.cost_usd)
        text = result.body["choices"][0]["message"].get("content") or ""
        compute = call.latency_s or 0.0
        served = self.gateway.config.model(call.model) if call.model else None
        compute_s = compute if served is not None and served.price.input == served.price.output == 0 else 0.0
        rating = parse_rating(text)
        if rating is None:
            return Verdict(None, f"no rating in the judge's reply: {text[-80:]!r}", call.cost_usd, compute_s)
        return Verdict((rating - 1) / 9, f"rating {rating:g}/10", call.cost_usd, compute_s)
