"""Renders a :class:`Run` as markdown and writes it into ``bench/RESULTS.md``.

The load benchmark owns the part of the file between the two markers below;
the rest of the file (other benchmarks, hand-written analysis) is kept.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from bench.load.results import Run

__all__ = ["BEGIN", "END", "Check", "checks", "render", "write_results"]

BEGIN = "<!-- bench/load:begin (written by bench/run; edits between these markers are overwritten) -->"
END = "<!-- bench/load:end -->"

# The goals of the hot-path issue.
MIN_RPS_C32 = 2000.0
MIN_LITELLM_RATIO = 40.0
MAX_ADDED_P50_MS = 0.5
MAX_ADDED_P99_MS = 2.0
MAX_TTFB_OVERHEAD_MS = 1.0
MAX_RSS_MB = 150.0
MAX_GROWTH_MB = 5.0


class Check:
    """One goal: what was measured, the goal, and whether it was met."""

    def __init__(self, name: str, measured: str, goal: str, ok: bool | None, note: str = "") -> None:
        self.name, self.measured, self.goal, self.ok, self.note = name, measured, goal, ok, note

    @property
    def verdict(self) -> str:
        """PASS, FAIL, or n/a when it could not be measured."""
        return "n/a" if self.ok is None else ("PASS" if self.ok else "**FAIL**")


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def checks(run: Run) -> list[Check]:
    """The issue's goals, judged on this run."""
    out: list[Check] = []
    t32, d1, t1 = run.row("tandem", 32), run.row("direct", 1), run.row("tandem", 1)
    l32 = run.row("litellm", 32)
    if t32 is not None:
        out.append(
            Check(
                "req/s at c=32, 1 tandem worker",
                f"{t32.wrk.rps:,.0f}",
                f">= {MIN_RPS_C32:,.0f}",
                t32.wrk.rps >= MIN_RPS_C32 and t32.wrk.errors == 0,
                f"{t32.wrk.errors} errors" if t32.wrk.errors else "",
            )
        )
    lit = run.target("litellm")
    if t32 is not None and l32 is not None and l32.wrk.rps > 0:
        ratio = t32.wrk.rps / l32.wrk.rps
        out.append(
            Check(
                "tandem / LiteLLM req/s at c=32",
                f"{ratio:,.1f}x ({l32.wrk.rps:,.0f} req/s)",
                f">= {MIN_LITELLM_RATIO:g}x",
                ratio >= MIN_LITELLM_RATIO,
            )
        )
    else:
        why = lit.skipped if lit is not None and lit.skipped else "LiteLLM not run"
        out.append(Check("tandem / LiteLLM req/s at c=32", "not measured", f">= {MIN_LITELLM_RATIO:g}x", None, why))
    if t1 is not None and d1 is not None:
        add50 = t1.wrk.p50_ms - d1.wrk.p50_ms
        add99 = t1.wrk.p99_ms - d1.wrk.p99_ms
        out.append(
            Check("added latency p50 at c=1", f"{add50:.3f} ms", f"<= {MAX_ADDED_P50_MS} ms", add50 <= MAX_ADDED_P50_MS)
        )
        f1 = run.row("floor", 1)
        floor = f"the bare server's added p99 in this run: {f1.wrk.p99_ms - d1.wrk.p99_ms:.3f} ms" if f1 else ""
        out.append(
            Check(
                "added latency p99 at c=1",
                f"{add99:.3f} ms",
                f"<= {MAX_ADDED_P99_MS} ms",
                add99 <= MAX_ADDED_P99_MS,
                floor,
            )
        )
    spread = run.stream("tandem") is not None
    ts, ds = run.stream("tandem", spread=spread), run.stream("direct", spread=spread)
    if ts is not None:
        c = ts.result.concurrency
        every = [s.result for s in run.streams if s.target == "tandem"]
        errors, streams = sum(r.errors for r in every), sum(r.streams for r in every)
        out.append(
            Check(
                f"{c} concurrent streams without errors",
                f"{errors} errors in {streams:,} streams (max open {max(r.max_open for r in every)})",
                "0 errors",
                errors == 0 and streams > 0,
            )
        )
        if ds is not None and ts.result.streams and ds.result.streams:
            over = ts.result.ttfb_p50_ms - ds.result.ttfb_p50_ms
            fs = run.stream("floor", spread=spread)
            notes = []
            if fs is not None and fs.result.streams:
                notes.append(f"a bare relay's in this run: {fs.result.ttfb_p50_ms - ds.result.ttfb_p50_ms:.3f} ms")
            tb, db = run.stream("tandem", spread=False), run.stream("direct", spread=False)
            if spread and tb is not None and db is not None and tb.result.streams and db.result.streams:
                notes.append(
                    f"with all streams started at once: {tb.result.ttfb_p50_ms - db.result.ttfb_p50_ms:.3f} ms"
                )
            floor = "; ".join(notes)
            out.append(
                Check(
                    f"first-token overhead p50 at {c} streams",
                    f"{over:.3f} ms",
                    f"<= {MAX_TTFB_OVERHEAD_MS} ms",
                    over <= MAX_TTFB_OVERHEAD_MS,
                    floor,
                )
            )
    soak = run.soak
    if soak is not None and len(soak.points) >= 3:
        (_, _), (n1, r1), (n2, r2) = soak.points[0], soak.points[-2], soak.points[-1]
        out.append(Check(f"RSS after {n2:,} requests", f"{r2:.1f} MB", f"< {MAX_RSS_MB:g} MB", r2 < MAX_RSS_MB))
        out.append(
            Check(
                f"RSS growth {n1:,} -> {n2:,} requests",
                f"{r2 - r1:+.1f} MB",
                f"< {MAX_GROWTH_MB:g} MB",
                r2 - r1 < MAX_GROWTH_MB,
            )
        )
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _load_table(run: Run) -> list[str]:
    rows: list[list[str]] = []
    for t in run.targets:
        if t.skipped and t.kind != "direct":
            rows.append([t.label, "-", f"skipped: {t.skipped}", "", "", "", "", "", "", ""])
            continue
        for r in (x for x in run.load if x.target == t.key):
            d = run.row("direct", r.wrk.connections)
            is_direct = t.key == "direct"
            add50 = None if d is None or is_direct else r.wrk.p50_ms - d.wrk.p50_ms
            add99 = None if d is None or is_direct else r.wrk.p99_ms - d.wrk.p99_ms
            rows.append(
                [
                    t.label,
                    str(r.wrk.connections),
                    f"{r.wrk.rps:,.0f}",
                    _f(r.wrk.p50_ms, 3),
                    _f(r.wrk.p99_ms, 3),
                    _f(add50, 3),
                    _f(add99, 3),
                    f"{r.wrk.non_2xx} + {r.wrk.socket_errors}",
                    _f(r.cpu_us_per_req, 0),
                    _f(r.rss_mb, 1),
                ]
            )
    header = [
        "target",
        "c",
        "req/s",
        "p50 ms",
        "p99 ms",
        "added p50 ms",
        "added p99 ms",
        "errors (non-2xx + socket)",
        "server CPU µs/req",
        "server RSS MB",
    ]
    return _table(header, rows)


