"""A trained router file loaded by ``tandem serve`` from the config, routing a
route over three models (the bundled local model and two upstreams)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.upstream import Upstream

FIXTURE = Path(__file__).parent / "routing_learned" / "fixtures" / "two_models.csv"
EASY = "Which of these is the capital of France?\nA. Berlin\nB. Rome\nC. Paris\nD. Madrid\nAnswer:"
HARD = (
    "Fatima has 267 stamps. Fatima gives away 25% of the stamps to a friend. Then Fatima buys 56 more "
    "stamps at $17.31 each. Every week Fatima sells 7 stamps for 7 dollars per dozen. Every week Fatima "
    "sells 28 stamps for 8 dollars per dozen. How many stamps does Fatima have left after 8 weeks?"
)


@pytest.fixture(scope="module")
def router_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("router") / "router.bin"
    subprocess.run(
        [sys.executable, "-m", "tandem", "router", "train", str(FIXTURE), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def _config(router: Path, base: str) -> str:
    return f"""
models:
  - name: local
    provider: fake
    privacy: local
    quality: 0.1
    options: {{replies: ["local answer"]}}
  - name: acme/tiny-1b
    provider: openai
    model: ok
    base_url: {base}
    price: {{input: 0.1, output: 0.1}}
  - name: acme/large-70b
    provider: openai
    model: ok
    base_url: {base}
    price: {{input: 10, output: 30}}
routes:
  - name: smart
    candidates: [local, acme/tiny-1b, acme/large-70b]
    objective: cheapest
    min_quality: 0.5
    router: {router}
"""


def test_serve_loads_the_router_and_uses_its_predictions(start_server, upstream: Upstream, router_file: Path) -> None:
    server = start_server(_config(router_file, upstream.base_url))
    chosen = {}
    for name, prompt in (("easy", EASY), ("hard", HARD)):
        r = httpx.post(
            server.base_url + "/chat/completions",
            json={"model": "smart", "messages": [{"role": "user", "content": prompt}]},
        )
        assert r.status_code == 200, r.text
        chosen[name] = r.headers["x-tandem-model"]
        assert "predicted quality" in r.headers["x-tandem-route-reason"] or "q=" in r.headers["x-tandem-route-reason"]
    # The local model's prior (0.1) never reaches the target; the router's
    # predictions decide between the two upstreams.
    assert set(chosen.values()) <= {"acme/tiny-1b", "acme/large-70b"}


def test_route_explain_shows_router_predictions(tmp_path: Path, upstream: Upstream, router_file: Path) -> None:
    config = tmp_path / "t.yaml"
    config.write_text(_config(router_file, upstream.base_url))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tandem",
            "route",
            "explain",
            HARD,
            "--route",
            "smart",
            "--config",
            str(config),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    import json

    data = json.loads(out)
    sources = {c["model"]: c["quality_source"] for c in data["candidates"]}
    assert sources == {"local": "config prior", "acme/tiny-1b": "router", "acme/large-70b": "router"}
    assert data["choice"] in ("acme/tiny-1b", "acme/large-70b")
