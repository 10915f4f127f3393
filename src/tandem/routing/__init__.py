"""Routing: which model serves each request, and what to do when it fails."""

from tandem.routing.breaker import CircuitBreaker
from tandem.routing.objectives import OBJECTIVES, Candidate, Objective
from tandem.routing.router import Router, required_capabilities

__all__ = ["OBJECTIVES", "Candidate", "CircuitBreaker", "Objective", "Router", "required_capabilities"]
