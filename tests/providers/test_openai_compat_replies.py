"""OpenAICompatProvider: non-streamed replies and error mapping.

MockTransport only: no test here touches the network.
"""

from __future__ import annotations

import json

import pytest

from tandem.call import ProviderResult, Usage
from tandem.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tandem.providers.transport import MockResponse
from tests.providers.openai_compat_helpers import (
    CHAT,
    KEY,
    _api_key,  # noqa: F401 (autouse fixture: the test key in the environment)
    completion,
    error_body,
    make,
    ok,
)

# --- non-streamed replies ---------------------------------------------------


async def test_send_parses_reply_and_usage() -> None:
    reply = completion("Paris.", {"prompt_tokens": 21, "completion_tokens": 2, "total_tokens": 23})
    provider, _ = make(ok(reply))
    result = await provider.send("chat", CHAT)
    assert isinstance(result, ProviderResult)
    assert result.body == reply
    assert result.body["choices"][0]["message"]["content"] == "Paris."
    assert result.usage == Usage(prompt_tokens=21, completion_tokens=2)
    assert result.usage.total_tokens == 23


async def test_send_without_usage_gives_zero_usage() -> None:
    reply = completion()
    del reply["usage"]
    provider, _ = make(ok(reply))
    result = await provider.send("chat", CHAT)
    assert result.usage == Usage(0, 0)


async def test_embeddings_reply() -> None:
    reply = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 5, "total_tokens": 5},
    }
    provider, _ = make(ok(reply))
    result = await provider.send("embeddings", {"model": "text-embedding-3-small", "input": "x"})
    assert result.body["data"][0]["embedding"] == [0.1, 0.2]
    assert result.usage == Usage(5, 0)


async def test_malformed_json_reply_is_upstream_error() -> None:
    provider, _ = make(MockResponse(200, b"<html>gateway</html>"))
    with pytest.raises(UpstreamError, match="not JSON") as info:
        await provider.send("chat", CHAT)
    assert info.value.status_code == 502


async def test_non_object_json_reply_is_upstream_error() -> None:
    provider, _ = make(ok([1, 2, 3]))
    with pytest.raises(UpstreamError) as info:
        await provider.send("chat", CHAT)
    assert type(info.value) is UpstreamError


# --- error mapping ----------------------------------------------------------


async def test_429_with_retry_after() -> None:
    provider, _ = make(MockResponse(429, error_body("Rate limit reached for requests"), {"Retry-After": "7"}))
    with pytest.raises(UpstreamRateLimited) as info:
        await provider.send("chat", CHAT)
    err = info.value
    assert err.retry_after == 7.0
    assert err.status_code == 429
    assert "Rate limit reached for requests" in err.message
    assert err.headers() == {"retry-after": "7"}


async def test_429_without_retry_after() -> None:
    provider, _ = make(MockResponse(429, error_body("slow down")))
    with pytest.raises(UpstreamRateLimited) as info:
        await provider.send("chat", CHAT)
    assert info.value.retry_after is None


async def test_400_is_bad_request_with_upstream_message() -> None:
    provider, _ = make(MockResponse(400, error_body("Invalid value for 'temperature'.")))
    with pytest.raises(UpstreamBadRequest) as info:
        await provider.send("chat", CHAT)
    err = info.value
    assert "Invalid value for 'temperature'." in err.message
    assert err.status_code == 400
    assert not isinstance(err, ContextLengthExceeded)


async def test_upstream_message_is_truncated() -> None:
    provider, _ = make(MockResponse(400, error_body("x" * 5000)))
    with pytest.raises(UpstreamBadRequest) as info:
        await provider.send("chat", CHAT)
    assert "x" * 500 in info.value.message
    assert "x" * 501 not in info.value.message


async def test_400_with_non_json_body() -> None:
    provider, _ = make(MockResponse(400, b"bad request, plain text"))
    with pytest.raises(UpstreamBadRequest) as info:
        await provider.send("chat", CHAT)
    assert "plain text" not in info.value.message


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
        "Requested tokens exceed context_length of the model",
    ],
)
async def test_context_length_exceeded(message: str) -> None:
    provider, _ = make(MockResponse(400, error_body(message, "context_length_exceeded")))
    with pytest.raises(ContextLengthExceeded) as info:
        await provider.send("chat", CHAT)
    err = info.value
    assert isinstance(err, InvalidRequest)
    assert err.code == "context_length_exceeded"
    assert message in err.message


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_never_leaks_the_key(status: int) -> None:
    body = error_body(f"Incorrect API key provided: {KEY}. You can find your API key at ...")
    provider, _ = make(MockResponse(status, body, {"www-authenticate": f"Bearer {KEY}"}))
    with pytest.raises(UpstreamError) as info:
        await provider.send("chat", CHAT)
    err = info.value
    assert type(err) is UpstreamError
    assert err.status_code == 502
    assert str(status) in err.message
    for text in (err.message, str(err), json.dumps(err.to_dict()), repr(err.args)):
        assert KEY not in text
        assert "sk-test" not in text


async def test_500_is_upstream_error_502() -> None:
    provider, _ = make(MockResponse(500, error_body("The server had an error")))
    with pytest.raises(UpstreamError) as info:
        await provider.send("chat", CHAT)
    err = info.value
    assert type(err) is UpstreamError
    assert err.status_code == 502
    assert err.to_dict()["error"]["type"] == "upstream_error"
    assert "500" in err.message
    assert "The server had an error" in err.message


async def test_503_is_unavailable_with_retry_after() -> None:
    provider, _ = make(MockResponse(503, error_body("overloaded"), {"retry-after": "2.5"}))
    with pytest.raises(UpstreamUnavailable) as info:
        await provider.send("chat", CHAT)
    assert info.value.status_code == 503
    assert info.value.retry_after == 2.5
    assert info.value.retryable


async def test_504_is_timeout() -> None:
    provider, _ = make(MockResponse(504, b""))
    with pytest.raises(UpstreamTimeout) as info:
        await provider.send("chat", CHAT)
    assert info.value.status_code == 504


async def test_unparseable_retry_after_is_ignored() -> None:
    provider, _ = make(MockResponse(429, b"{}", {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    with pytest.raises(UpstreamRateLimited) as info:
        await provider.send("chat", CHAT)
    assert info.value.retry_after is None