def _stream_table(run: Run) -> list[str]:
    rows = []
    for s in run.streams:
        r = s.result
        d = run.stream("direct", spread=r.stagger_s > 0)
        over = None if d is None or s.target == "direct" else r.ttfb_p50_ms - d.result.ttfb_p50_ms
        label = next((t.label for t in run.targets if t.key == s.target), s.target)
        rows.append(
            [
                label,
                f"spread over {r.stagger_s:g} s" if r.stagger_s > 0 else "all at once",
                str(r.concurrency),
                f"{r.streams:,}",
                str(r.errors),
                str(r.max_open),
                _f(r.ttfb_p50_ms, 3),
                _f(r.ttfb_p99_ms, 3),
                _f(over, 3),
                _f(r.total_p50_ms, 1),
                _f(s.cpu_us_per_stream, 0),
                _f(s.rss_mb, 1),
            ]
        )
    header = [
        "target",
        "arrivals",
        "concurrent streams",
        "streams",
        "errors",
        "max open",
        "TTFB p50 ms",
        "TTFB p99 ms",
        "first-token overhead p50 ms",
        "stream p50 ms",
        "server CPU µs/stream",
        "server RSS MB",
    ]
    lines = _table(header, rows)
    errs = [e for s in run.streams for e in s.result.error_samples]
    if errs:
        lines += ["", "Stream errors (samples): " + "; ".join(f"`{e[:100]}`" for e in errs[:5])]
    return lines


def _compare_table(run: Run) -> list[str]:
    med: Callable[[list[float]], float] = lambda xs: statistics.median(xs) if xs else 0.0  # noqa: E731
    ref = str(run.settings.get("baseline") or "tandem")
    base = {(r.kind, r.connections): r for r in run.compare if r.build == ref}
    rows = []
    for r in run.compare:
        b = base.get((r.kind, r.connections))
        gain = ""
        if b is not None and r.build != ref and med(b.rps):
            gain = f"{(med(r.rps) / med(b.rps) - 1) * 100:+.1f}%"
        cpu_gain = ""
        if b is not None and r.build != ref and med(b.cpu_us_per_req):
            cpu_gain = f"{(med(r.cpu_us_per_req) / med(b.cpu_us_per_req) - 1) * 100:+.1f}%"
        http = bool(r.rps)  # in-process runs measure CPU only
        rows.append(
            [
                r.build,
                str(r.connections) if r.kind == "wrk" else f"{r.connections} streams",
                f"{med(r.rps):,.0f}" if http else "-",
                gain,
                " / ".join(f"{x:,.0f}" for x in r.rps) or "-",
                _f(med(r.p50_ms), 3) if http else "-",
                _f(med(r.p99_ms), 3) if http else "-",
                _f(med(r.cpu_us_per_req), 0) + ("" if http else " (in-process)"),
                cpu_gain,
                str(r.errors),
            ]
        )
    header = [
        "build",
        "c",
        "req/s (median)",
        f"vs {ref}",
        "req/s per round",
        "p50 ms",
        "p99 ms",
        "CPU µs/req",
        f"CPU vs {ref}",
        "errors",
    ]
    if any(r.kinstr_per_req for r in run.compare):
        header = ["build", "c", "k instructions/request", f"vs {ref}"]
        rows = []
        for r in run.compare:
            b = base.get((r.kind, r.connections))
            k = med(r.kinstr_per_req)
            vs = (
                ""
                if b is None or r.build == ref or not med(b.kinstr_per_req)
                else f"{(k / med(b.kinstr_per_req) - 1) * 100:+.1f}%"
            )
            rows.append([r.build, str(r.connections), f"{k:,.0f}", vs])
    return _table(header, rows)


