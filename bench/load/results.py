"""The measurements of one benchmark run, as plain data (dumped to JSON too)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.load.streams import StreamResult
from bench.load.wrk import WrkResult

__all__ = ["CompareRow", "LoadRow", "Run", "SoakResult", "StreamRow", "Target"]


@dataclass
class Target:
    """One thing under load: the upstream itself, a tandem build, or LiteLLM."""

    key: str  # "direct", "tandem", "litellm", or a variant's name
    label: str
    kind: str  # "direct" | "tandem" | "litellm" | "variant"
    features: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""


@dataclass
class LoadRow:
    """One wrk run against one target at one concurrency."""

    target: str
    wrk: WrkResult
    #: Resident memory of the server's process tree after the run (None: direct).
    rss_mb: float | None = None
    #: Server CPU time per request during the run, in microseconds.
    cpu_us_per_req: float | None = None


@dataclass
class StreamRow:
    """The streaming scenario against one target."""

    target: str
    result: StreamResult
    rss_mb: float | None = None
    cpu_us_per_stream: float | None = None


@dataclass
class SoakResult:
    """RSS of a fresh tandem over a long run of requests."""

    #: (requests served so far, RSS in MB), the first after the warm-up.
    points: list[tuple[int, float]] = field(default_factory=list)
    errors: int = 0
    rps: float = 0.0
    ledger: dict[str, object] = field(default_factory=dict)

    def rss_at(self, n: int) -> float | None:
        """RSS recorded at ``n`` requests."""
        return next((mb for count, mb in self.points if count == n), None)


@dataclass
class CompareRow:
    """A/B comparison of tandem builds: one build, one concurrency, all rounds."""

    build: str
    connections: int
    #: "wrk" (non-streamed requests) or "streams" (rps: streams/s, p50/p99: TTFB,
    #: cpu_us_per_req: CPU per stream).
    kind: str = "wrk"
    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    cpu_us_per_req: list[float] = field(default_factory=list)
    #: Thousands of instructions per request (valgrind), when measured.
    kinstr_per_req: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass
class Run:
    """Everything one run measured, and the conditions it ran in."""

    started: str
    machine: dict[str, str]
    versions: dict[str, str]
    settings: dict[str, object]
    targets: list[Target] = field(default_factory=list)
    load: list[LoadRow] = field(default_factory=list)
    streams: list[StreamRow] = field(default_factory=list)
    soak: SoakResult | None = None
    compare: list[CompareRow] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)
    load_avg: list[str] = field(default_factory=list)

    def row(self, target: str, connections: int) -> LoadRow | None:
        """The load row of ``target`` at ``connections``."""
        return next((r for r in self.load if r.target == target and r.wrk.connections == connections), None)

    def stream(self, target: str, *, spread: bool = True) -> StreamRow | None:
        """The streaming row of ``target`` with spread arrivals (or the burst one)."""
        return next((r for r in self.streams if r.target == target and (r.result.stagger_s > 0) == spread), None)

    def target(self, key: str) -> Target | None:
        """The target called ``key``."""
        return next((t for t in self.targets if t.key == key), None)
