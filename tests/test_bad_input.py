"""Bad input over raw HTTP: each gets the right status and an OpenAI-format error,
and the server keeps serving."""

from __future__ import annotations

import httpx
import pytest

CONFIG = """
models:
  - name: m
    provider: fake
    capabilities: [chat, completions, embeddings]
server:
  max_body_bytes: 10000
"""


@pytest.fixture(scope="module")
def server(start_module_server):
    return start_module_server(CONFIG)


def _post(server, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        server.base_url + path, content=content, headers={"content-type": "application/json", **(headers or {})}
    )


CASES = [
    ("malformed JSON", b'{"model": "m", "messages": [', 400, None),
    ("not an object", b"[1, 2, 3]", 400, None),
    ("invalid UTF-8", b'{"model": "m", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400, None),
    ("wrong type", b'{"model": "m", "messages": [{"role": "user", "content": 42}]}', 400, "messages[0].content"),
    ("bad role", b'{"model": "m", "messages": [{"role": "wizard", "content": "x"}]}', 400, "messages[0].role"),
    ("user message without content", b'{"model": "m", "messages": [{"role": "user"}]}', 400, "messages[0]"),
    ("empty messages", b'{"model": "m", "messages": []}', 400, "messages"),
    ("missing model", b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model"),
    (
        "temperature out of range",
        b'{"model": "m", "temperature": 7, "messages": [{"role": "user", "content": "x"}]}',
        400,
        "temperature",
    ),
    (
        "stream not a bool",
        b'{"model": "m", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}',
        400,
        "stream",
    ),
    ("unknown model", b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404, "model"),
    ("empty body", b"", 400, None),
]


@pytest.mark.parametrize(("name", "body", "status", "param"), CASES, ids=[c[0] for c in CASES])
def test_bad_chat_request(server, name: str, body: bytes, status: int, param: str | None) -> None:
    r = _post(server, "/chat/completions", body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"] and "Traceback" not in r.text
    if param is not None:
        assert err["param"] == param
    # ...and the server keeps serving.
    ok = _post(server, "/chat/completions", b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}')
    assert ok.status_code == 200


def test_body_over_limit_is_413(server) -> None:
    body = b'{"model": "m", "messages": [{"role": "user", "content": "' + b"a" * 20000 + b'"}]}'
    r = _post(server, "/chat/completions", body)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


def test_chunked_body_over_limit_is_413(server) -> None:
    def gen():
        yield b'{"model": "m", "messages": [{"role": "user", "content": "'
        for _ in range(30):
            yield b"a" * 1000
        yield b'"}]}'

    r = httpx.post(server.base_url + "/chat/completions", content=gen(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_bad_embeddings_and_completions(server) -> None:
    r = _post(server, "/embeddings", b'{"model": "m", "input": []}')
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"
    r = _post(server, "/completions", b'{"model": "m"}')
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"


def test_unknown_path_and_method(server) -> None:
    r = httpx.get(server.base_url + "/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = httpx.get(server.base_url + "/chat/completions")
    assert r.status_code == 405 and "error" in r.json()


def test_bad_hint_header(server) -> None:
    r = _post(
        server,
        "/chat/completions",
        b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}',
        {"x-tandem-max-cost": "cheap"},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "x-tandem-max-cost"


def test_health_endpoints(server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["status"] == "ready" and ready["models"] == {"m": True}
