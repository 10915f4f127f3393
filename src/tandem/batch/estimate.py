"""What a batch run will cost, before it runs.

Prompt tokens come from the model's own tokenizer where tandem can load it
cheaply (llama.cpp models: the GGUF's vocabulary alone, no weights), on a
sample of rows scaled by characters; otherwise from the gateway's own
estimate (:meth:`tandem.call.Call.estimated_prompt_tokens`, about one token
per three characters, the figure budgets are reserved with). Hosted
tokenizers (tiktoken and the like) download their vocabularies at run time,
so they are not used.

Completion tokens are ``max_tokens`` per row (an upper bound) or, without
it, the router's default assumption of
:data:`tandem.routing.router.DEFAULT_COMPLETION_TOKENS` (replies may run
longer).

For a route, the router decides per row at run time, so a sample of rows is
routed exactly as the gateway would route them (privacy guard included) and
the estimate follows those shares; the output also gives the range from
"every row on the cheapest candidate" to "every row on the dearest one",
since circuit breakers and fallbacks can move rows at run time.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from tandem.batch.job import RequestSpec
from tandem.call import Call, KeyInfo
from tandem.config import ModelConfig
from tandem.errors import TandemError
from tandem.gateway import Gateway
from tandem.routing.router import DEFAULT_COMPLETION_TOKENS

__all__ = ["Estimate", "estimate"]

#: Rows routed to estimate a route's model shares.
ROUTE_SAMPLE = 100
#: Rows checked against a model's constraints (capabilities, context window, privacy).
MODEL_SAMPLE = 20
#: Rows tokenized with a model's own tokenizer (scaled to all rows by characters).
TOKENIZER_SAMPLE = 500

Tokenizer = Callable[[str], int]


@dataclass(slots=True)
class ModelEstimate:
    """The cost of the run if every row went to one model."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    token_method: str
    #: Sampled rows the router sent to this model (routes only).
    sampled: int = 0


@dataclass(slots=True)
class Estimate:
    """Tokens and cost of the rows a run will send."""

    target: str
    route: str | None
    objective: str | None
    rows: int
    completion_note: str
    models: dict[str, ModelEstimate] = field(default_factory=dict)
    #: Rows routed for the shares, and errors the router raised on them.
    sampled: int = 0
    sample_errors: Counter[str] = field(default_factory=Counter)

    @property
    def cost_usd(self) -> float:
        """The expected cost: the sampled routing shares (or the one model)."""
        if self.route is None:
            return sum(m.cost_usd for m in self.models.values())
        routed = sum(m.sampled for m in self.models.values())
        if not routed:
            return 0.0
        return sum(m.cost_usd * m.sampled / routed for m in self.models.values())

    @property
    def cost_range(self) -> tuple[float, float]:
        """(cheapest, dearest) cost if every row went to one eligible model."""
        costs = [m.cost_usd for m in self.models.values()] or [0.0]
        return min(costs), max(costs)

    def lines(self) -> list[str]:
        """A human-readable report."""
        if not self.rows:
            return ["  nothing to send"]
        models = list(self.models.values())
        out = []
        if self.route is None:
            out.append(f"  model {models[0].model}")
        else:
            out.append(f"  route {self.route} (objective {self.objective})")
        methods = {(m.prompt_tokens, m.token_method) for m in models}
        if len(methods) == 1:
            ((tokens, method),) = methods
            out.append(f"  prompt tokens: ~{tokens:,} ({method})")
        completion = models[0].completion_tokens if models else 0
        out.append(f"  completion tokens: {completion:,}, {self.completion_note}")
        if self.route is None:
            out.append(f"  estimated cost: ${self.cost_usd:.4f}")
            out.extend(self._failures())
            return out
        routed = sum(m.sampled for m in models)
        out.append(f"  {self.sampled} sampled rows routed as the gateway would route them:")
        for m in sorted(models, key=lambda m: (-m.sampled, m.cost_usd)):
            own = "" if len(methods) == 1 else f", ~{m.prompt_tokens:,} prompt tokens ({m.token_method})"
            out.append(
                f"    {m.model:<24} {m.sampled:>4}/{routed} rows; if every row went here: ${m.cost_usd:.4f}{own}"
            )
        out.extend(self._failures())
        lo, hi = self.cost_range
        out.append(
            f"  estimated cost: ${self.cost_usd:.4f} at the sampled shares; "
            f"from ${lo:.4f} to ${hi:.4f} if breakers or fallbacks moved every row "
            "to one eligible candidate"
        )
        return out

    def _failures(self) -> list[str]:
        return [
            f"  warning: {count} of {self.sampled} sampled rows would fail: {reason}"
            for reason, count in self.sample_errors.most_common(3)
        ]


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence llama.cpp's C-level log lines while a vocabulary loads."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def model_tokenizer(model: ModelConfig, gateway: Gateway) -> tuple[Tokenizer, str] | None:
    """The model's own tokenizer when it loads cheaply, with a description."""
    provider = gateway.providers.get(model.name)
    model_path = getattr(provider, "model_path", None)
    if model.provider != "llama_cpp" or model_path is None:
        return None
    try:
        import llama_cpp

        path = model_path()
        with _quiet_stderr():
            vocab = llama_cpp.Llama(str(path), vocab_only=True, n_ctx=64, verbose=False)
    except Exception:
        return None

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    return count, f"{model.name}'s llama.cpp tokenizer"


