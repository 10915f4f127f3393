"""The A/B of tandem builds (``--variant``): through the HTTP server with wrk, in-process, or under valgrind."""

from __future__ import annotations

import json
import re
import subprocess
from typing import TYPE_CHECKING

from bench.load import gateways
from bench.load.gateways import TandemBuild
from bench.load.machine import REPO, log
from bench.load.procs import free_port, pinned
from bench.load.results import CompareRow

if TYPE_CHECKING:
    from bench.load.cli import Bench

__all__ = ["compare", "compare_inproc"]


def _builds(bench: Bench) -> list[TandemBuild]:
    a = bench.args
    variants = [TandemBuild(name, a.python, src, env) for name, src, env in a.variant]
    builds = variants if a.baseline != "tandem" else [bench.main_build, *variants]
    builds.sort(key=lambda b: b.name != a.baseline)  # the reference first
    bench.run.settings["variants"] = {
        name: f"PYTHONPATH={src}" + (f", env {env}" if env else "") for name, src, env in a.variant
    }
    return builds


def compare(bench: Bench) -> None:
    """A/B the repo's tandem against each ``--variant``, interleaved to share the noise."""
    if bench.args.compare_mode in ("inproc", "instructions"):
        compare_inproc(bench)
        return
    a = bench.args
    builds = _builds(bench)
    bench.phase(f"A/B of {len(builds)} builds, {a.rounds} rounds")
    running = [bench.start_tandem(b, f"ab-{b.name}") for b in builds]
    for t in running:
        bench.wrk(t.url, 32, max(1.0, a.warmup), t.headers)
    rows = {(t.build.name, c): CompareRow(t.build.name, c) for t in running for c in a.compare_concurrency}
    streams = {t.build.name: CompareRow(t.build.name, a.stream_concurrency, kind="streams") for t in running}
    for rnd in range(a.rounds):
        order = running if rnd % 2 == 0 else running[::-1]
        if a.compare_streams:
            for t in order:
                sres, cpu = bench.stream_run(t.url, t.headers, t.proc)
                srow = streams[t.build.name]
                srow.rps.append(sres.streams / sres.duration_s if sres.duration_s else 0.0)
                srow.p50_ms.append(sres.ttfb_p50_ms)
                srow.p99_ms.append(sres.ttfb_p99_ms)
                srow.cpu_us_per_req.append(cpu / sres.answered * 1e6 if cpu and sres.answered else 0.0)
                srow.errors += sres.errors
                log(
                    f"  round {rnd + 1} {t.build.name} {a.stream_concurrency} streams: {srow.rps[-1]:.0f} "
                    f"streams/s, TTFB p50 {sres.ttfb_p50_ms:.1f} ms, CPU {srow.cpu_us_per_req[-1]:.0f} µs/stream"
                )
        for c in a.compare_concurrency:
            for t in order:
                cpu0 = t.proc.cpu_seconds()
                res = bench.wrk(t.url, c, a.compare_duration, t.headers)
                cpu = t.proc.cpu_seconds() - cpu0
                row = rows[(t.build.name, c)]
                row.rps.append(res.rps)
                row.p50_ms.append(res.p50_ms)
                row.p99_ms.append(res.p99_ms)
                row.cpu_us_per_req.append(cpu / res.requests * 1e6 if res.requests else 0.0)
                row.errors += res.errors
                log(
                    f"  round {rnd + 1} {t.build.name} c={c}: {res.rps:,.0f} req/s, p50 {res.p50_ms:.3f} ms, "
                    f"CPU {row.cpu_us_per_req[-1]:.0f} µs/req"
                )
    bench.run.compare = list(rows.values()) + (list(streams.values()) if a.compare_streams else [])
    for t in running:
        t.proc.stop()


def compare_inproc(bench: Bench) -> None:
    """A/B by CPU per request of the ASGI app driven in-process (no server, no wrk)."""
    a = bench.args
    assert bench.upstream is not None
    builds = _builds(bench)
    bench.phase(f"in-process A/B of {len(builds)} builds, {a.rounds} rounds")
    prepared = [
        gateways.prepare_tandem(b, bench.upstream, bench.workdir, free_port(), tag=f"in-{b.name}") for b in builds
    ]
    rows = {(p.build.name, c): CompareRow(p.build.name, c) for p in prepared for c in a.compare_concurrency}
    if a.compare_mode == "instructions":
        for c in a.compare_concurrency:
            for p in prepared:
                k = _instructions(bench, p, c)
                rows[(p.build.name, c)].kinstr_per_req.append(k)
                log(f"  {p.build.name} c={c}: {k:,.0f}k instructions/request")
        bench.run.compare = list(rows.values())
        return
    for rnd in range(a.rounds):
        order = prepared if rnd % 2 == 0 else prepared[::-1]
        for c in a.compare_concurrency:
            for p in order:
                env = p.build.environ(p.home)
                env["PYTHONPATH"] = ":".join(x for x in (env.get("PYTHONPATH"), str(REPO)) if x)
                cmd = [
                    str(p.build.python),
                    "-m",
                    "bench.load.inproc",
                    "--config",
                    str(p.config),
                    "--requests",
                    str(a.inproc_requests),
                    "--concurrency",
                    str(c),
                    "--repeat",
                    "1",
                ]
                if p.token:
                    cmd += ["--token", p.token]
                done = subprocess.run(
                    pinned(cmd, a.gateway_cpus),
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=bench.workdir,
                    check=False,
                    timeout=600,
                )
                if done.returncode != 0:
                    raise RuntimeError(f"in-process run of {p.build.name} failed:\n{done.stderr[-2000:]}")
                out = json.loads(done.stdout.strip().splitlines()[-1])
                row = rows[(p.build.name, c)]
                row.cpu_us_per_req += out["cpu_us_per_req"]
                row.errors += out["errors"]
                log(
                    f"  round {rnd + 1} {p.build.name} c={c}: CPU {out['cpu_us_per_req'][-1]:.0f} µs/req"
                    f" (in-process), errors {out['errors']}"
                )
    bench.run.compare = list(rows.values())


def _instructions(bench: Bench, p: gateways.PreparedTandem, c: int) -> float:
    """Thousands of instructions per request: two runs under valgrind, differenced."""
    env = p.build.environ(p.home)
    env["PYTHONPATH"] = ":".join(x for x in (env.get("PYTHONPATH"), str(REPO)) if x)
    counts: list[int] = []
    sizes = (c * 4, c * 4 + max(c, bench.args.inproc_requests // 4) // c * c)
    for n in sizes:
        cmd = [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            str(p.build.python),
            "-m",
            "bench.load.inproc",
            "--config",
            str(p.config),
            "--requests",
            str(n),
            "--concurrency",
            str(c),
            "--repeat",
            "1",
            "--warmup-requests",
            str(c),
        ]
        if p.token:
            cmd += ["--token", p.token]
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=bench.workdir, check=False, timeout=1800
        )
        m = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if done.returncode != 0 or m is None:
            raise RuntimeError(f"valgrind run of {p.build.name} failed:\n{done.stderr[-2000:]}")
        counts.append(int(m.group(1).replace(",", "")))
    return float(counts[1] - counts[0]) / float(sizes[1] - sizes[0]) / 1000
