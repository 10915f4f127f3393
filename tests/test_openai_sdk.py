"""The official ``openai`` SDK, unmodified, against a real ``tandem serve`` process."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.upstream import Upstream

FAKE_CONFIG = """
models:
  - name: small
    provider: fake
    price: {{input: 1, output: 2}}
    privacy: local
    quality: 0.5
    capabilities: [chat, completions, tools, json, embeddings]
  - name: big
    provider: fake
    price: {{input: 10, output: 30}}
    quality: 0.9
    capabilities: [chat, completions, tools, json, embeddings]
    options: {{replies: ["The capital of France is Paris."]}}
  - name: up-ok
    provider: openai
    model: ok
    base_url: {base}
    capabilities: [chat, embeddings]
  - name: up-no-usage                # an upstream that ignores stream_options
    provider: openai
    model: ok
    base_url: {base}
    options: {{stream_usage: false}}
  - name: up-429
    provider: openai
    model: status-429
    base_url: {base}
  - name: up-500
    provider: openai
    model: status-500
    base_url: {base}
  - name: up-hang
    provider: openai
    model: hang
    base_url: {base}
    timeouts: {{first_byte: 0.5, total: 2}}
  - name: up-stall
    provider: openai
    model: stall
    base_url: {base}
    timeouts: {{idle: 60}}
routes:
  - name: auto
    candidates: [small, big]
    objective: cheapest
    min_quality: 0.8
server:
  max_body_bytes: 20000
