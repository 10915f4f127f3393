"""The privacy guard through ``tandem serve``: what a hosted model receives,
and what the client gets back."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.upstream import Upstream

SECRET_TEXT = (
    "Write to jane.doe@example.com or call +44 20 7946 0958; "
    "card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32."
)
VALUES = ["jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32"]

CONFIG = """
privacy: {{default_policy: redact}}
models:
  - name: hosted
    provider: openai
    model: ok
    base_url: {base}
    privacy: public
  - name: onprem
    provider: fake
    privacy: local
routes:
  - name: strict
    candidates: [hosted]
    privacy: block
  - name: private-hosted-only
    candidates: [hosted]
    privacy: local-only
  - name: private
    candidates: [hosted, onprem]
    objective: ordered
    privacy: local-only
"""


@pytest.fixture(scope="module")
def upstream(module_upstream: Upstream) -> Upstream:
    return module_upstream


@pytest.fixture(scope="module")
def server(start_module_server, module_upstream: Upstream):
    return start_module_server(CONFIG.format(base=module_upstream.base_url))


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def _sent_text(upstream: Upstream) -> str:
    return " ".join(str(m.get("content")) for m in upstream.requests[-1]["messages"])


def test_hosted_model_sees_placeholders_client_sees_values(client, upstream: Upstream) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="hosted", messages=[{"role": "user", "content": SECRET_TEXT}]
    )
    sent = _sent_text(upstream)
    for value in VALUES:
        assert value not in sent
    assert "<EMAIL_ADDRESS_1>" in sent and "<CREDIT_CARD_1>" in sent
    reply = raw.parse().choices[0].message.content
    assert reply == f"echo: {SECRET_TEXT}"  # restored
    assert "EMAIL_ADDRESS:1" in raw.headers["x-tandem-privacy"]
    assert raw.headers["x-tandem-privacy-action"] == "redact"


def test_streamed_reply_is_restored_across_chunks(client, upstream: Upstream) -> None:
    stream = client.chat.completions.create(
        model="hosted", messages=[{"role": "user", "content": SECRET_TEXT}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == f"echo: {SECRET_TEXT}"
    assert "jane.doe@example.com" not in _sent_text(upstream)


def test_local_model_gets_the_original_text(client) -> None:
    reply = client.chat.completions.create(model="onprem", messages=[{"role": "user", "content": SECRET_TEXT}])
    assert reply.choices[0].message.content == f"You said: {SECRET_TEXT}"


def test_block_policy_refuses_without_echoing_values(server, upstream: Upstream) -> None:
    before = len(upstream.requests)
    r = httpx.post(
        server.base_url + "/chat/completions",
        json={"model": "strict", "messages": [{"role": "user", "content": SECRET_TEXT}]},
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "privacy_policy_violation"
    assert "EMAIL_ADDRESS" in err["message"] and "CREDIT_CARD" in err["message"]
    for value in VALUES:
        assert value not in r.text
    assert len(upstream.requests) == before  # nothing left the building


def test_local_only_without_a_local_model_is_a_clear_error(server) -> None:
    r = httpx.post(
        server.base_url + "/chat/completions",
        json={"model": "private-hosted-only", "messages": [{"role": "user", "content": SECRET_TEXT}]},
    )
    assert r.status_code == 503
    assert "privacy tier public not allowed" in r.json()["error"]["message"]
    assert "jane.doe" not in r.text


def test_local_only_routes_personal_data_to_the_local_model(client) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="private", messages=[{"role": "user", "content": SECRET_TEXT}]
    )
    assert raw.headers["x-tandem-model"] == "onprem"
    # ... while a request without personal data may still use the hosted model.
    raw = client.chat.completions.with_raw_response.create(
        model="private", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    assert raw.headers["x-tandem-model"] == "hosted"
