"""``tandem models`` and ``tandem chat``: talk to a running server, or in-process."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from typing import Any

import click

from tandem.config import Config, ConfigError, load_config

__all__ = ["chat", "models"]

DEFAULT_URL = "http://127.0.0.1:8080/v1"


def _request(url: str, key: str | None, body: dict[str, Any] | None = None) -> urllib.request.Request:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    return urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")


def _server_up(base: str) -> bool:
    try:
        with urllib.request.urlopen(base.removesuffix("/v1") + "/healthz", timeout=0.5) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _load(config_path: str | None) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.code}"


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--url", default=lambda: os.environ.get("TANDEM_URL", DEFAULT_URL), show_default=DEFAULT_URL)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models(config_path: str | None, url: str, as_json: bool) -> None:
    """List configured models and routes: provider, price, context, privacy, health."""
    rows: list[dict[str, Any]] = []
    if _server_up(url):
        try:
            with urllib.request.urlopen(_request(url + "/models", os.environ.get("TANDEM_KEY"))) as r:
                data = json.loads(r.read())["data"]
        except urllib.error.HTTPError as exc:
            raise click.ClickException(_error_text(exc)) from None
        for d in data:
            t = d.get("tandem", {})
            rows.append({"name": d["id"], **t})
    else:
        cfg = _load(config_path)
        for m in cfg.models:
            rows.append(
                {
                    "name": m.name,
                    "kind": "model",
                    "provider": m.provider,
                    "privacy": m.privacy,
                    "context_window": m.context_window,
                    "price_per_million": {"input": m.price.input, "output": m.price.output},
                    "capabilities": sorted(m.capabilities),
                    "healthy": None,
                }
            )
        for r in cfg.routes:
            rows.append({"name": r.name, "kind": "route", "candidates": r.candidates, "objective": r.objective})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = f"{'NAME':<24} {'PROVIDER':<12} {'$/M IN':>8} {'$/M OUT':>8} {'CONTEXT':>8} {'PRIVACY':<8} HEALTH"
    click.echo(header)
    for row in rows:
        if row.get("kind") == "route":
            desc = f"route ({row['objective']}): {', '.join(row['candidates'])}"
            click.echo(f"{row['name']:<24} {desc}")
            continue
        price = row["price_per_million"]
        health = {True: "ok", False: "down", None: "(server not running)"}[row.get("healthy")]
        click.echo(
            f"{row['name']:<24} {row['provider']:<12} {price['input']:>8.2f} {price['output']:>8.2f} "
            f"{row['context_window']:>8} {row['privacy']:<8} {health}"
        )


@click.command()
@click.argument("prompt")
@click.option("--model", "-m", default="auto", show_default=True, help="Model or route name.")
@click.option("--stream", is_flag=True, help="Print tokens as they arrive.")
@click.option("--max-tokens", type=int, default=256, show_default=True)
@click.option("--system", help="A system prompt.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="In-process: this config.")
@click.option("--url", default=lambda: os.environ.get("TANDEM_URL", DEFAULT_URL), show_default=DEFAULT_URL)
@click.option("--in-process", is_flag=True, help="Do not use a running server.")
def chat(
    prompt: str,
    model: str,
    stream: bool,
    max_tokens: int,
    system: str | None,
    config_path: str | None,
    url: str,
    in_process: bool,
) -> None:
    """Send one chat message through a running server (or in-process)."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens, "stream": stream}
    if not in_process and not config_path and _server_up(url):
        _chat_http(url, body, stream)
    else:
        asyncio.run(_chat_local(_load(config_path), body, stream))


def _chat_http(url: str, body: dict[str, Any], stream: bool) -> None:
    req = _request(url + "/chat/completions", os.environ.get("TANDEM_KEY"), body)
    try:
        with urllib.request.urlopen(req) as r:
            served = f"[{r.headers.get('x-tandem-model')} via {r.headers.get('x-tandem-provider')}]"
            if not stream:
                reply = json.loads(r.read())
                click.echo(reply["choices"][0]["message"].get("content") or json.dumps(reply["choices"][0]["message"]))
                click.echo(f"{served} cost ${r.headers.get('x-tandem-cost-usd')}", err=True)
                return
            for raw in r:
                line = raw.decode().strip()
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    raise click.ClickException(chunk["error"]["message"])
                for choice in chunk.get("choices") or ():
                    click.echo((choice.get("delta") or {}).get("content") or "", nl=False)
            click.echo()
            click.echo(served, err=True)
    except urllib.error.HTTPError as exc:
        raise click.ClickException(_error_text(exc)) from None


async def _chat_local(cfg: Config, body: dict[str, Any], stream: bool) -> None:
    from tandem.api.app import build_gateway
    from tandem.errors import TandemError

    gateway = build_gateway(cfg, None)
    try:
        call = gateway.new_call("chat", body)
        if stream:
            async for chunk in gateway.stream(call):
                for choice in chunk.get("choices") or ():
                    click.echo((choice.get("delta") or {}).get("content") or "", nl=False)
            click.echo()
        else:
            result = await gateway.complete(call)
            click.echo(result.body["choices"][0]["message"].get("content"))
        click.echo(f"[{call.model} via {call.provider}] cost ${call.cost_usd:.8f}", err=True)
    except TandemError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        await gateway.aclose()
