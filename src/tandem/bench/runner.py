"""Runs every target (model or route) over a dataset through the Gateway.

Each request takes the same path as live traffic (``Gateway.new_call`` +
``Gateway.stream``: routing, privacy, retries, fallback, pricing, ledger),
streamed so that time to first token is measured. Targets run one after
another, so that their latencies are not skewed by each other on a shared
machine; within a target, up to ``concurrency`` items run at once (never more
than the model's own ``max_concurrency``, so queueing inside a local model
does not count as latency).

Each result is stored the moment it completes (:class:`ResultStore`). Replies
are scored as they come, except by scorers that call a model (the judge),
which run afterwards over the stored replies; a rerun also rescores stored
replies whose score came from another scorer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tandem.bench.dataset import Dataset, DatasetError, Item
from tandem.bench.results import Result, ResultStore
from tandem.bench.scorers import Scorer, Verdict
from tandem.config import Config
from tandem.errors import TandemError

__all__ = ["BenchSettings", "RunCounts", "Runner", "Target", "resolve_targets", "run_key"]

log = logging.getLogger("tandem.bench")


@dataclass(frozen=True, slots=True)
class Target:
    """A model or route under test."""

    name: str
    kind: Literal["model", "route"]
    #: The most calls the target can serve at once.
    max_concurrency: int = 64


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """How a benchmark is run."""

    max_tokens: int = 256
    temperature: float = 0.0
    concurrency: int = 4
    limit: int | None = None
    retry_errors: bool = False


@dataclass(slots=True)
class RunCounts:
    """What a run did."""

    calls: int = 0
    skipped: int = 0
    errors: int = 0
    scored: int = 0


def run_key(dataset: Dataset, settings: BenchSettings) -> str:
    """The key results are stored under: the data plus what shapes the requests."""
    shape = {"data": dataset.digest, "max_tokens": settings.max_tokens, "temperature": settings.temperature}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _split(names: str | Sequence[str] | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        names = names.split(",")
    return [n.strip() for n in names if n.strip()]


def resolve_targets(
    config: Config, models: str | Sequence[str] | None = None, routes: str | Sequence[str] | None = None
) -> list[Target]:
    """The targets to run.

    Default: every chat model, plus every route with two or more candidates
    (a route over one model would repeat it). ``routes`` alone adds the
    routes' candidates, which the route report compares against.
    """
    model_names, route_names = _split(models), _split(routes)
    chat = [m.name for m in config.models if "chat" in m.capabilities]
    if model_names is None and route_names is None:
        model_names = chat
        route_names = [r.name for r in config.routes if len(r.candidates) > 1]
    elif model_names is None:
        assert route_names is not None
        wanted = {c for r in config.routes if r.name in route_names for c in r.candidates}
        model_names = [n for n in chat if n in wanted]
    targets: list[Target] = []
    for name in model_names or []:
        model = config.model(name)
        if model is None:
            known = ", ".join(m.name for m in config.models)
            raise DatasetError(f"unknown model {name!r} (configured: {known})")
        if "chat" not in model.capabilities:
            raise DatasetError(f"model {name!r} does not serve chat")
        targets.append(Target(name, "model", model.max_concurrency))
    routes_by_name = {r.name: r for r in config.routes}
    for name in route_names or []:
        route = routes_by_name.get(name)
        if route is None:
            known = ", ".join(routes_by_name) or "none"
            raise DatasetError(f"unknown route {name!r} (configured: {known})")
        cap = max(config.model(c).max_concurrency for c in route.candidates)  # type: ignore[union-attr]
        targets.append(Target(name, "route", cap))
    seen: set[str] = set()
    return [t for t in targets if not (t.name in seen or seen.add(t.name))]  # type: ignore[func-returns-value]


class Runner:
    """Runs targets over items and stores each result as it completes."""

    def __init__(
        self,
        gateway: Any,
        dataset: Dataset,
        scorer: Scorer,
        store: ResultStore,
        settings: BenchSettings,
        targets: Sequence[Target],
        progress: Any = None,
    ) -> None:
        self.gateway = gateway
        self.dataset = dataset
        self.scorer = scorer
        self.store = store
        self.settings = settings
        self.targets = list(targets)
        self.progress = progress
        self.key = run_key(dataset, settings)
        self.items = dataset.items[: settings.limit] if settings.limit else list(dataset.items)
        self.counts = RunCounts()

    def check(self) -> None:
        """Check every item against the scorer before any call is made."""
        problems = []
        for item in self.items:
            try:
                self.scorer.check(item)
            except DatasetError as exc:
                problems.append(str(exc))
        if problems:
            more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
            raise DatasetError(
                f"{self.dataset.source}: {len(problems)} item(s) cannot be scored with "
                f"{self.scorer.spec}:\n  " + "\n  ".join(problems[:10]) + more
            )

    async def run(self) -> RunCounts:
        """Call every pending (target, item), then score what is unscored."""
        done = self.store.done(self.key, with_errors=not self.settings.retry_errors)
        for target in self.targets:
            pending = [it for it in self.items if (it.id, target.name) not in done]
            self.counts.skipped += len(self.items) - len(pending)
            task = self._task(target.name, len(self.items), len(self.items) - len(pending))
            limit = asyncio.Semaphore(max(1, min(self.settings.concurrency, target.max_concurrency)))

            async def one(
                item: Item, target: Target = target, limit: asyncio.Semaphore = limit, task: Any = task
            ) -> None:
                async with limit:
                    result = await self._call(target, item)
                if not self.scorer.needs_gateway:
                    self._apply(result, await self._verdict(result, item))
                self.store.put(result)
                self.counts.calls += 1
                self.counts.errors += result.error is not None
                self._advance(task)

            await asyncio.gather(*(one(it) for it in pending))
        await self._score_stored()
        return self.counts

    # --- one call -----------------------------------------------------------

    def _body(self, target: Target, item: Item) -> dict[str, Any]:
        return {
            "model": target.name,
            "messages": item.messages,
            "max_tokens": self.settings.max_tokens,
            "temperature": self.settings.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    async def _call(self, target: Target, item: Item) -> Result:
        started = time.time()
        parts: list[str] = []
        ttft: float | None = None
        error: TandemError | None = None
        call = None
        try:
            call = self.gateway.new_call("chat", self._body(target, item))
            call.request_id = f"bench:{self.key}:{item.id}"[:64]
            async for chunk in self.gateway.stream(call):
                for choice in chunk.get("choices") or ():
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        if ttft is None:
                            ttft = time.perf_counter() - call.started
                        parts.append(piece)
        except TandemError as exc:
            error = exc
        except Exception as exc:  # one broken call must not end a long run
            log.exception("bench call of %s on item %s failed", target.name, item.id)
            error = TandemError(f"{type(exc).__name__}: {exc}", code="internal_error")
        ended = time.time()
        decision = call.decision if call is not None else None
        model_name = (call.model if call is not None else None) or (decision.model if decision else None)
        model = self.gateway.config.model(model_name) if model_name else None
        usage = call.usage if call is not None else None
        return Result(
            run_key=self.key,
            item_id=item.id,
            target=target.name,
            kind=target.kind,
            served_model=call.model if call is not None else None,
            route_reason=decision.reason if decision is not None else None,
            predicted=json.dumps(decision.predicted) if decision is not None and decision.predicted else None,
            reply=None if error is not None else "".join(parts),
            status=error.status_code if error is not None else 200,
            error=(error.code or error.type or "error") if error is not None else None,
            error_message=error.message[:300] if error is not None else None,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            cost_usd=call.cost_usd if call is not None else 0.0,
            local_compute=int(model is not None and model.price.input == 0 and model.price.output == 0),
            started_at=started,
            ended_at=ended,
            latency_s=call.latency_s if call is not None else ended - started,
            ttft_s=None if error is not None else (ttft if ttft is not None else call.first_token_s if call else None),
            retries=call.retries if call is not None else 0,
            fallbacks=call.fallbacks if call is not None else 0,
        )

    # --- scoring ------------------------------------------------------------

    async def _verdict(self, result: Result, item: Item) -> Verdict:
        if result.error is not None:
            return Verdict(0.0, "the call failed")
        try:
            return await self.scorer.ascore(result.reply or "", item)
        except Exception as exc:  # keep the reply; a rerun scores it again
            log.exception("scoring item %s of %s failed", item.id, result.target)
            return Verdict(None, f"scoring failed: {type(exc).__name__}: {exc}"[:200], final=False)

    def _apply(self, result: Result, verdict: Verdict) -> None:
        result.scorer = self.scorer.spec if verdict.final else None
        result.score = verdict.score
        result.score_note = verdict.note or None
        result.judge_cost_usd = verdict.cost_usd
        result.judge_compute_s = verdict.compute_s

    async def _score_stored(self) -> None:
        """Score stored replies that lack a score from the current scorer."""
        items = {it.id: it for it in self.items}
        names = {t.name for t in self.targets}
        todo = [r for r in self.store.results(self.key, names) if r.item_id in items and r.scorer != self.scorer.spec]
        if not todo:
            return
        task = self._task(f"scoring ({self.scorer.name})", len(todo), 0)
        limit = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def one(result: Result) -> None:
            async with limit:
                verdict = await self._verdict(result, items[result.item_id])
            spec = self.scorer.spec if verdict.final else None
            self.store.set_score(
                self.key,
                result.item_id,
                result.target,
                spec,
                verdict.score,
                verdict.note,
                verdict.cost_usd,
                verdict.compute_s,
            )
            self.counts.scored += 1
            self._advance(task)

        await asyncio.gather(*(one(r) for r in todo))

    # --- progress -----------------------------------------------------------

    def _task(self, label: str, total: int, completed: int) -> Any:
        if self.progress is None:
            return None
        return self.progress.add_task(label, total=total, completed=completed)

    def _advance(self, task: Any) -> None:
        if self.progress is not None and task is not None:
            self.progress.advance(task)
