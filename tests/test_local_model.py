"""End to end with the real bundled model: ``tandem serve`` with no config at all,
called by the official ``openai`` SDK."""

from __future__ import annotations

import subprocess
import sys

import openai
import pytest

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def server(start_module_server):
    return start_module_server(None)  # no --config: the embedded defaults


def test_default_server_answers_with_the_bundled_model(server) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Name three colors."}], max_tokens=16, temperature=0
    )
    reply = raw.parse()
    text = reply.choices[0].message.content or ""
    assert text.strip()
    assert raw.headers["x-tandem-model"] == "local"
    assert raw.headers["x-tandem-provider"] == "llama_cpp"
    usage = reply.usage
    assert usage is not None
    assert usage.prompt_tokens > 5  # the chat template adds tokens around the 4-word prompt
    assert 0 < usage.completion_tokens <= 16
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert float(raw.headers["x-tandem-cost-usd"]) == 0.0  # local models cost nothing in the price table


def test_default_server_streams_token_by_token(server) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "Count to five."}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 3
    assert chunks[-1].usage is not None
    assert 0 < chunks[-1].usage.completion_tokens <= 12


def test_models_cli_lists_the_running_servers_models(server) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tandem", "models", "--url", server.base_url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "local" in out and "llama_cpp" in out and "ok" in out and "auto" in out