def _body_tokens(call: Call) -> int:
    return call.estimated_prompt_tokens()


def estimate(
    gateway: Gateway,
    spec: RequestSpec,
    prompts: Sequence[str],
    *,
    key: KeyInfo | None = None,
    tokenizers: bool = True,
) -> Estimate:
    """Estimate the tokens and cost of sending ``prompts`` through ``gateway``."""
    router = gateway.router
    route = router.route(spec.target)
    n = len(prompts)
    if spec.max_tokens is not None:
        per_row = spec.max_tokens
        note = f"at most {per_row} per row (--max-tokens)"
    else:
        per_row = DEFAULT_COMPLETION_TOKENS
        note = f"assuming {per_row} per row (no --max-tokens: replies may be longer)"
    completion = per_row * n
    est = Estimate(spec.target, route.name if route else None, route.objective if route else None, n, note)
    if not n:
        return est

    # The gateway's own estimate for every row, through the same code it admits with
    # (one pass: ``prompts`` may render rows on the fly).
    cheap_total = chars_total = 0
    for prompt in prompts:
        cheap_total += _body_tokens(Call("chat", spec.target, spec.body(prompt), None))
        chars_total += len(prompt) + len(spec.system or "")
    step = max(1, n // TOKENIZER_SAMPLE)
    sample_texts = [((spec.system or "") + "\n" + prompts[i]) for i in range(0, n, step)]

    def tokens_for(model: ModelConfig) -> tuple[int, str]:
        found = model_tokenizer(model, gateway) if tokenizers else None
        if found is None:
            return (
                cheap_total,
                "estimate: characters/3 + 8 per message, as the gateway reserves budgets",
            )
        count, what = found
        sample_tokens = sum(count(t) for t in sample_texts)
        sample_chars = sum(len(t) for t in sample_texts) or 1
        per_message = 4 * (2 if spec.system else 1)  # chat template markers, roughly
        total = round(sample_tokens / sample_chars * chars_total) + per_message * n
        scope = "all rows" if step == 1 else f"{len(sample_texts)} sampled rows, scaled by characters"
        return total, f"{what}, {scope}"

    def model_estimate(model: ModelConfig) -> ModelEstimate:
        tokens, method = tokens_for(model)
        return ModelEstimate(model.name, tokens, completion, model.price.cost(tokens, completion), method)

    # Route a sample of rows exactly as the gateway would (privacy guard included):
    # for a route, which candidate each row goes to; for a model, whether rows can go at all.
    rstep = max(1, n // (ROUTE_SAMPLE if route is not None else MODEL_SAMPLE))
    picks: Counter[str] = Counter()
    eligible: set[str] = set()
    for i in range(0, n, rstep):
        est.sampled += 1
        try:
            call = gateway.new_call("chat", spec.body(prompts[i]), key)
            protection = gateway.privacy.apply(call, route.privacy if route is not None else None)
            decision = router.decide(call, protection.allowed_tiers)
        except TandemError as exc:
            est.sample_errors[exc.message] += 1
            continue
        picks[decision.model] += 1
        eligible.update(decision.order)
    if route is None:
        model = router.model(spec.target)
        if model is None:
            raise TandemError(f"unknown model or route {spec.target!r}")
        est.models[model.name] = model_estimate(model)
        est.models[model.name].sampled = picks[model.name]
        return est
    for name in route.candidates:
        if name in eligible:
            model = router.model(name)
            assert model is not None
            est.models[name] = model_estimate(model)
            est.models[name].sampled = picks[name]
    return est
