"""OpenAI wire format: request validation and response helpers.

Requests are decoded once with msgspec into typed structs (fast, in C), which
both validates them and gives the routing layer typed fields. The raw dict is
kept too, so that parameters tandem does not model still reach an
OpenAI-compatible upstream unchanged.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta

from tandem.errors import InvalidRequest

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "CompletionRequest",
    "EmbeddingRequest",
    "Hints",
    "decode_request",
    "sse_event",
]

Temperature = Annotated[float, Meta(ge=0, le=2)]
Probability = Annotated[float, Meta(ge=0, le=1)]
Penalty = Annotated[float, Meta(ge=-2, le=2)]
PositiveInt = Annotated[int, Meta(ge=1)]
Stop = str | Annotated[list[str], Meta(max_length=4)] | None


class _Struct(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    pass


class ChatMessage(_Struct):
    """One chat message; ``content`` is text or a list of typed parts."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        # As OpenAI: only an assistant message (which may carry just tool
        # calls) and the legacy function role may leave ``content`` out.
        if self.content is None and self.role not in ("assistant", "function"):
            raise ValueError(f"a {self.role} message needs 'content'")


class StreamOptions(_Struct):
    include_usage: bool = False


class FunctionDef(_Struct):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Struct):
    type: Literal["function"]
    function: FunctionDef


class JsonSchemaFormat(_Struct):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(_Struct):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class Hints(_Struct):
    """Per-request routing hints (body field ``tandem`` or ``x-tandem-*`` headers)."""

    max_cost: Annotated[float, Meta(ge=0)] | None = None
    max_latency_ms: Annotated[float, Meta(ge=0)] | None = None
    min_quality: Probability | None = None
    privacy: Literal["local", "trusted", "public"] | None = None
    capabilities: list[str] | None = None


class ChatCompletionRequest(_Struct):
    """``POST /v1/chat/completions``."""

    model: Annotated[str, Meta(min_length=1, max_length=256)]
    messages: Annotated[list[ChatMessage], Meta(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    stop: Stop = None
    seed: int | None = None
    n: Annotated[int, Meta(ge=1, le=16)] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    logit_bias: dict[str, float] | None = None
    tandem: Hints | None = None

    @property
    def token_limit(self) -> int | None:
        """``max_completion_tokens`` or its older name ``max_tokens``."""
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Struct):
    """``POST /v1/completions`` (legacy text completion)."""

    model: Annotated[str, Meta(min_length=1, max_length=256)]
    prompt: str | Annotated[list[str], Meta(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    max_tokens: PositiveInt | None = None
    stop: Stop = None
    seed: int | None = None
    n: Annotated[int, Meta(ge=1, le=16)] | None = None
    echo: bool | None = None
    logprobs: Annotated[int, Meta(ge=0, le=5)] | None = None
    user: str | None = None
    tandem: Hints | None = None


class EmbeddingRequest(_Struct):
    """``POST /v1/embeddings``."""

    model: Annotated[str, Meta(min_length=1, max_length=256)]
    # msgspec allows one array type per union, so the list forms share one.
    input: (
        Annotated[str, Meta(min_length=1)] | Annotated[list[str | int | list[int]], Meta(min_length=1, max_length=2048)]
    )
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: PositiveInt | None = None
    user: str | None = None
    tandem: Hints | None = None


T = TypeVar("T")

_PATH_RE = re.compile(r"at `\$(.*)`")
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_dict_decoder = msgspec.json.Decoder(dict[str, Any])


def decode_request(body: bytes, kind: type[T]) -> tuple[T, dict[str, Any]]:
    """Decode and validate a JSON request body.

    Returns the typed struct and the raw dict. Raises :class:`InvalidRequest`
    naming the offending parameter (OpenAI's ``param``) on any problem:
    invalid UTF-8, malformed JSON, wrong types, out-of-range values.
    """
    try:
        raw = _dict_decoder.decode(body)
    except msgspec.ValidationError:
        raise InvalidRequest("The request body must be a JSON object.") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        text = str(exc)
        if "utf-8" in text.lower() or "invalid character" in text.lower():
            raise InvalidRequest("The request body is not valid UTF-8 JSON.") from None
        raise InvalidRequest(f"The request body is not valid JSON: {text}") from None
    try:
        typed = msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = _PATH_RE.search(text)
        param = m.group(1).lstrip(".") if m else None
        if not param:
            fm = re.search(r"required field `(\w+)`", text)
            param = fm.group(1) if fm else None
        message = text.replace("`$.", "`").replace("`$", "`")
        raise InvalidRequest(f"Invalid request: {message}", param=param or None) from None
    return typed, raw


def sse_event(payload: bytes) -> bytes:
    """One server-sent event carrying a JSON payload."""
    return b"data: " + payload + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def now() -> int:
    """Unix time in seconds, for ``created`` fields."""
    return int(time.time())
