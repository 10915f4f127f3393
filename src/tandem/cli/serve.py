"""``tandem serve``: run the HTTP server."""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import tempfile

import click

from tandem.config import Config, ConfigError, load_config
from tandem.providers.base import provider_options

__all__ = ["app_factory", "serve"]

_ENV_HOST, _ENV_PORT, _ENV_WORKERS = "TANDEM_SERVE_HOST", "TANDEM_SERVE_PORT", "TANDEM_SERVE_WORKERS"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _effective_config(path: str | None) -> Config:
    cfg = load_config(path)
    server = cfg.server
    update: dict[str, object] = {}
    if host := os.environ.get(_ENV_HOST):
        update["host"] = host
    if port := os.environ.get(_ENV_PORT):
        update["port"] = int(port)
    if workers := os.environ.get(_ENV_WORKERS):
        # The store counts budgets in memory only when it is the one process.
        update["workers"] = int(workers)
    if update:
        cfg = cfg.model_copy(update={"server": server.model_copy(update=update)})
    return cfg


def app_factory() -> object:
    """Build the ASGI app in each worker process (uvicorn ``--factory``)."""
    from tandem.api.app import create_app

    return create_app(_effective_config(os.environ.get("TANDEM_CONFIG")), freeze_gc=True)


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file.")
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port (default 8080).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes (default 1).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]))
def serve(
    config_path: str | None, host: str | None, port: int | None, workers: int | None, log_level: str | None
) -> None:
    """Serve the OpenAI-compatible API (embedded defaults without --config)."""
    if config_path:
        os.environ["TANDEM_CONFIG"] = os.path.abspath(config_path)
    if host:
        os.environ[_ENV_HOST] = host
    if port is not None:
        os.environ[_ENV_PORT] = str(port)
    if workers is not None:
        os.environ[_ENV_WORKERS] = str(workers)
    try:
        cfg = _effective_config(config_path)
        # Provider options are typed per provider kind: check them here, so a
        # bad one is a one-line error, not a traceback from the app's startup.
        for model in cfg.models:
            provider_options(model)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    server = cfg.server
    if cfg.auth.mode == "off" and not _is_loopback(server.host):
        raise click.ClickException(
            f"refusing to bind {server.host} with auth off: anyone on the network could use "
            "your models. Set auth.mode: keys in the config (and TANDEM_ADMIN_KEY), or bind 127.0.0.1."
        )
    n = workers or server.workers
    url = f"http://{'127.0.0.1' if server.host in ('0.0.0.0', '::') else server.host}:{server.port}/v1"
    names = ", ".join(m.name for m in cfg.models) + (", " + ", ".join(r.name for r in cfg.routes) if cfg.routes else "")
    auth = ' -H "Authorization: Bearer $TANDEM_KEY"' if cfg.auth.mode == "keys" else ""
    click.echo(f"tandem serving {names} ({cfg.source})", err=True)
    click.echo(f"  base URL: {url}", err=True)
    click.echo(
        f"  try: curl {url}/chat/completions -H 'Content-Type: application/json'{auth} "
        f'-d \'{{"model": "auto", "messages": [{{"role": "user", "content": "Hello!"}}]}}\'',
        err=True,
    )
    sys.stderr.flush()
    metrics_dir = None
    if n > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker counts in its own files here; /metrics sums them all.
        metrics_dir = tempfile.mkdtemp(prefix="tandem-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        _run(cfg, n, log_level)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run(cfg: Config, workers: int, log_level: str | None) -> None:
    """uvicorn with tandem's settings; each worker builds the app with :func:`app_factory`."""
    import uvicorn

    from tandem.api.coalesce import CoalescingHttpToolsProtocol

    server = cfg.server
    uvicorn.run(
        "tandem.cli.serve:app_factory",
        factory=True,
        host=server.host,
        port=server.port,
        workers=workers if workers > 1 else None,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http=CoalescingHttpToolsProtocol,
        log_level=log_level or server.log_level,
        access_log=False,
        timeout_graceful_shutdown=30,
        server_header=False,
        proxy_headers=False,
        date_header=False,
    )
