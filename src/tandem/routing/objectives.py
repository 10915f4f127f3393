"""Routing objectives: how to order the candidates that passed the constraints.

Each objective is a small class with one decision method and a registry
name (as RouteLLM's ``ROUTER_CLS``). The first candidate is the choice; the
rest are the fallback order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from tandem.config import ModelConfig, RouteConfig

__all__ = ["OBJECTIVES", "Candidate", "Objective"]


@dataclass(slots=True)
class Candidate:
    """A model that passed the hard constraints, with its estimates."""

    model: ModelConfig
    quality: float
    cost: float
    latency_ms: float

    @property
    def name(self) -> str:
        """The model's configured name."""
        return self.model.name


class Objective(ABC):
    """Orders candidates; the first is chosen, the rest are fallbacks."""

    name: ClassVar[str]

    @abstractmethod
    def order(
        self, cands: list[Candidate], route: RouteConfig, min_quality: float | None
    ) -> tuple[list[Candidate], str]:
        """Return the candidates in try order and a short reason for the first."""


class Cheapest(Objective):
    """The cheapest candidate predicted to meet the quality target."""

    name = "cheapest"

    def order(
        self, cands: list[Candidate], route: RouteConfig, min_quality: float | None
    ) -> tuple[list[Candidate], str]:
        target = min_quality if min_quality is not None else route.min_quality
        if target is None:
            ranked = sorted(cands, key=lambda c: (c.cost, -c.quality))
            return ranked, f"cheapest (est ${ranked[0].cost:.6f})"
        good = sorted((c for c in cands if c.quality >= target), key=lambda c: (c.cost, -c.quality))
        rest = sorted((c for c in cands if c.quality < target), key=lambda c: (-c.quality, c.cost))
        if good:
            first = good[0]
            why = f"cheapest with predicted quality >= {target:g} (q={first.quality:.2f}, est ${first.cost:.6f})"
            return good + rest, why
        return rest, f"no candidate predicted to reach {target:g}; best predicted (q={rest[0].quality:.2f})"


class BestQuality(Objective):
    """The best predicted quality within the route's cost cap."""

    name = "quality"

    def order(
        self, cands: list[Candidate], route: RouteConfig, min_quality: float | None
    ) -> tuple[list[Candidate], str]:
        ranked = sorted(cands, key=lambda c: (-c.quality, c.cost))
        if route.max_cost is not None:
            within = [c for c in ranked if c.cost <= route.max_cost]
            over = [c for c in ranked if c.cost > route.max_cost]
            if within:
                return within + over, f"best predicted quality within ${route.max_cost:g} (q={within[0].quality:.2f})"
        return ranked, f"best predicted quality (q={ranked[0].quality:.2f})"


class Fastest(Objective):
    """The lowest expected latency."""

    name = "fastest"

    def order(
        self, cands: list[Candidate], route: RouteConfig, min_quality: float | None
    ) -> tuple[list[Candidate], str]:
        ranked = sorted(cands, key=lambda c: (c.latency_ms, c.cost))
        return ranked, f"fastest (~{ranked[0].latency_ms:.0f} ms)"


class Ordered(Objective):
    """The configured preference order."""

    name = "ordered"

    def order(
        self, cands: list[Candidate], route: RouteConfig, min_quality: float | None
    ) -> tuple[list[Candidate], str]:
        return list(cands), "first in the route's preference order"


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (Cheapest(), BestQuality(), Fastest(), Ordered())}
