"""What one row's request looks like, and the gateway it runs through.

Batch runs and SQL functions call :meth:`tandem.gateway.Gateway.complete`
in-process: the same routing, retries, privacy guard, budgets and ledger as
live traffic. When :mod:`tandem.store` is installed its store is opened, so
the spend lands in the ledger and counts against budgets.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from tandem.accounting import Accountant
from tandem.batch.schema import OutputSchema
from tandem.batch.template import PromptTemplate
from tandem.call import KeyInfo
from tandem.config import Config
from tandem.gateway import Gateway

__all__ = ["RequestSpec", "open_accountant", "open_gateway", "reply_text"]


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """How a prompt becomes a chat request."""

    #: A model or route name.
    target: str
    schema: OutputSchema | None = None
    max_tokens: int | None = None
    system: str | None = None
    temperature: float | None = None

    def body(self, prompt: str) -> dict[str, Any]:
        """The OpenAI chat request for one prompt."""
        messages: list[dict[str, Any]] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        messages.append({"role": "user", "content": prompt})
        body: dict[str, Any] = {"model": self.target, "messages": messages}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.schema is not None:
            body["response_format"] = self.schema.response_format()
        return body

    def describe(self, template: PromptTemplate | None = None) -> dict[str, Any]:
        """Everything that shapes the requests (what a checkpoint is keyed on)."""
        return {
            "template": template.text if template else None,
            "target": self.target,
            "schema": self.schema.response_format() if self.schema else None,
            "max_tokens": self.max_tokens,
            "system": self.system,
            "temperature": self.temperature,
        }

    def digest(self, template: PromptTemplate | None = None) -> str:
        """A hash of :meth:`describe`."""
        raw = orjson.dumps(self.describe(template), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(raw).hexdigest()


def reply_text(body: dict[str, Any]) -> str | None:
    """The text of a chat completion's first choice."""
    choices = body.get("choices") or ()
    if not choices:
        return None
    content = (choices[0].get("message") or {}).get("content")
    return content if isinstance(content, str) else None


def open_accountant(config: Config) -> Accountant:
    """The store (ledger, budgets), as ``tandem serve`` opens it."""
    from tandem.store import open_store

    return open_store(config)


def build(config: Config, *, ledger: bool = True) -> Gateway:
    """The gateway as ``tandem serve`` builds it (not started)."""
    from tandem.api.app import build_gateway

    return build_gateway(config, open_accountant(config) if ledger else None)


@asynccontextmanager
async def open_gateway(
    config: Config,
    *,
    key_token: str | None = None,
    ledger: bool = True,
    gateway: Gateway | None = None,
) -> AsyncIterator[tuple[Gateway, KeyInfo | None]]:
    """A started gateway (store open, ledger writer running) and the caller's key.

    ``key_token`` (a virtual key) makes the calls count against that key's
    budget and limits; without it they run as the operator, as ``tandem
    chat --in-process`` does.
    """
    gw = gateway or build(config, ledger=ledger)
    started = False
    try:
        await gw.accountant.start()
        started = True
        key: KeyInfo | None = None
        if key_token:
            verify = getattr(gw.accountant, "verify", None)
            key = await (verify(key_token) if verify is not None else gw.accountant.authenticate(key_token))
        yield gw, key
    finally:
        if started:
            await gw.accountant.aclose()  # flush the ledger first
        await gw.aclose()
