"""The request object that travels down the layers.

The API layer builds a :class:`Call` from the HTTP request; the gateway's
guard, router and provider call each add to it (the route decision, the
privacy actions, usage, cost, timings); the ledger records it at the end.
No layer passes loose dicts of its own.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal

from tandem.protocol import Hints

__all__ = ["Call", "Endpoint", "KeyInfo", "ProviderResult", "ProviderStream", "RouteDecision", "Usage"]

Endpoint = Literal["chat", "completions", "embeddings"]


@dataclass(slots=True)
class Usage:
    """Token counts of one upstream call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, int]:
        """OpenAI's ``usage`` object."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Usage:
        """Read OpenAI's ``usage`` object, tolerating absent fields."""
        if not d:
            return cls()
        return cls(int(d.get("prompt_tokens") or 0), int(d.get("completion_tokens") or 0))


@dataclass(slots=True)
class ProviderResult:
    """A complete (non-streamed) reply in OpenAI format, with its usage."""

    body: dict[str, Any]
    usage: Usage


#: A streamed reply: OpenAI ``chat.completion.chunk`` (or ``text_completion``)
#: dicts. The provider ends it with a chunk carrying ``usage`` whenever it can.
#: Asked for pass-through, it may yield an event's JSON as the upstream's bytes
#: instead, when nothing in it needs reading (``http_common.passes_through``).
ProviderStream = AsyncGenerator[dict[str, Any] | bytes, None]


@dataclass(slots=True)
class KeyInfo:
    """The authenticated caller (a virtual key), as the gateway needs it."""

    id: str
    name: str
    allowed_models: frozenset[str] | None = None
    privacy_policy: str | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    is_admin: bool = False


@dataclass(slots=True)
class RouteDecision:
    """Which model serves a call, and why."""

    route: str | None
    model: str
    reason: str
    #: Candidates in the order they will be tried (the chosen one first).
    order: list[str] = field(default_factory=list)
    #: candidate -> why it was filtered out.
    rejected: dict[str, str] = field(default_factory=dict)
    #: candidate -> predicted quality, when a predictor ran.
    predicted: dict[str, float] = field(default_factory=dict)
    #: Estimated USD cost of the call on the chosen model (budget reservation).
    estimated_cost: float = 0.0


@dataclass(slots=True)
class Call:
    """One client request on its way through the gateway."""

    endpoint: Endpoint
    #: The model or route name the client asked for.
    requested: str
    #: The OpenAI-format request body (privacy rewrites apply to it).
    body: dict[str, Any]
    #: The validated, typed view of ``body``.
    params: Any
    stream: bool = False
    include_usage: bool = False
    hints: Hints | None = None
    key: KeyInfo | None = None
    request_id: str = ""
    started: float = field(default_factory=time.perf_counter)
    # Filled by the layers below:
    decision: RouteDecision | None = None
    model: str | None = None
    provider: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    reserved_usd: float = 0.0
    first_token_s: float | None = None
    latency_s: float | None = None
    retries: int = 0
    fallbacks: int = 0
    status: int = 200
    error: str | None = None
    privacy_counts: dict[str, int] = field(default_factory=dict)
    privacy_action: str | None = None
    cache_hit: bool = False
    escalated: bool = False
    #: Cost of answers a cascade computed and discarded before escalating.
    discarded_cost_usd: float = 0.0
    _prompt_tokens: int = -1

    def prompt_text(self) -> str:
        """All prompt text of the call, for scanning and token estimates."""
        if self.endpoint == "chat":
            parts: list[str] = []
            for m in self.body.get("messages") or ():
                c = m.get("content")
                if isinstance(c, str):
                    parts.append(c)
                elif isinstance(c, list):
                    parts.extend(p.get("text", "") for p in c if isinstance(p, dict))
            return "\n".join(parts)
        value = self.body.get("prompt" if self.endpoint == "completions" else "input")
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return "\n".join(v for v in value if isinstance(v, str))
        return ""

    def estimated_prompt_tokens(self) -> int:
        """A cheap, generous estimate (3 characters per token), computed once."""
        if self._prompt_tokens < 0:
            self._prompt_tokens = len(self.prompt_text()) // 3 + 8 * len(self.body.get("messages") or ())
        return self._prompt_tokens
