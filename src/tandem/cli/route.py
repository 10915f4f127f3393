"""``tandem route explain``: show how a prompt would be routed, without calling a model."""

from __future__ import annotations

import json
from typing import Any

import click

from tandem.config import ConfigError, load_config

__all__ = ["route"]


@click.group()
def route() -> None:
    """Inspect routing decisions."""


@route.command()
@click.argument("prompt")
@click.option("--route", "route_name", default="auto", show_default=True, help="Route (or model) name.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--max-tokens", type=int, help="The request's max_tokens (affects cost and context checks).")
@click.option("--privacy", type=click.Choice(["local", "trusted", "public"]), help="Privacy hint.")
@click.option("--max-cost", type=float, help="Max cost hint (USD per request).")
@click.option("--min-quality", type=float, help="Min quality hint in [0, 1].")
@click.option("--json", "as_json", is_flag=True)
def explain(
    prompt: str,
    route_name: str,
    config_path: str | None,
    max_tokens: int | None,
    privacy: str | None,
    max_cost: float | None,
    min_quality: float | None,
    as_json: bool,
) -> None:
    """Print the candidates, what filtered each out, predicted quality and cost, and the choice."""
    from tandem.api.app import build_gateway
    from tandem.errors import TandemError
    from tandem.routing.router import DEFAULT_COMPLETION_TOKENS

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    gateway = build_gateway(cfg, None)
    hints = {
        k: v for k, v in {"privacy": privacy, "max_cost": max_cost, "min_quality": min_quality}.items() if v is not None
    }
    body: dict[str, object] = {"model": route_name, "messages": [{"role": "user", "content": prompt}]}
    if max_tokens:
        body["max_tokens"] = max_tokens
    if hints:
        body["tandem"] = hints
    try:
        call = gateway.new_call("chat", body)
        r = gateway.router.route(route_name)
        protection = gateway.privacy.apply(call, r.privacy if r else None)
        decision = gateway.router.decide(call, protection.allowed_tiers)
    except TandemError as exc:
        raise click.ClickException(exc.message) from None
    tokens = call.estimated_prompt_tokens()
    completion = max_tokens or DEFAULT_COMPLETION_TOKENS
    rows: list[dict[str, Any]] = []
    for name in r.candidates if r else [route_name]:
        m = gateway.router.model(name)
        assert m is not None
        rows.append(
            {
                "model": name,
                "privacy": m.privacy,
                "predicted_quality": round(decision.predicted.get(name, m.quality), 4),
                "quality_source": "router" if name in decision.predicted else "config prior",
                "est_cost_usd": m.price.cost(tokens, completion),
                "status": "chosen"
                if name == decision.model
                else (f"fallback #{decision.order.index(name)}" if name in decision.order else "filtered"),
                "why_filtered": decision.rejected.get(name),
            }
        )
    out = {
        "route": route_name,
        "prompt_tokens_est": tokens,
        "privacy_found": call.privacy_counts,
        "privacy_policy": protection.policy,
        "choice": decision.model,
        "reason": decision.reason,
        "candidates": rows,
    }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"route {route_name}: ~{tokens} prompt tokens, {completion} completion tokens assumed")
    if call.privacy_counts:
        found = ", ".join(f"{k} x{v}" for k, v in call.privacy_counts.items())
        click.echo(f"privacy: found {found}; policy {protection.policy}")
    click.echo(f"{'MODEL':<24} {'PRIVACY':<8} {'QUALITY':>8} {'EST COST':>12}  STATUS")
    for row in rows:
        status = row["status"] + (f" ({row['why_filtered']})" if row["why_filtered"] else "")
        click.echo(
            f"{row['model']:<24} {row['privacy']:<8} {row['predicted_quality']:>8.2f} "
            f"{row['est_cost_usd']:>12.6f}  {status}"
        )
    click.echo(f"choice: {decision.model} - {decision.reason}")
