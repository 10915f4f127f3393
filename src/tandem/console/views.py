"""HTTP handlers of the console: the page, its static files and its JSON API.

    GET  /                                   -> 307 to /console
    GET  /console                            the single page (hash-routed)
    GET  /console/static/...                 CSS and JavaScript (package data)
    GET  /console/api/session                who am I: role, key, auth mode, features
    GET  /console/api/dashboard?window=24h   spend, tokens, latency, routing, savings
                               [&key=ID]     (admin only: one key's view)
    GET  /console/api/bench                  past bench runs
    GET  /console/api/bench/{run}            a run's summary.json
    GET  /console/api/bench/{run}/files/{name}  summary.csv, items.csv, router_train.csv, report.json
    POST /console/api/bench/{run}/ticket     a 5-minute link to the run's report
    GET  /console/api/bench/{run}/report     report.html, sandboxed (header or ticket)

Chat goes to ``/v1/chat/completions`` and key management to ``/admin/keys``
directly from the page; see :mod:`tandem.console.access` for who sees what.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from tandem.console import STATIC_DIR
from tandem.console import bench as benchdir
from tandem.console.access import (
    ANONYMOUS,
    Viewer,
    auth_mode,
    check_ticket,
    make_ticket,
    resolve,
    store_of,
)
from tandem.console.dashboard import build_dashboard, parse_window
from tandem.errors import InvalidRequest, PermissionDenied, TandemError

__all__ = [
    "ConsoleStatic",
    "bench_file",
    "bench_list",
    "bench_report",
    "bench_summary",
    "bench_ticket",
    "dashboard",
    "page",
    "root",
    "session",
]

#: The page runs only its own scripts and styles and talks only to this server.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: A bench report is the bench's own HTML (inline CSS and SVG, no scripts):
#: it is shown sandboxed in an opaque origin with scripts off, loads nothing
#: from the network and may only be framed by the console.
REPORT_CSP = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; script-src 'none'; "
    "style-src 'unsafe-inline'; img-src data:; font-src data:; frame-ancestors 'self'"
)
_COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=_COMMON)


class ConsoleStatic(StaticFiles):
    """Static files that browsers revalidate (cheap 304s), so an upgrade of
    tandem never leaves a stale script next to a new page."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["cache-control"] = "no-cache"
        response.headers["x-content-type-options"] = "nosniff"
        return response


async def root(request: Request) -> Response:
    """``/``: the console."""
    return RedirectResponse("/console", status_code=307)


async def page(request: Request) -> Response:
    """The console page. It holds no data: everything comes from the API."""
    html = (STATIC_DIR / "index.html").read_bytes()
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            **_COMMON,
            "cache-control": "no-cache",
            "content-security-policy": PAGE_CSP,
            "x-frame-options": "DENY",
        },
    )


async def session(request: Request) -> Response:
    """Who the caller is and what the console offers them."""
    viewer = await resolve(request)
    store = store_of(request)
    config = request.app.state.config
    admin_set = bool(os.environ.get(config.auth.admin_key_env))
    return _json(
        {
            "viewer": viewer.to_dict(),
            "auth_mode": auth_mode(request),
            "admin_key_env": config.auth.admin_key_env,
            "admin_key_set": admin_set,
            "features": {
                "dashboard": store is not None,
                "keys": store is not None and viewer.is_admin,
                "bench": True,
            },
        }
    )


async def _dashboard_scope(request: Request, viewer: Viewer, store: Any) -> str | None:
    asked = request.query_params.get("key") or None
    if asked is None:
        return viewer.scope
    if len(asked) > 64:
        raise InvalidRequest("key: too long", param="key")
    if viewer.is_admin:
        if asked in (ANONYMOUS, "admin"):
            return asked
        rec = await store.get_key(asked)
        return str(rec.id)
    if viewer.role == "key" and asked in (viewer.key_id, viewer.prefix):
        return viewer.scope
    if viewer.role == "local" and asked == ANONYMOUS:
        return ANONYMOUS
    raise PermissionDenied("a key may only see its own usage")


async def dashboard(request: Request) -> Response:
    """The dashboard's data for the caller's scope (admin: all keys, or ``key=``)."""
    viewer = await resolve(request)
    window = parse_window(request.query_params.get("window"))
    store = store_of(request)
    if store is None:
        raise TandemError("this server keeps no usage ledger (no store configured)")
    scope = await _dashboard_scope(request, viewer, store)
    gateway = request.app.state.gateway
    routes = {n: r for n in gateway.router.names() if (r := gateway.router.route(n)) is not None}
    models = {n: m for n in gateway.router.names() if (m := gateway.router.model(n)) is not None}
    data = await build_dashboard(store, window, scope, routes, models, show_keys=viewer.is_admin)
    data["scope"] = {"key": scope, "all": scope is None}
    return _json(data)


async def bench_list(request: Request) -> Response:
    """Past bench runs, newest first."""
    viewer = await resolve(request)
    # Server paths only for the operator (admin, or the local user).
    roots = [str(p) for p in benchdir.bench_roots()] if viewer.role != "key" else None
    return _json({"roots": roots, "data": benchdir.list_runs()})


async def bench_summary(request: Request) -> Response:
    """One run's summary."""
    await resolve(request)
    run = request.path_params["run"]
    return _json({"id": run, "summary": benchdir.read_summary(run)})


async def bench_file(request: Request) -> Response:
    """A result file of a run (summary.csv, items.csv, router_train.csv, report.json)."""
    await resolve(request)
    run, name = request.path_params["run"], request.path_params["name"]
    path, media = benchdir.download_path(run, name)
    if name == "report.json":  # as the summary endpoint gives it: without server paths
        body = orjson.dumps(benchdir.read_summary(run), option=orjson.OPT_INDENT_2)
        return Response(
            body, media_type=media, headers={**_COMMON, "content-disposition": f'attachment; filename="{run}-{name}"'}
        )
    return FileResponse(path, media_type=media, filename=f"{run}-{name}", headers=_COMMON)


async def bench_ticket(request: Request) -> Response:
    """A short-lived URL for the run's report, for an iframe or a new tab."""
    viewer = await resolve(request)
    run = request.path_params["run"]
    benchdir.report_path(run)  # 404 before handing out a link to nothing
    ticket = make_ticket(request, viewer, run)
    url = f"/console/api/bench/{run}/report"
    if ticket is not None:
        url += f"?ticket={ticket}"
    return _json({"url": url})


async def bench_report(request: Request) -> Response:
    """The run's HTML report, sandboxed; needs a key (header) or a ticket."""
    run = request.path_params["run"]
    ticket = request.query_params.get("ticket")
    if ticket:
        check_ticket(request, ticket, run)
    else:
        await resolve(request)
    path = benchdir.report_path(run)
    return FileResponse(
        path,
        media_type="text/html; charset=utf-8",
        headers={
            **_COMMON,
            "content-security-policy": REPORT_CSP,
            "x-frame-options": "SAMEORIGIN",
        },
    )
