"""AnthropicProvider: request translation (MockTransport only)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tandem.config import ConfigError, ModelConfig
from tandem.errors import (
    InvalidRequest,
    UnsupportedParameter,
)
from tandem.providers.base import create_provider
from tandem.providers.transport import MockTransport
from tests.providers.anthropic_helpers import (
    KEY,
    MODEL,
    _api_key,  # noqa: F401 (autouse fixture: the test key in the environment)
    chat,
    make,
    message,
    sent_body,
)


async def test_url_headers_and_minimal_body() -> None:
    provider, mock = make(message())
    await provider.send("chat", chat())
    [req] = mock.requests
    assert req.method == "POST"
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.headers["x-api-key"] == KEY
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["content-type"] == "application/json"
    assert mock.json_bodies() == [{"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4096}]


async def test_options_base_url_and_extra_headers() -> None:
    provider, mock = make(
        message(),
        base_url="https://proxy.example/v1/",
        options={
            "anthropic_version": "2024-01-01",
            "default_max_tokens": 100,
            "headers": {"anthropic-beta": "prompt-caching-2024-07-31"},
        },
    )
    await provider.send("chat", chat())
    [req] = mock.requests
    assert req.url == "https://proxy.example/v1/messages"
    assert req.headers["anthropic-version"] == "2024-01-01"
    assert req.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert mock.json_bodies()[0]["max_tokens"] == 100


def test_options_are_validated() -> None:
    for bad in ({"default_max_tokens": 0}, {"headers": {"X-Api-Key": "k"}}, {"nope": 1}):
        config = ModelConfig(name="c", provider="anthropic", options=bad)
        with pytest.raises(ConfigError):
            create_provider(config, transport=MockTransport(lambda _r: message()))


async def test_system_merging_and_params() -> None:
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Speak French."}]},
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "text", "text": "Anyone there?"}]},
            {"role": "assistant", "content": "Oui."},
            {"role": "assistant", "content": "Bonjour."},
            {"role": "user", "content": "Ok"},
        ],
        "max_completion_tokens": 50,
        "max_tokens": 99,
        "temperature": 1.7,
        "top_p": 0.9,
        "stop": "END",
        "user": "u-42",
        "seed": 7,
        "presence_penalty": 0.5,
        "n": 1,
    }
    assert await sent_body(body) == {
        "model": MODEL,
        "system": "Be brief.\n\nSpeak French.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Hi"},
                    {"type": "text", "text": "Anyone there?"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Oui."},
                    {"type": "text", "text": "Bonjour."},
                ],
            },
            {"role": "user", "content": "Ok"},
        ],
        "max_tokens": 50,
        "temperature": 1.0,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-42"},
    }


async def test_max_tokens_and_stop_list() -> None:
    sent = await sent_body(chat(max_tokens=77, stop=["a", "b"]))
    assert sent["max_tokens"] == 77
    assert sent["stop_sequences"] == ["a", "b"]


async def test_tool_use_and_tool_results() -> None:
    body = chat(
        messages=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {
                "role": "tool",
                "tool_call_id": "toolu_2",
                "content": [{"type": "text", "text": "21C"}],
            },
            {"role": "user", "content": "Thanks"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            },
            {"type": "function", "function": {"name": "noop"}},
        ],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    sent = await sent_body(body)
    assert sent["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "21C"}],
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]
    assert sent["tools"] == [
        {
            "name": "weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "noop", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, None),
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", True, {"type": "any"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "function": {"name": "f"}},
            None,
            {"type": "tool", "name": "f"},
        ),
    ],
)
async def test_tool_choice(choice: Any, parallel: Any, expected: Any) -> None:
    body = chat(tools=[{"type": "function", "function": {"name": "f"}}])
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    assert (await sent_body(body)).get("tool_choice") == expected


async def test_tool_choice_without_tools_is_dropped() -> None:
    sent = await sent_body(chat(tool_choice="required"))
    assert "tool_choice" not in sent and "tools" not in sent


async def test_images() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    sent = await sent_body(chat(messages=[{"role": "user", "content": content}]))
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


async def test_response_format_is_emulated_in_system() -> None:
    sent = await sent_body(
        chat(
            messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "x"}],
            response_format={"type": "json_object"},
        )
    )
    assert sent["system"].startswith("Be terse.\n\nRespond with only a single valid JSON object")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    sent = await sent_body(
        chat(response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}})
    )
    assert "conforms to this JSON Schema" in sent["system"]
    assert json.dumps(schema, separators=(",", ":"), sort_keys=True) in sent["system"]
    assert "system" not in await sent_body(chat(response_format={"type": "text"}))


async def test_cache_control_keeps_system_blocks() -> None:
    system = {
        "role": "system",
        "content": [{"type": "text", "text": "Long doc", "cache_control": {"type": "ephemeral"}}],
    }
    sent = await sent_body(chat(messages=[system, {"role": "user", "content": "Q"}]))
    assert sent["system"] == [{"type": "text", "text": "Long doc", "cache_control": {"type": "ephemeral"}}]


async def test_prefill_trailing_whitespace_trimmed() -> None:
    messages = [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "1, 2, "}]
    sent = await sent_body(chat(messages=messages))
    assert sent["messages"][-1] == {"role": "assistant", "content": "1, 2,"}


@pytest.mark.parametrize(
    ("body", "exc", "param"),
    [
        (chat(n=2), UnsupportedParameter, "n"),
        (chat(logprobs=True), UnsupportedParameter, "logprobs"),
        (chat(functions=[{"name": "f"}]), UnsupportedParameter, "functions"),
        (
            chat(messages=[{"role": "user", "content": [{"type": "input_audio"}]}]),
            UnsupportedParameter,
            "messages[0].content[0]",
        ),
        (
            chat(
                messages=[
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "t",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{bad"},
                            }
                        ],
                    },
                ]
            ),
            InvalidRequest,
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}],
                    }
                ]
            ),
            InvalidRequest,
            "messages[0].content[0]",
        ),
        (chat(messages=[{"role": "system", "content": "only"}]), InvalidRequest, "messages"),
    ],
)
async def test_request_errors(body: dict[str, Any], exc: type[Exception], param: str) -> None:
    provider, mock = make(message())
    with pytest.raises(exc) as info:
        await provider.send("chat", body)
    assert getattr(info.value, "param", None) == param
    assert mock.requests == []  # nothing was sent


async def test_embeddings_unsupported() -> None:
    provider, mock = make(message())
    with pytest.raises(UnsupportedParameter):
        await provider.send("embeddings", {"model": MODEL, "input": "x"})
    assert mock.requests == []
