"""decode_request: validation of OpenAI request bodies, with the param at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tandem.errors import InvalidRequest
from tandem.protocol import (
    SSE_DONE,
    ChatCompletionRequest,
    ChatMessage,
    CompletionRequest,
    EmbeddingRequest,
    Hints,
    decode_request,
    sse_event,
)

MSGS = [{"role": "user", "content": "hi"}]


def enc(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def chat(**extra: Any) -> bytes:
    return enc({"model": "gpt", "messages": MSGS, **extra})


def invalid(body: bytes, kind: type = ChatCompletionRequest) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        decode_request(body, kind)
    err = info.value
    assert err.status_code == 400
    assert err.type == "invalid_request_error"
    return err


# --- valid bodies -----------------------------------------------------------


def test_valid_chat_request() -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.7,
        "top_p": 1,
        "max_tokens": 100,
        "stop": ["\n\n", "END"],
        "seed": 7,
        "n": 2,
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
            }
        ],
        "tool_choice": "auto",
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {}}},
        "presence_penalty": -1.5,
        "frequency_penalty": 2,
        "logprobs": True,
        "top_logprobs": 5,
        "tandem": {"max_cost": 0.01, "privacy": "trusted", "capabilities": ["vision"]},
    }
    typed, raw = decode_request(enc(body), ChatCompletionRequest)
    assert isinstance(typed, ChatCompletionRequest)
    assert raw == body
    assert typed.model == "gpt-4o-mini"
    assert len(typed.messages) == 4
    assert isinstance(typed.messages[0], ChatMessage)
    assert typed.messages[0].role == "system"
    assert isinstance(typed.messages[1].content, list)
    assert typed.messages[3].tool_call_id == "c1"
    assert typed.stream is True
    assert typed.stream_options is not None and typed.stream_options.include_usage is True
    assert typed.temperature == 0.7
    assert typed.stop == ["\n\n", "END"]
    assert typed.tools is not None and typed.tools[0].function.name == "f"
    assert typed.response_format is not None and typed.response_format.type == "json_schema"
    assert typed.response_format.json_schema is not None
    assert typed.response_format.json_schema.name == "out"
    assert isinstance(typed.tandem, Hints)
    assert typed.tandem.max_cost == 0.01
    assert typed.tandem.privacy == "trusted"
    assert typed.token_limit == 100


def test_minimal_chat_defaults() -> None:
    typed, raw = decode_request(chat(), ChatCompletionRequest)
    assert typed.stream is False
    assert typed.temperature is None
    assert typed.tools is None
    assert typed.tandem is None
    assert typed.token_limit is None
    assert raw == {"model": "gpt", "messages": MSGS}


def test_token_limit_prefers_max_completion_tokens() -> None:
    typed, _ = decode_request(chat(max_tokens=10, max_completion_tokens=20), ChatCompletionRequest)
    assert typed.token_limit == 20


def test_integer_temperature_accepted_as_float() -> None:
    typed, _ = decode_request(chat(temperature=1), ChatCompletionRequest)
    assert typed.temperature == 1.0


@pytest.mark.parametrize("prompt", ["Once upon a time", ["a", "b"]])
def test_valid_completion_request(prompt: Any) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": prompt, "max_tokens": 16, "echo": True}
    typed, raw = decode_request(enc(body), CompletionRequest)
    assert isinstance(typed, CompletionRequest)
    assert typed.prompt == prompt
    assert typed.max_tokens == 16
    assert typed.echo is True
    assert raw == body


@pytest.mark.parametrize(
    "value",
    ["hello", ["hello", "world"], [1, 2, 3], [[1, 2], [3, 4]], list(range(4000))[:2048]],
)
def test_valid_embedding_request(value: Any) -> None:
    body = {"model": "text-embedding-3-small", "input": value, "encoding_format": "float"}
    typed, raw = decode_request(enc(body), EmbeddingRequest)
    assert isinstance(typed, EmbeddingRequest)
    assert typed.input == value
    assert typed.encoding_format == "float"
    assert raw == body


def test_extra_unknown_fields_preserved_in_raw() -> None:
    body = {
        "model": "gpt",
        "messages": [{"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}}],
        "top_k": 40,
        "repetition_penalty": 1.1,
        "metadata": {"team": "search"},
        "store": False,
    }
    typed, raw = decode_request(enc(body), ChatCompletionRequest)
    assert raw == body
    assert raw["top_k"] == 40
    assert raw["metadata"] == {"team": "search"}
    assert raw["messages"][0]["cache_control"] == {"type": "ephemeral"}
    assert not hasattr(typed, "top_k")


# --- invalid bodies ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'\xff\xfe{"model": "x"}',
        b'{"model": "\xff\xfe", "messages": []}',
        '{"model": "caf\u00e9"}'.encode("latin-1"),
    ],
)
def test_invalid_utf8(body: bytes) -> None:
    err = invalid(body)
    assert "UTF-8" in err.message
    assert err.param is None


@pytest.mark.parametrize("body", [b'{"model":', b"{model: 1}", b'{"a": 1,}', b"", b"nul"])
def test_malformed_json(body: bytes) -> None:
    err = invalid(body)
    assert "not valid JSON" in err.message


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_non_object_json(body: bytes) -> None:
    err = invalid(body)
    assert err.message == "The request body must be a JSON object."


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [MSGS[0], {"role": "robot", "content": "x"}]}, "messages[1].role"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"stream": "yes"}, "stream"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"tools": [{"type": "function", "function": {"name": ""}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "retrieval", "function": {"name": "f"}}]}, "tools[0].type"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"tandem": {"privacy": "secret"}}, "tandem.privacy"),
        ({"tandem": {"min_quality": 1.5}}, "tandem.min_quality"),
        ({"model": 12}, "model"),
        ({"model": ""}, "model"),
        ({"messages": "hi"}, "messages"),
    ],
)
def test_wrong_types_name_the_param(extra: dict[str, Any], param: str) -> None:
    body = {"model": "gpt", "messages": MSGS, **extra}
    err = invalid(enc(body))
    assert err.param == param
    assert err.message.startswith("Invalid request: ")
    assert f"`{param}`" in err.message
    assert "$" not in err.message


def test_empty_messages() -> None:
    err = invalid(chat(messages=[]))
    assert err.param == "messages"
    assert "length >= 1" in err.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 2.5),
        ("temperature", -0.1),
        ("top_p", 1.1),
        ("presence_penalty", -3),
        ("n", 0),
        ("n", 17),
        ("max_tokens", 0),
        ("top_logprobs", 21),
    ],
)
def test_out_of_range_values(field: str, value: float) -> None:
    err = invalid(chat(**{field: value}))
    assert err.param == field


def test_temperature_bounds_inclusive() -> None:
    for t in (0, 2):
        typed, _ = decode_request(chat(temperature=t), ChatCompletionRequest)
        assert typed.temperature == t


def test_missing_model() -> None:
    err = invalid(enc({"messages": MSGS}))
    assert err.param == "model"
    assert "model" in err.message


def test_missing_messages() -> None:
    err = invalid(enc({"model": "gpt"}))
    assert err.param == "messages"


def test_missing_nested_field_points_at_the_object() -> None:
    err = invalid(enc({"model": "gpt", "messages": [{"content": "hi"}]}))
    assert err.param is not None
    assert err.param.startswith("messages[0]")
    assert "role" in err.message


def test_completion_wrong_prompt_type() -> None:
    err = invalid(enc({"model": "m", "prompt": 5}), CompletionRequest)
    assert err.param == "prompt"


def test_completion_missing_prompt() -> None:
    err = invalid(enc({"model": "m"}), CompletionRequest)
    assert err.param == "prompt"


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ("", "input"),
        ([], "input"),
        ({"text": "x"}, "input"),
        ([1.5], "input[0]"),
        (list(range(2049)), "input"),
    ],
)
def test_embedding_invalid_input(value: Any, param: str) -> None:
    err = invalid(enc({"model": "e", "input": value}), EmbeddingRequest)
    assert err.param == param


def test_embedding_bad_encoding_format() -> None:
    err = invalid(enc({"model": "e", "input": "x", "encoding_format": "int8"}), EmbeddingRequest)
    assert err.param == "encoding_format"


def test_invalid_request_to_dict_carries_param() -> None:
    err = invalid(chat(temperature=9))
    assert err.to_dict() == {
        "error": {
            "message": err.message,
            "type": "invalid_request_error",
            "param": "temperature",
            "code": None,
        }
    }


# --- SSE helpers ------------------------------------------------------------


def test_sse_event_framing() -> None:
    assert sse_event(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert SSE_DONE == b"data: [DONE]\n\n"
