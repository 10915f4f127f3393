"""``tandem keys`` (create, list, revoke, update) and ``tandem usage``.

They work on the store directly, through :mod:`tandem.store` (not over
HTTP), with the same configuration as the server (``--config`` or
``$TANDEM_CONFIG``, ``$TANDEM_DATABASE_URL``), so they reach the same
database; running servers see a change from their next request on.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from tandem.config import ConfigError, load_config
from tandem.errors import TandemError
from tandem.store import KeySpec, KeyUpdate, Store, open_store, parse_since

__all__ = ["keys", "usage"]

T = TypeVar("T")
_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $TANDEM_CONFIG or the built-in default).",
)
_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)


def _run(config_path: str | None, work: Callable[[Store], Awaitable[T]]) -> T:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def main() -> T:
        # "shared": this process never serves, so it never takes the serving lock.
        store = open_store(config, coordination="shared")
        await store.start()
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(main())
    except TandemError as exc:
        raise click.ClickException(exc.message) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _when(value: float | None) -> str:
    if value is None:
        return ""
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _expiry(value: str | None) -> float | None:
    """``30d`` / ``12h``: that long from now; an ISO date or datetime: then."""
    if value is None:
        return None
    ago = parse_since(value, now=0.0)  # a span comes back as minus its length
    assert ago is not None
    return dt.datetime.now(dt.UTC).timestamp() - ago if ago < 0 else ago


def _emit(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
        return
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ",".join(value) or "-"
    return str(value)


def _limit_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--owner"),
        click.option("--team"),
        click.option("--tag", "tags", multiple=True, help="Repeatable."),
        click.option("--model", "models", multiple=True, help="Allowed model (repeatable)."),
        click.option("--route", "routes", multiple=True, help="Allowed route (repeatable)."),
        click.option("--budget-day", type=float),
        click.option("--budget-month", type=float),
        click.option("--budget-total", type=float),
        click.option("--rpm", type=int, help="Requests per minute."),
        click.option("--tpm", type=int, help="Tokens per minute."),
        click.option("--privacy", type=click.Choice(["allow", "redact", "local-only", "block"])),
        click.option("--expires", help="ISO date/time, or a span from now: 30d, 12h."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _fields(opts: dict[str, Any]) -> dict[str, Any]:
    mapping = {
        "owner": "owner",
        "team": "team",
        "tags": "tags",
        "models": "allowed_models",
        "routes": "allowed_routes",
        "budget_day": "budget_day_usd",
        "budget_month": "budget_month_usd",
        "budget_total": "budget_total_usd",
        "rpm": "rpm_limit",
        "tpm": "tpm_limit",
        "privacy": "privacy_policy",
    }
    out = {
        dest: (list(opts[src]) if isinstance(opts[src], tuple) else opts[src])
        for src, dest in mapping.items()
        if opts[src] not in (None, ())
    }
    if opts.get("expires"):
        out["expires_at"] = _expiry(opts["expires"])
    return out


def _validated(model: type[KeySpec], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise click.BadParameter(f"{where}: {err['msg'].removeprefix('Value error, ')}") from None


@click.group()
def keys() -> None:
    """Create, list, change and revoke virtual API keys."""


@keys.command("create")
@click.option("--name", required=True)
@_limit_options
@_config_option
def create(name: str, config_path: str | None, **opts: Any) -> None:
    """Create a key and print its secret (shown this once only)."""
    spec = _validated(KeySpec, {"name": name, **_fields(opts)})
    rec, secret = _run(config_path, lambda s: s.create_key(spec))
    click.echo(f"created key {rec.id} ({rec.name}), prefix {rec.prefix}")
    click.echo("secret (store it now, it is not shown again):", err=True)
    click.echo(secret)


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@_format_option
@_config_option
def list_(include_revoked: bool, fmt: str, config_path: str | None) -> None:
    """List keys (never their secrets)."""
    recs = _run(config_path, lambda s: s.list_keys(include_revoked=include_revoked))
    rows = []
    for r in recs:
        row = r.public()
        for k in ("expires_at", "revoked_at", "created_at", "updated_at"):
            row[k] = _when(row[k]) if fmt == "table" else row[k]
        rows.append(row)
    columns = [
        "id",
        "prefix",
        "name",
        "owner",
        "team",
        "budget_day_usd",
        "budget_month_usd",
        "budget_total_usd",
        "rpm_limit",
        "tpm_limit",
        "privacy_policy",
        "expires_at",
        "revoked_at",
    ]
    _emit(rows, columns if fmt == "table" else list(rows[0]) if rows else columns, fmt)


@keys.command("revoke")
@click.argument("key")
@_config_option
def revoke(key: str, config_path: str | None) -> None:
    """Revoke KEY (id or prefix): refused from the next request on."""
    rec = _run(config_path, lambda s: s.revoke_key(key))
    click.echo(f"revoked {rec.id} ({rec.name})")


@keys.command("update")
@click.argument("key")
@click.option("--name")
@_limit_options
@click.option("--clear", multiple=True, help="Clear a field, e.g. --clear budget_day_usd.")
@_config_option
def update(key: str, name: str | None, clear: tuple[str, ...], config_path: str | None, **opts: Any) -> None:
    """Change KEY's budgets, limits, models, policy, expiry or tags."""
    data = _fields(opts)
    if name is not None:
        data["name"] = name
    for field in clear:
        data[field] = None
    change = _validated(KeyUpdate, data)
    if not change.model_fields_set:
        raise click.UsageError("nothing to change")
    rec = _run(config_path, lambda s: s.update_key(key, change))
    click.echo(f"updated {rec.id} ({rec.name})")


@click.command()
@click.option("--by", type=click.Choice(["key", "model", "route", "day"]), default="key", show_default=True)
@click.option("--since", default="30d", show_default=True, help="ISO date/time or 7d, 24h, 30m.")
@click.option("--key", "key_ref", help="Only this key (id or prefix).")
@_format_option
@_config_option
def usage(by: str, since: str, key_ref: str | None, fmt: str, config_path: str | None) -> None:
    """Show usage and spend, grouped by key, model, route or day."""
    try:
        since_ts = parse_since(since)
    except TandemError as exc:
        raise click.BadParameter(exc.message, param_hint="--since") from None
    rows = _run(config_path, lambda s: s.usage_summary(by, since_ts, key_ref))
    data = [r.to_dict() for r in rows]
    columns = [
        by,
        *(["name"] if by == "key" else []),
        "requests",
        "errors",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "avg_latency_s",
        "cache_hits",
    ]
    for d in data:
        d[by] = d.pop("group")
    _emit(data, columns, fmt)
