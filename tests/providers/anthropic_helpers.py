"""Helpers of the AnthropicProvider tests: a provider on a MockTransport, canned replies, SSE frames."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tandem.config import ModelConfig
from tandem.providers.anthropic import AnthropicProvider
from tandem.providers.base import create_provider
from tandem.providers.transport import HTTPRequest, MockResponse, MockTransport

KEY = "sk-ant-test-SECRET-0123456789"
MODEL = "claude-sonnet-4-5"


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", KEY)


def make(
    reply: MockResponse | Callable[[HTTPRequest], MockResponse],
    **cfg: Any,
) -> tuple[AnthropicProvider, MockTransport]:
    handler = reply if callable(reply) else (lambda _req: reply)
    mock = MockTransport(handler)
    config = ModelConfig(
        name="claude",
        provider="anthropic",
        model=MODEL,
        api_key_env="TEST_ANTHROPIC_KEY",
        **cfg,
    )
    provider = create_provider(config, transport=mock)
    assert isinstance(provider, AnthropicProvider)
    return provider, mock


def message(
    content: list[dict[str, Any]] | None = None,
    stop_reason: str = "end_turn",
    usage: dict[str, int] | None = None,
) -> MockResponse:
    body = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content if content is not None else [{"type": "text", "text": "Hello!"}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 12, "output_tokens": 5},
    }
    return MockResponse(200, json.dumps(body).encode())


def sse(*events: dict[str, Any]) -> list[bytes]:
    """Anthropic-style SSE frames, one chunk per event."""
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


def chat(**kw: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], **kw}


async def sent_body(body: dict[str, Any], endpoint: Any = "chat") -> dict[str, Any]:
    provider, mock = make(message())
    await provider.send(endpoint, body)
    [sent] = mock.json_bodies()
    assert isinstance(sent, dict)
    return sent


async def collect(it: Any) -> list[dict[str, Any]]:
    return [c async for c in it]


def anthropic_error(kind: str, msg: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": msg}}).encode()