"""


@pytest.fixture(scope="module")
def upstream(module_upstream: Upstream) -> Upstream:
    return module_upstream


@pytest.fixture(scope="module")
def server(start_module_server, module_upstream: Upstream):
    return start_module_server(FAKE_CONFIG.format(base=module_upstream.base_url))


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_plain_chat_reports_model_and_cost(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "The capital of France is Paris."
    # min_quality 0.8 rules out "small": the route picks "big".
    assert raw.headers["x-tandem-model"] == "big"
    assert raw.headers["x-tandem-route"] == "auto"
    assert reply.usage is not None
    # fake tokens are words: 6 prompt, 6 completion at $10/$30 per million.
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (6, 6)
    assert float(raw.headers["x-tandem-cost-usd"]) == pytest.approx((6 * 10 + 6 * 30) / 1e6)


def _streamed(client: openai.OpenAI, model: str, text: str, *, usage: bool = True) -> list[Any]:
    """The chunks of a streamed chat request (asking for usage unless told not to)."""
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if usage else {}
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], stream=True, **extra
    )
    return list(stream)


def test_streaming_chat_with_usage(client: openai.OpenAI) -> None:
    chunks = _streamed(client, "small", "one two three")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: one two three"
    assert len([c for c in chunks if c.choices]) > 3
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_streaming_from_real_http_upstream(client: openai.OpenAI, upstream: Upstream) -> None:
    stream = client.chat.completions.create(
        model="up-ok", messages=[{"role": "user", "content": "hello there"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "echo: hello there"
    assert upstream.requests[-1]["model"] == "ok"
    assert upstream.requests[-1]["stream"] is True


def test_streamed_usage_is_counted_when_the_upstream_sends_none(client: openai.OpenAI, upstream: Upstream) -> None:
    chunks = _streamed(client, "up-no-usage", "hello there")
    assert "stream_options" not in upstream.requests[-1]  # nothing asked upstream, nothing sent back
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello there"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == len([c for c in chunks if c.choices]) > 0
    assert last.usage.prompt_tokens > 0 and last.id == chunks[0].id
    # Without include_usage no usage chunk comes.
    plain = _streamed(client, "up-no-usage", "hello there", usage=False)
    assert all(c.usage is None for c in plain) and all(c.choices for c in plain)


def test_tool_call_round_trip(client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    messages: list[dict] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="small", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "text"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    second = client.chat.completions.create(model="small", messages=messages, tools=tools)
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].finish_reason == "stop"


def test_streamed_tool_call(client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}}},
            },
        }
    ]
    stream = client.chat.completions.create(
        model="small", messages=[{"role": "user", "content": "find"}], tools=tools, stream=True
    )
    args, name = "", None
    for chunk in stream:
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = name or tc.function.name
            args += tc.function.arguments or ""
    assert name == "lookup"
    assert json.loads(args) == {"q": "text", "n": 1}


def test_json_object_mode(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="big",
        messages=[{"role": "user", "content": "Answer in JSON"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_embeddings(client: openai.OpenAI, upstream: Upstream) -> None:
    local = client.embeddings.create(model="small", input=["alpha", "beta"])
    assert [d.index for d in local.data] == [0, 1]
    assert len(local.data[0].embedding) == 16
    assert local.data[0].embedding != local.data[1].embedding
    remote = client.embeddings.create(model="up-ok", input="gamma")
    assert remote.data[0].embedding == [0.1, 0.2, 0.3]


def test_list_and_get_models(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"small", "big", "up-ok", "auto"} <= ids
    model = client.models.retrieve("big")
    assert model.id == "big" and model.owned_by == "fake"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="gpt-99", messages=[{"role": "user", "content": "x"}])
    assert exc.value.status_code == 404
    assert exc.value.body["code"] == "model_not_found"


def test_invalid_request_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model="small", messages=[])
    assert exc.value.body["param"] == "messages"


def test_body_too_large_is_413(server) -> None:
    big = "x" * 30000
    r = httpx.post(
        server.base_url + "/chat/completions", json={"model": "small", "messages": [{"role": "user", "content": big}]}
    )
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_upstream_rate_limit_is_429_with_retry_after(client: openai.OpenAI, upstream: Upstream) -> None:
    with pytest.raises(openai.RateLimitError) as exc:
        client.chat.completions.create(model="up-429", messages=[{"role": "user", "content": "x"}])
    assert exc.value.response.headers["retry-after"] == "30"
    assert "scripted 429" in exc.value.message
    # Retry-After (30 s) is over the retry policy's max wait: no retry, one upstream hit.
    assert upstream.hits["status-429"] == 1


def test_upstream_failure_is_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(model="up-500", messages=[{"role": "user", "content": "x"}])
    assert exc.value.status_code == 502


def test_upstream_timeout_is_504(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(model="up-hang", messages=[{"role": "user", "content": "x"}])
    assert exc.value.status_code == 504
    assert exc.value.body["code"] == "upstream_timeout"


def test_errors_never_leak_secrets(start_server, upstream: Upstream) -> None:  # own server: own env
    config = f"""
    models:
      - name: secret-up
        provider: openai
        model: status-401
        base_url: {upstream.base_url}
        api_key_env: TEST_UPSTREAM_KEY
    """
    server = start_server(config, env={"TEST_UPSTREAM_KEY": "sk-verysecret-123456"})
    r = httpx.post(
        server.base_url + "/chat/completions",
        json={"model": "secret-up", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 502
    assert "sk-verysecret" not in r.text and "Bearer" not in r.text and "Traceback" not in r.text
    # ... while the upstream did receive the key.
    assert upstream.headers[-1]["Authorization"] == "Bearer sk-verysecret-123456"


def test_client_disconnect_cancels_the_stream(server) -> None:
    body = {"model": "up-stall", "stream": True, "messages": [{"role": "user", "content": "one two three"}]}
    with httpx.stream("POST", server.base_url + "/chat/completions", json=body, timeout=10) as r:
        assert r.status_code == 200
        first = next(r.iter_lines())
        assert first.startswith("data: ")
    # The upstream stalls for an hour; the gateway notices the client left and
    # ends the call (status 499 in metrics and the ledger) right away.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        metrics = httpx.get(server.url + "/metrics").text
        if 'model="up-stall",route="-",status="499"' in metrics:
            return
        time.sleep(0.1)
    raise AssertionError("the cancelled stream was not recorded")
