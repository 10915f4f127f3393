"""Prometheus metrics, observed once per finished call (off the hot path's awaits).

The registry belongs to the app (no module globals), so two apps in one
process (tests) never share counters. With several worker processes
(``tandem serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh
directory unless it is set already) each worker counts in its own files
there, and ``/metrics``, whichever worker answers, sums them with
prometheus-client's multiprocess collector.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

from tandem.call import Call

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """Requests, errors, latency, tokens and cost by model and route."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        labels = ("model", "route", "status")
        self.requests = Counter("tandem_requests", "Requests served", labels, registry=r)
        self.errors = Counter("tandem_errors", "Requests that failed", ("model", "route", "code"), registry=r)
        self.latency = Histogram(
            "tandem_request_latency_seconds",
            "End-to-end latency",
            ("model", "route"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "tandem_time_to_first_token_seconds",
            "Time to first streamed chunk",
            ("model", "route"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("tandem_tokens", "Tokens processed", ("model", "route", "kind"), registry=r)
        self.cost = Counter("tandem_cost_usd", "Spend in USD", ("model", "route"), registry=r)
        self.retries = Counter("tandem_retries", "Upstream retries", ("model",), registry=r)
        self.fallbacks = Counter("tandem_fallbacks", "Fallbacks to another model", ("route",), registry=r)
        self.privacy = Counter("tandem_privacy_entities", "Personal data found", ("entity", "action"), registry=r)
        # Summed over live workers when there are several.
        self.ledger_queue = Gauge(
            "tandem_ledger_queue_depth", "Ledger records waiting", registry=r, multiprocess_mode="livesum"
        )
        self.ledger_spooled = Gauge(
            "tandem_ledger_spooled", "Ledger records in the spool file", registry=r, multiprocess_mode="livesum"
        )
        # Label children are looked up once per (model, route) pair.
        self._children: dict[tuple[str, str, int], tuple[Any, ...]] = {}

    def _kids(self, model: str, route: str, status: int) -> tuple[Any, ...]:
        key = (model, route, status)
        kids = self._children.get(key)
        if kids is None:
            kids = (
                self.requests.labels(model, route, str(status)),
                self.latency.labels(model, route),
                self.tokens.labels(model, route, "prompt"),
                self.tokens.labels(model, route, "completion"),
                self.cost.labels(model, route),
            )
            self._children[key] = kids
        return kids

    def observe(self, call: Call) -> None:
        """Record one finished call."""
        model = call.model or "-"
        route = call.decision.route if call.decision and call.decision.route else "-"
        req, lat, ptok, ctok, cost = self._kids(model, route, call.status)
        req.inc()
        if call.latency_s is not None:
            lat.observe(call.latency_s)
        if call.usage.prompt_tokens:
            ptok.inc(call.usage.prompt_tokens)
        if call.usage.completion_tokens:
            ctok.inc(call.usage.completion_tokens)
        if call.cost_usd:
            cost.inc(call.cost_usd)
        if call.error:
            self.errors.labels(model, route, call.error).inc()
        if call.first_token_s is not None:
            self.ttft.labels(model, route).observe(call.first_token_s)
        if call.retries:
            self.retries.labels(model).inc(call.retries)
        if call.fallbacks:
            self.fallbacks.labels(route).inc(call.fallbacks)
        for entity, n in call.privacy_counts.items():
            self.privacy.labels(entity, call.privacy_action or "allow").inc(n)

    def close(self) -> None:
        """At worker shutdown: with several workers, this worker's gauges stop counting."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def render(self, status: dict[str, object]) -> bytes:
        """The text exposition format, with the ledger gauges refreshed."""
        depth = status.get("queue_depth")
        if isinstance(depth, int):
            self.ledger_queue.set(depth)
        spooled = status.get("spooled")
        if isinstance(spooled, int):
            self.ledger_spooled.set(spooled)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