def render(run: Run) -> str:
    """The markdown section for ``run``."""
    s = run.settings
    m, v = run.machine, run.versions
    lines = [
        BEGIN,
        "## Load benchmark: the hot path (`bench/run`)",
        "",
        f"Run {run.started} with `{s.get('command')}`: {s.get('duration')} s per level, wrk "
        f"{s.get('wrk_threads')} thread(s); one tandem worker.",
        "",
        f"- Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory')}, Linux {m.get('kernel')}; "
        f"speed: {m.get('speed')}. "
        f"Load average during the run: {', '.join(run.load_avg)} (other processes on the machine add noise: "
        "CPU µs/req is the steadier figure).",
        f"- Pinning: {s.get('pinning')}.",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        f"- Upstream: nginx, one worker, fixed replies; streams: {s.get('stream_desc')}.",
        "",
        "### Goals",
        "",
    ]
    tandem = run.target("tandem")
    full = tandem is not None and all(val.startswith("on") for val in tandem.features.values())
    lines += _table(
        ["goal", "measured", "target", "result"],
        [[c.name, c.measured + (f" ({c.note})" if c.note else ""), c.goal, c.verdict] for c in checks(run)],
    )
    lines += [
        "",
        "tandem configuration in this run: "
        + (
            "**full** (keys, auto routing, ledger and privacy scan all on)."
            if full
            else "**partial**: the goals above were measured without the features marked off below."
        ),
    ]
    lines += ["", "### Configurations", ""]
    for t in run.targets:
        if t.kind == "direct":
            continue
        desc = "; ".join(f"{k}: {val}" for k, val in t.features.items())
        note = (" Notes: " + "; ".join(t.notes) + ".") if t.notes else ""
        skipped = f" Skipped: {t.skipped}." if t.skipped else ""
        lines.append(f"- **{t.label}**: {desc}.{note}{skipped}")
    lines += ["", f"### Non-streamed requests (wrk, {s.get('duration')} s per level)", ""]
    lines += _load_table(run)
    lines += [
        "",
        "Added latency is the target's percentile minus the direct (nginx) one at the same "
        "concurrency; at c >= 32 it is mostly queueing in a saturated single worker.",
    ]
    if run.streams:
        lines += ["", "### Streaming", "", *_stream_table(run)]
        lines += [
            "",
            "TTFB: from sending the request to the first body bytes (the first token's event), "
            "measured by an asyncio client (`bench/load/streams.py`). Each of its workers keeps one stream "
            "open and starts the next when it ends. Spread: the workers' first requests are spread evenly "
            "over one stream's length, so requests arrive one by one, as independent clients' do (the "
            "goal's measure). All at once: every worker starts together and, all streams lasting as long, "
            "they stay in step, so each request arrives in a burst with all the others, right behind a "
            "burst of as many chunks; its wait is mostly its place in that queue.",
        ]
    if run.soak is not None:
        so = run.soak
        lines += ["", "### Memory soak (fresh tandem, c=32)", ""]
        lines += _table(["requests served", "RSS MB"], [[f"{n:,}", f"{mb:.1f}"] for n, mb in so.points])
        led = so.ledger
        lines += [
            "",
            f"{so.errors} errors, {so.rps:,.0f} req/s over the soak. Ledger after it: "
            + (
                ", ".join(f"{k} {led[k]}" for k in ("written", "queue_depth", "spooled", "database") if k in led)
                or "not reported"
            )
            + ".",
        ]
    if run.compare:
        lines += [
            "",
            f"### A/B of tandem builds ({s.get('rounds')} interleaved rounds, {s.get('compare_duration')} s each)",
            "",
        ]
        lines += _compare_table(run)
        if any(r.kind == "streams" for r in run.compare):
            lines += ["", "Stream rows: req/s is streams/s, p50/p99 are the time to first byte, CPU is per stream."]
        variants: dict[str, str] = dict(s.get("variants") or {})  # type: ignore[call-overload]
        lines += ["", *(f"- `{name}`: {desc}" for name, desc in variants.items())]
    if run.profile:
        lines += ["", "### Profile of tandem at c=32 (py-spy)", "", *run.profile]
    lines += ["", END]
    return "\n".join(lines) + "\n"


def write_results(path: Path, section: str) -> None:
    """Replace the load section of ``path`` (or append it; create the file)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
