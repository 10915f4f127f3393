"""Helpers of the OpenAICompatProvider tests: a provider on a recording MockTransport, canned replies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tandem.config import ModelConfig
from tandem.providers.base import create_provider
from tandem.providers.openai_compat import OpenAICompatProvider
from tandem.providers.transport import HTTPRequest, MockResponse
from tests.providers.helpers import RecordingTransport

KEY = "sk-test-SECRET-abcdef0123456789"
ENV = "TEST_OPENAI_COMPAT_KEY"


def make(
    reply: MockResponse | Callable[[HTTPRequest], MockResponse],
    *,
    key_env: str | None = ENV,
    **cfg: Any,
) -> tuple[OpenAICompatProvider, RecordingTransport]:
    handler = reply if callable(reply) else (lambda _req: reply)
    mock = RecordingTransport(handler)
    cfg.setdefault("name", "gpt")
    cfg.setdefault("provider", "openai")
    config = ModelConfig(api_key_env=key_env, **cfg)
    provider = create_provider(config, transport=mock)
    assert isinstance(provider, OpenAICompatProvider)
    return provider, mock


def completion(content: str = "Hello!", usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": usage if usage is not None else {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


def ok(body: Any) -> MockResponse:
    return MockResponse(200, json.dumps(body).encode(), {"content-type": "application/json"})


def error_body(message: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code}}).encode()


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)
