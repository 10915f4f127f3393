"""OpenAICompatProvider: URLs, headers, passthrough, options.

MockTransport only: no test here touches the network.
"""

from __future__ import annotations

import pytest

from tandem.config import ConfigError, ModelConfig
from tandem.providers.base import create_provider
from tandem.providers.openai_compat import OpenAICompatProvider
from tandem.providers.transport import MockResponse, MockTransport
from tests.providers.openai_compat_helpers import (
    CHAT,
    ENV,
    KEY,
    _api_key,  # noqa: F401 (autouse fixture: the test key in the environment)
    completion,
    make,
    ok,
)


async def test_registered_under_both_kinds() -> None:
    for kind in ("openai", "openai_compatible"):
        provider, _ = make(ok(completion()), provider=kind)
        assert isinstance(provider, OpenAICompatProvider)


async def test_body_passes_through_with_unknown_params_and_model() -> None:
    provider, mock = make(ok(completion()), model="gpt-4o-mini")
    body = {
        **CHAT,
        "temperature": 0.3,
        "logit_bias": {"50256": -100},
        "vendor_specific_knob": {"nested": [1, 2, 3]},
        "top_k": 40,
    }
    await provider.send("chat", body)
    [sent] = mock.json_bodies()
    assert sent == body
    assert sent["model"] == "gpt-4o-mini"
    assert sent["vendor_specific_knob"] == {"nested": [1, 2, 3]}
    assert "stream" not in sent
    assert mock.requests[0].method == "POST"


async def test_send_does_not_mutate_caller_body_on_stream() -> None:
    provider, _ = make(MockResponse(200, b"data: [DONE]\n\n"))
    body = dict(CHAT)
    _ = [c async for c in provider.stream("chat", body)]
    assert body == CHAT


async def test_default_url_is_openai() -> None:
    provider, mock = make(ok(completion()))
    await provider.send("chat", CHAT)
    await provider.send("completions", {"model": "m", "prompt": "x"})
    await provider.send("embeddings", {"model": "m", "input": "x"})
    assert [r.url for r in mock.requests] == [
        "https://api.openai.com/v1/chat/completions",
        "https://api.openai.com/v1/completions",
        "https://api.openai.com/v1/embeddings",
    ]


@pytest.mark.parametrize(
    "base_url",
    ["http://localhost:8000/v1", "http://localhost:8000/v1/", "http://localhost:8000/v1//"],
)
async def test_base_url_trailing_slashes(base_url: str) -> None:
    provider, mock = make(ok(completion()), base_url=base_url, key_env=None)
    await provider.send("chat", CHAT)
    assert mock.requests[0].url == "http://localhost:8000/v1/chat/completions"


async def test_custom_paths() -> None:
    provider, mock = make(
        ok(completion()),
        base_url="http://h/api",
        options={"chat_path": "/v2/chat", "embeddings_path": "/v2/embed"},
    )
    await provider.send("chat", CHAT)
    await provider.send("embeddings", {"model": "m", "input": "x"})
    assert [r.url for r in mock.requests] == ["http://h/api/v2/chat", "http://h/api/v2/embed"]


async def test_azure_style_api_key_header_and_api_version_query() -> None:
    provider, mock = make(
        ok(completion()),
        base_url="https://res.openai.azure.com/openai/deployments/gpt4o/",
        options={"auth_header": "api-key", "query": {"api-version": "2024-06-01"}},
    )
    await provider.send("chat", CHAT)
    req = mock.requests[0]
    assert req.url == ("https://res.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-06-01")
    headers = {k.lower(): v for k, v in req.headers.items()}
    assert headers["api-key"] == KEY
    assert "authorization" not in headers


async def test_query_values_are_url_encoded() -> None:
    provider, mock = make(ok(completion()), options={"query": {"a": "x y&z", "b": "1"}})
    await provider.send("chat", CHAT)
    assert mock.requests[0].url == "https://api.openai.com/v1/chat/completions?a=x+y%26z&b=1"


async def test_bearer_header_from_env_and_extra_headers() -> None:
    provider, mock = make(ok(completion()), options={"headers": {"OpenAI-Organization": "org-1"}})
    await provider.send("chat", CHAT)
    headers = {k.lower(): v for k, v in mock.requests[0].headers.items()}
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["content-type"] == "application/json"
    assert headers["openai-organization"] == "org-1"
    assert "api-key" not in headers


async def test_key_is_read_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTHER_KEY_VAR", "sk-other-value")
    provider, mock = make(ok(completion()), key_env="OTHER_KEY_VAR")
    await provider.send("chat", CHAT)
    assert mock.requests[0].headers["authorization"] == "Bearer sk-other-value"


async def test_no_auth_header_without_key_env() -> None:
    provider, mock = make(ok(completion()), key_env=None, base_url="http://localhost:8080/v1")
    await provider.send("chat", CHAT)
    headers = {k.lower() for k in mock.requests[0].headers}
    assert "authorization" not in headers
    assert "api-key" not in headers


async def test_no_auth_header_when_env_var_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV)
    provider, mock = make(ok(completion()))
    await provider.send("chat", CHAT)
    assert "authorization" not in {k.lower() for k in mock.requests[0].headers}


def test_unknown_option_rejected() -> None:
    config = ModelConfig(name="gpt", provider="openai", options={"auth_heder": "api-key"})
    with pytest.raises(ConfigError, match=r"options\.auth_heder"):
        create_provider(config, transport=MockTransport(lambda _r: ok({})))


def test_bad_auth_header_option_rejected() -> None:
    config = ModelConfig(name="gpt", provider="openai", options={"auth_header": "x-key"})
    with pytest.raises(ConfigError, match=r"options\.auth_header"):
        create_provider(config, transport=MockTransport(lambda _r: ok({})))
