"""Routes of the web console (``/console``); ``create_app`` mounts ``routes``.

The handlers live in :mod:`tandem.console.views`; this module only maps
paths to them, as the other ``tandem.api`` modules do.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from tandem.console import STATIC_DIR, views

__all__ = ["routes"]

routes: list[BaseRoute] = [
    Route("/", views.root, methods=["GET"]),
    Route("/console", views.page, methods=["GET"]),
    Route("/console/", views.page, methods=["GET"]),
    Mount("/console/static", app=views.ConsoleStatic(directory=STATIC_DIR), name="console-static"),
    Route("/console/api/session", views.session, methods=["GET"]),
    Route("/console/api/dashboard", views.dashboard, methods=["GET"]),
    Route("/console/api/bench", views.bench_list, methods=["GET"]),
    Route("/console/api/bench/{run}", views.bench_summary, methods=["GET"]),
    Route("/console/api/bench/{run}/files/{name}", views.bench_file, methods=["GET"]),
    Route("/console/api/bench/{run}/ticket", views.bench_ticket, methods=["POST"]),
    Route("/console/api/bench/{run}/report", views.bench_report, methods=["GET"]),
]
