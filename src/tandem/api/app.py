"""The ASGI application: routes, error handlers and the app's lifespan.

State lives on ``app.state`` (the gateway, the store, metrics), built in the
lifespan, never in module globals.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tandem.accounting import Accountant
from tandem.api import openai
from tandem.api.errors import handle_http_exception, handle_tandem_error, handle_unexpected
from tandem.api.serving import ENDPOINTS, TandemApp
from tandem.config import Config
from tandem.errors import TandemError
from tandem.gateway import Gateway
from tandem.metrics import Metrics

__all__ = ["create_app"]

log = logging.getLogger("tandem")

#: Optional route modules (present when their features are installed).
_OPTIONAL_ROUTES = ("tandem.api.admin", "tandem.api.console")


async def healthz(request: Request) -> Response:
    """The process is up."""
    return Response(b'{"status":"ok"}', media_type="application/json")


async def readyz(request: Request) -> Response:
    """Config loaded and at least one model healthy; the ledger's state."""
    gateway: Gateway = request.app.state.gateway
    healthy: dict[str, bool] = request.app.state.health
    models = {name: ok and gateway.breakers[name].state != "open" for name, ok in healthy.items()}
    ready = any(models.values())
    body = {"status": "ready" if ready else "unavailable", "models": models, "ledger": gateway.accountant.status()}
    return Response(orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json")


async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    gateway: Gateway = request.app.state.gateway
    data = request.app.state.metrics.render(gateway.accountant.status())
    return Response(data, media_type="text/plain; version=0.0.4")


def _optional_routes() -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for name in _OPTIONAL_ROUTES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        found.extend(module.routes)
    return found


async def _check_health(gateway: Gateway) -> dict[str, bool]:
    names = list(gateway.providers)
    results = await asyncio.gather(*(gateway.providers[n].check_health() for n in names), return_exceptions=True)
    return {n: r is True for n, r in zip(names, results, strict=True)}


def create_app(
    config: Config,
    *,
    gateway: Gateway | None = None,
    accountant: Accountant | None = None,
    gateway_factory: Callable[[Config, Accountant | None], Gateway] | None = None,
    freeze_gc: bool = False,
) -> Starlette:
    """Build the app. Without ``gateway``, it is built from ``config`` at startup.

    ``freeze_gc`` (``tandem serve``): once started, move every object alive
    then (modules, compiled patterns, the router, providers) out of the
    garbage collector's reach, so its full collections only walk what
    requests create: a full collection over the whole heap stalls the loop
    for milliseconds, which showed up in the p99 latency.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        acct = accountant
        if acct is None and gateway is None:
            acct = _open_store(config)
        gw = gateway or (gateway_factory or build_gateway)(config, acct)
        app.state.gateway = gw
        app.state.store = gw.accountant
        app.state.metrics = Metrics()
        gw.observers.append(app.state.metrics.observe)
        await gw.accountant.start()
        app.state.health = await _check_health(gw)
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            # Flush the ledger first: every answered request gets recorded.
            await gw.accountant.aclose()
            await gw.aclose()
            app.state.metrics.close()

    routes: list[BaseRoute] = [
        # Served by TandemApp without Starlette's middleware; routed here too
        # so that other methods get a 405.
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in ENDPOINTS.items()),
        Route("/v1/models", openai.list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", openai.get_model, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *_optional_routes(),
    ]
    handlers: dict[Any, Any] = {
        TandemError: handle_tandem_error,
        HTTPException: handle_http_exception,
        Exception: handle_unexpected,
    }
    app = TandemApp(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.state.config = config
    app.state.max_body = config.server.max_body_bytes
    app.state.started = int(time.time())
    return app


def _open_store(config: Config) -> Accountant:
    """The store (keys, budgets, ledger) named by the config; connects nothing yet."""
    from tandem.store import open_store

    return open_store(config)


def build_gateway(config: Config, accountant: Accountant | None) -> Gateway:
    """The gateway with its providers, privacy stage and learned routers."""
    from tandem.guard import PrivacyStage

    guard = None
    try:
        from tandem.privacy import PrivacyGuard

        guard = PrivacyGuard(entities=config.privacy.entities)
    except ImportError:
        guard = None
    predictors = _load_predictors(config)
    privacy = PrivacyStage(guard, config.privacy.default_policy)
    return Gateway.from_config(config, accountant=accountant, privacy=privacy, predictors=predictors)


def _load_predictors(config: Config) -> dict[str, Any]:
    """Learned quality predictors of the routes that name a router file
    (a relative path is relative to the config file)."""
    found: dict[str, Any] = {}
    for route in config.routes:
        if route.router:
            from tandem.routing.learned import QualityPredictor

            path = Path(route.router).expanduser()
            if not path.is_absolute() and config.source and not config.source.startswith("<"):
                path = Path(config.source).resolve().parent / path
            found[route.name] = QualityPredictor.load(path).predict
    return found
