"""The web console served by ``tandem serve`` at ``/console``.

A single page (plain HTML, CSS and JavaScript in ``static/``, no framework,
charts drawn as inline SVG) over a small JSON API under ``/console/api``:

* :mod:`tandem.console.access`: who is calling (admin, a key, or the local
  user when ``auth.mode`` is off) and what they may see;
* :mod:`tandem.console.dashboard`: spend, tokens, latency, routing mix and
  savings from the usage ledger, scoped to the caller;
* :mod:`tandem.console.bench`: discovery of past ``tandem bench`` runs;
* :mod:`tandem.console.views`: the HTTP handlers that
  :mod:`tandem.api.console` mounts.

Key management in the page goes straight to the admin API (``/admin/keys``)
and chat to ``/v1/chat/completions``: the console adds no second path to
those operations.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC_DIR"]

#: The page's static assets (package data).
STATIC_DIR = Path(__file__).resolve().parent / "static"
