"""``bench/run``: the load benchmark, in one go (see ``bench/run --help``)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.load import gateways, profile, report
from bench.load.floor import start_floor
from bench.load.gateways import Features, RunningTandem, TandemBuild
from bench.load.procs import Proc, free_port, pinned, set_priority
from bench.load.results import CompareRow, LoadRow, Run, SoakResult, StreamRow, Target
from bench.load.streams import StreamResult
from bench.load.upstream import Upstream, nginx_version, start_nginx
from bench.load.wrk import WrkResult, run_wrk, wrk_version

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def log(msg: str) -> None:
    """Progress on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- arguments ----------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _variant(text: str) -> tuple[str, Path, dict[str, str]]:
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise argparse.ArgumentTypeError("use NAME=SRC_DIR[,KEY=VALUE...]")
    src, *pairs = rest.split(",")
    env = dict(p.split("=", 1) for p in pairs if "=" in p)
    path = Path(src).expanduser().resolve()
    if not (path / "tandem" / "__init__.py").exists():
        raise argparse.ArgumentTypeError(f"{path} holds no tandem package (give the src directory)")
    return name, path, env


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(
        prog="bench/run",
        description=(
            "Load benchmark of tandem's hot path, in one go.\n\n"
            "Starts nginx as a fixed fake OpenAI upstream, then loads it directly, through tandem\n"
            "(1 worker; keys, auto routing, ledger and privacy scan on) and through the LiteLLM proxy,\n"
            "with wrk at fixed concurrencies; measures streamed first-token overhead at 256 concurrent\n"
            "streams and RSS over a 100,000-request soak; writes the results with pass/fail against\n"
            "the goals into bench/RESULTS.md. Loopback only; every phase is bounded."
        ),
        epilog=(
            "examples:\n"
            "  bench/run                      full run (about 5 minutes; installs LiteLLM once)\n"
            "  bench/run --quick              smoke run (about 2 minutes)\n"
            "  bench/run --profile            add a py-spy profile of tandem at c=32\n"
            "  bench/run --variant fast=/tmp/tandem-perf/src --rounds 3 --no-litellm --soak-requests 0\n"
            "                                 A/B a private copy of the source against the repo's\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = ap.add_argument_group("load")
    g.add_argument("--duration", type=float, default=10.0, help="seconds per concurrency level (default 10)")
    g.add_argument("--concurrency", type=_ints, default=[1, 32, 256], help="levels, comma-separated (1,32,256)")
    g.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target (default 2)")
    g.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    g.add_argument(
        "--quick", action="store_true", help="smoke run: 3 s levels, 4 s streams, 10,000-request soak, 1 A/B round"
    )
    g = ap.add_argument_group("targets")
    g.add_argument(
        "--python",
        type=Path,
        default=REPO / ".venv" / "bin" / "python",
        help="interpreter with tandem installed (default: the repo's .venv)",
    )
    g.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM comparison")
    g.add_argument(
        "--litellm-venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "tandem-bench-litellm",
        help="throwaway virtualenv for LiteLLM, installed on first use (default /tmp/tandem-bench-litellm)",
    )
    g.add_argument("--no-litellm-install", action="store_true", help="skip LiteLLM unless already installed")
    g.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        metavar="NAME=SRC[,K=V...]",
        help="also run a tandem source tree (PYTHONPATH=SRC, extra env K=V) and A/B it against "
        "the repo's tandem in interleaved rounds; repeatable",
    )
    g.add_argument(
        "--baseline",
        default="tandem",
        help="the A/B reference: 'tandem' (the repo's tree, default) or a --variant name, "
        "in which case the repo's tree is left out of the A/B",
    )
    g.add_argument("--rounds", type=int, default=3, help="A/B rounds per build (default 3)")
    g.add_argument("--compare-concurrency", type=_ints, default=[1, 32], help="A/B levels (default 1,32)")
    g.add_argument("--compare-duration", type=float, default=None, help="seconds per A/B run (default --duration)")
    g.add_argument(
        "--compare-mode",
        choices=["http", "inproc", "instructions"],
        default="http",
        help="A/B through 'tandem serve' with wrk (http, default); the ASGI app driven "
        "in-process (inproc: CPU per request without the HTTP server; see "
        "bench/load/inproc.py); or that run under valgrind (instructions: instructions per "
        "request, exact whatever the machine's load; needs valgrind)",
    )
    g.add_argument("--inproc-requests", type=int, default=3000, help="requests per in-process batch")
    g.add_argument(
        "--compare-streams", action="store_true", help="A/B the streaming scenario too (http mode; --stream-* settings)"
    )
    g.add_argument(
        "--only-compare",
        action="store_true",
        help="run only the A/B of --variant builds (no direct/LiteLLM/streams/soak; no RESULTS.md)",
    )
    g = ap.add_argument_group("scenarios")
    g.add_argument("--no-streams", action="store_true", help="skip the streaming scenario")
    g.add_argument("--stream-concurrency", type=int, default=256, help="concurrent streams (default 256)")
    g.add_argument("--stream-duration", type=float, default=10.0, help="measured seconds of streaming (default 10)")
    g.add_argument("--stream-chunks", type=int, default=20, help="content chunks per stream (default 20)")
    g.add_argument(
        "--stream-interval-ms",
        type=float,
        default=50.0,
        help="gap between chunks, with nginx's echo module (default 50)",
    )
    g.add_argument("--soak-requests", type=int, default=100_000, help="requests of the memory soak (0: skip)")
    g.add_argument("--soak-concurrency", type=int, default=32, help="connections of the soak (default 32)")
    g.add_argument("--profile", action="store_true", help="profile tandem at c=32 with py-spy")
    g.add_argument("--profile-seconds", type=float, default=15.0, help="seconds of profiling (default 15)")
    g.add_argument("--py-spy", default=None, help="py-spy executable (default: PATH or beside --python)")
    g = ap.add_argument_group("machine and output")
    g.add_argument("--gateway-cpus", default="1", help="CPUs for the gateway under test (taskset list; default 1)")
    g.add_argument("--load-cpus", default="0", help="CPUs for nginx, wrk and the stream client (default 0)")
    g.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    g.add_argument(
        "--nice",
        type=int,
        default=-10 if os.geteuid() == 0 else 0,
        help="nice value (and autogroup nice) of every process of the run, so that other work "
        "on the machine disturbs the measurement less (default -10 as root, else 0; "
        "0 disables)",
    )
    g.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md", help="markdown file to update")
    g.add_argument("--no-write", action="store_true", help="print the markdown instead of writing it")
    g.add_argument("--json", type=Path, default=None, help="also write every measurement as JSON here")
    g.add_argument("--keep-workdir", action="store_true", help="keep the temp dir (configs, logs, profiles)")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 3.0)
        args.warmup = min(args.warmup, 1.0)
        args.stream_duration = min(args.stream_duration, 4.0)
        args.soak_requests = min(args.soak_requests, 10_000)
        args.rounds = 1
        args.profile_seconds = min(args.profile_seconds, 5.0)
    if args.compare_duration is None:
        args.compare_duration = args.duration
    if args.only_compare and not args.variant:
        ap.error("--only-compare needs at least one --variant")
    if args.baseline != "tandem" and args.baseline not in {name for name, _, _ in args.variant}:
        ap.error(f"--baseline {args.baseline}: no --variant of that name")
    if args.no_pin or (os.cpu_count() or 1) < 2:
        args.gateway_cpus = args.load_cpus = None
    return args


# --- machine facts ------------------------------------------------------------------


def machine() -> dict[str, str]:
    """CPU model, cores, memory, kernel."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kb / 1024 / 1024:.0f} GiB RAM"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": mem, "kernel": platform.release(), "speed": calibrate()}


def calibrate() -> str:
    """CPU seconds of a fixed pure-Python loop, to compare machines' speed."""
    started = time.process_time()
    total = 0
    for i in range(5_000_000):
        total += i
    return f"{time.process_time() - started:.2f} s CPU for 5M Python additions"


def package_versions(python: Path, names: list[str]) -> dict[str, str]:
    """Installed versions of ``names`` in ``python``'s environment."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except Exception: out[n] = 'absent'\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, check=False)
    try:
        result: dict[str, str] = json.loads(done.stdout)
        return result
    except ValueError:
        return dict.fromkeys(names, "?")


def load_avg() -> str:
    """The 1-minute load average."""
    return Path("/proc/loadavg").read_text().split()[0]


# --- measuring -----------------------------------------------------------------------


class Bench:
    """One run: owns the temp dir, the upstream and every process it starts."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.stack = contextlib.ExitStack()
        self.upstream: Upstream | None = None
        self.body = gateways.request_body()
        self.stream_body = gateways.request_body(stream=True)
        self.run = Run(
            started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            machine=machine(),
            versions={},
            settings={},
        )
        self.main_build = TandemBuild("tandem", args.python)

    def own(self, proc: Proc) -> Proc:
        """Stop ``proc`` when the run ends, whatever happens."""
        self.stack.callback(proc.stop)
        return proc

    def phase(self, name: str) -> None:
        """Note a phase's start and the machine's load then."""
        self.run.load_avg.append(f"{load_avg()} ({name})")
        log(name)

    def wrk(
        self, url: str, connections: int, duration: float, headers: dict[str, str] | None = None, max_requests: int = 0
    ) -> WrkResult:
        """One wrk run from the load CPUs."""
        return run_wrk(
            url,
            self.body,
            connections=connections,
            duration_s=duration,
            threads=self.args.wrk_threads,
            headers=headers,
            max_requests=max_requests,
            cpus=self.args.load_cpus,
        )

    def measure(self, key: str, url: str, headers: dict[str, str], proc: Proc | None, levels: list[int]) -> None:
        """Warm up, then one wrk run per level; server CPU and RSS around each."""
        if self.args.warmup > 0:
            self.wrk(url, 32, self.args.warmup, headers)
        for c in levels:
            cpu0 = proc.cpu_seconds() if proc else 0.0
            res = self.wrk(url, c, self.args.duration, headers)
            cpu = (proc.cpu_seconds() - cpu0) if proc else None
            row = LoadRow(
                key,
                res,
                rss_mb=proc.rss_bytes() / MB if proc else None,
                cpu_us_per_req=cpu / res.requests * 1e6 if cpu is not None and res.requests else None,
            )
            self.run.load.append(row)
            log(
                f"  {key} c={c}: {res.rps:,.0f} req/s, p50 {res.p50_ms:.3f} ms, p99 {res.p99_ms:.3f} ms, "
                f"errors {res.errors}"
                + (
                    f", CPU {row.cpu_us_per_req:.0f} µs/req, RSS {row.rss_mb:.1f} MB"
                    if row.cpu_us_per_req is not None and row.rss_mb
                    else ""
                )
            )

    def streams(self, key: str, url: str, headers: dict[str, str], proc: Proc | None) -> None:
        """The streaming scenario against one target."""
        res, cpu = self.stream_run(url, headers, proc)
        row = StreamRow(
            key,
            res,
            rss_mb=proc.rss_bytes() / MB if proc else None,
            cpu_us_per_stream=cpu / res.streams * 1e6 if cpu is not None and res.streams else None,
        )
        self.run.streams.append(row)
        log(
            f"  {key} streams: {res.streams:,} ok, {res.errors} errors, max open {res.max_open}, "
            f"TTFB p50 {res.ttfb_p50_ms:.3f} ms p99 {res.ttfb_p99_ms:.3f} ms"
        )

    def stream_run(self, url: str, headers: dict[str, str], proc: Proc | None) -> tuple[StreamResult, float | None]:
        """One run of the stream client; its result and the server's CPU seconds meanwhile."""
        a = self.args
        body_file = self.workdir / "stream-body.json"
        body_file.write_bytes(self.stream_body)
        cmd = [
            str(a.python),
            "-m",
            "bench.load.streams",
            "--url",
            url,
            "--body-file",
            str(body_file),
            "--concurrency",
            str(a.stream_concurrency),
            "--duration",
            str(a.stream_duration),
            "--warmup",
            str(min(2.0, a.stream_duration / 2)),
        ]
        for k, v in headers.items():
            cmd += ["--header", f"{k}: {v}"]
        cmd = pinned(cmd, a.load_cpus)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cpu0 = proc.cpu_seconds() if proc else 0.0
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=a.stream_duration + 180
        )
        if done.returncode != 0:
            raise RuntimeError(f"stream client failed:\n{done.stderr[-2000:]}")
        cpu = proc.cpu_seconds() - cpu0 if proc else None
        data = json.loads(done.stdout.strip().splitlines()[-1])
        return StreamResult(**data), cpu

    # --- targets ----------------------------------------------------------------

    def start_tandem(self, build: TandemBuild, tag: str) -> RunningTandem:
        """A fresh tandem server of ``build``, stopped at the end of the run."""
        assert self.upstream is not None
        t = gateways.start_tandem(build, self.upstream, self.workdir, free_port(), cpus=self.args.gateway_cpus, tag=tag)
        self.own(t.proc)
        return t

    @staticmethod
    def _features(f: Features) -> dict[str, str]:
        return {"keys": f.keys, "routing": f.routing, "ledger": f.ledger, "privacy scan": f.privacy}

    def direct(self) -> None:
        """Load nginx itself: the baseline for added latency."""
        assert self.upstream is not None
        self.run.targets.append(Target("direct", "direct (nginx)", "direct"))
        self.phase("direct to nginx")
        self.measure("direct", self.upstream.chat_url, {}, None, self.args.concurrency)
        if not self.args.no_streams:
            self.streams("direct", self.upstream.chat_url, {}, None)

    def floor(self) -> None:
        """The bare server stack (fixed reply; bare stream relay): what no gateway on it can beat."""
        assert self.upstream is not None
        target = Target("floor", "server floor (uvicorn: fixed reply; bare relay for streams)", "floor")
        self.run.targets.append(target)
        self.phase("server floor")
        port = free_port()
        proc = self.own(
            start_floor(self.args.python, self.workdir, port, self.upstream.chat_url, cpus=self.args.gateway_cpus)
        )
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        self.measure("floor", url, {}, proc, self.args.concurrency)
        if not self.args.no_streams:
            self.streams("floor", url, {}, proc)
        proc.stop()

    def tandem(self) -> None:
        """tandem in the full configuration: load, then streams."""
        target = Target("tandem", "tandem (1 worker)", "tandem")
        self.run.targets.append(target)
        self.phase("tandem")
        t = self.start_tandem(self.main_build, "main")
        target.features = self._features(t.features)
        target.notes = t.features.notes
        self.measure("tandem", t.url, t.headers, t.proc, self.args.concurrency)
        if not self.args.no_streams:
            self.streams("tandem", t.url, t.headers, t.proc)
        time.sleep(1.0)  # let the ledger writer flush
        led = t.ledger_status()
        if led:
            target.notes.append(
                "ledger after the run: "
                + ", ".join(f"{k} {led[k]}" for k in ("written", "queue_depth", "spooled") if k in led)
            )
        t.proc.stop()

    def litellm(self) -> None:
        """The LiteLLM proxy, one worker, same upstream."""
        a = self.args
        target = Target("litellm", "LiteLLM proxy (1 worker)", "litellm")
        self.run.targets.append(target)
        if a.no_litellm:
            target.skipped = "--no-litellm"
            self.run.versions["litellm"] = "not run"
            return
        self.phase("LiteLLM")
        install = gateways.ensure_litellm(a.litellm_venv, install=not a.no_litellm_install)
        self.run.versions["litellm"] = install.version or "not installed"
        if install.version is None:
            target.skipped = install.reason
            log(f"  LiteLLM skipped: {install.reason}")
            return
        target.label = f"LiteLLM {install.version} proxy (1 worker)"
        target.features = {
            "keys": "master key only (virtual keys need PostgreSQL)",
            "routing": "model auto = 2 deployments, router simple-shuffle",
            "ledger": "off (spend logs need PostgreSQL)",
            "privacy scan": "off (needs Presidio guardrails)",
        }
        try:
            assert self.upstream is not None
            ll = gateways.start_litellm(install, self.upstream, self.workdir, free_port(), cpus=a.gateway_cpus)
        except RuntimeError as exc:
            target.skipped = f"did not start: {str(exc).splitlines()[0][:200]}"
            log(f"  LiteLLM skipped: {exc}")
            return
        self.own(ll.proc)
        self.measure("litellm", ll.url, ll.headers, ll.proc, a.concurrency)
        ll.proc.stop()

    def soak(self) -> None:
        """A fresh tandem over ``--soak-requests`` requests; RSS at the half and the end."""
        a = self.args
        n = a.soak_requests
        if n <= 0:
            return
        self.phase(f"memory soak ({n:,} requests)")
        t = self.start_tandem(self.main_build, "soak")
        self.wrk(t.url, a.soak_concurrency, max(1.0, a.warmup), t.headers)
        soak = SoakResult(points=[(0, t.proc.rss_bytes() / MB)])
        served = 0
        rates: list[float] = []
        for goal in (n // 2, n):
            while served < goal:
                # Slices of 5 s; the last one stops at the goal exactly (wrk then
                # idles out the slice, so only whole slices give a rate).
                left = goal - served
                res = self.wrk(t.url, a.soak_concurrency, 5.0, t.headers, max_requests=left)
                if res.requests == 0:
                    raise RuntimeError("the soak made no progress")
                served += res.requests
                soak.errors += res.errors
                if res.requests < left:
                    rates.append(res.rps)
            soak.points.append((served, t.proc.rss_bytes() / MB))
            log(f"  {served:,} requests: RSS {soak.points[-1][1]:.1f} MB")
        soak.rps = statistics.median(rates) if rates else 0.0
        time.sleep(1.5)
        soak.ledger = t.ledger_status()
        self.run.soak = soak
        t.proc.stop()

    def _builds(self) -> list[TandemBuild]:
        a = self.args
        variants = [TandemBuild(name, a.python, src, env) for name, src, env in a.variant]
        builds = variants if a.baseline != "tandem" else [self.main_build, *variants]
        builds.sort(key=lambda b: b.name != a.baseline)  # the reference first
        self.run.settings["variants"] = {
            name: f"PYTHONPATH={src}" + (f", env {env}" if env else "") for name, src, env in a.variant
        }
        return builds

    def compare(self) -> None:
        """A/B the repo's tandem against each ``--variant``, interleaved to share the noise."""
        if self.args.compare_mode in ("inproc", "instructions"):
            self.compare_inproc()
            return
        a = self.args
        builds = self._builds()
        self.phase(f"A/B of {len(builds)} builds, {a.rounds} rounds")
        running = [self.start_tandem(b, f"ab-{b.name}") for b in builds]
        for t in running:
            self.wrk(t.url, 32, max(1.0, a.warmup), t.headers)
        rows = {(t.build.name, c): CompareRow(t.build.name, c) for t in running for c in a.compare_concurrency}
        streams = {t.build.name: CompareRow(t.build.name, a.stream_concurrency, kind="streams") for t in running}
        for rnd in range(a.rounds):
            order = running if rnd % 2 == 0 else running[::-1]
            if a.compare_streams:
                for t in order:
                    sres, cpu = self.stream_run(t.url, t.headers, t.proc)
                    srow = streams[t.build.name]
                    srow.rps.append(sres.streams / sres.duration_s if sres.duration_s else 0.0)
                    srow.p50_ms.append(sres.ttfb_p50_ms)
                    srow.p99_ms.append(sres.ttfb_p99_ms)
                    srow.cpu_us_per_req.append(cpu / sres.streams * 1e6 if cpu and sres.streams else 0.0)
                    srow.errors += sres.errors
                    log(
                        f"  round {rnd + 1} {t.build.name} {a.stream_concurrency} streams: {srow.rps[-1]:.0f} "
                        f"streams/s, TTFB p50 {sres.ttfb_p50_ms:.1f} ms, CPU {srow.cpu_us_per_req[-1]:.0f} µs/stream"
                    )
            for c in a.compare_concurrency:
                for t in order:
                    cpu0 = t.proc.cpu_seconds()
                    res = self.wrk(t.url, c, a.compare_duration, t.headers)
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
        self.run.compare = list(rows.values()) + (list(streams.values()) if a.compare_streams else [])
        for t in running:
            t.proc.stop()

    def compare_inproc(self) -> None:
        """A/B by CPU per request of the ASGI app driven in-process (no server, no wrk)."""
        a = self.args
        assert self.upstream is not None
        builds = self._builds()
        self.phase(f"in-process A/B of {len(builds)} builds, {a.rounds} rounds")
        prepared = [
            gateways.prepare_tandem(b, self.upstream, self.workdir, free_port(), tag=f"in-{b.name}") for b in builds
        ]
        rows = {(p.build.name, c): CompareRow(p.build.name, c) for p in prepared for c in a.compare_concurrency}
        if a.compare_mode == "instructions":
            for c in a.compare_concurrency:
                for p in prepared:
                    k = self._instructions(p, c)
                    rows[(p.build.name, c)].kinstr_per_req.append(k)
                    log(f"  {p.build.name} c={c}: {k:,.0f}k instructions/request")
            self.run.compare = list(rows.values())
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
                        cwd=self.workdir,
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
        self.run.compare = list(rows.values())

    def _instructions(self, p: gateways.PreparedTandem, c: int) -> float:
        """Thousands of instructions per request: two runs under valgrind, differenced."""
        env = p.build.environ(p.home)
        env["PYTHONPATH"] = ":".join(x for x in (env.get("PYTHONPATH"), str(REPO)) if x)
        counts: list[int] = []
        sizes = (c * 4, c * 4 + max(c, self.args.inproc_requests // 4) // c * c)
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
                cmd, capture_output=True, text=True, env=env, cwd=self.workdir, check=False, timeout=1800
            )
            m = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
            if done.returncode != 0 or m is None:
                raise RuntimeError(f"valgrind run of {p.build.name} failed:\n{done.stderr[-2000:]}")
            counts.append(int(m.group(1).replace(",", "")))
        return float(counts[1] - counts[0]) / float(sizes[1] - sizes[0]) / 1000

    def profile(self) -> None:
        """py-spy on a fresh tandem while wrk loads it at c=32."""
        a = self.args
        py_spy = profile.find_py_spy(a.py_spy)
        if py_spy is None:
            self.run.profile = ["py-spy not found (pip install py-spy, or --py-spy PATH): no profile."]
            return
        self.phase("profile (py-spy)")
        t = self.start_tandem(self.main_build, "profile")
        self.wrk(t.url, 32, max(1.0, a.warmup), t.headers)
        out = self.workdir / "tandem-c32.stacks.txt"
        load = threading.Thread(target=self.wrk, args=(t.url, 32, a.profile_seconds + 2, t.headers), daemon=True)
        load.start()
        time.sleep(1.0)
        profile.record(py_spy, t.proc.pid, a.profile_seconds, out)
        load.join()
        t.proc.stop()
        self.run.profile = [*profile.summarize(out), "", f"Collapsed stacks: `{out}`."]

    # --- the whole run ---------------------------------------------------------

    def versions(self) -> None:
        """Versions of everything under test."""
        info = self.main_build.probe(self.workdir / "probe-home")
        pk = package_versions(self.args.python, ["uvicorn", "starlette", "aiohttp", "uvloop", "httptools"])
        self.run.versions = {
            "python": self.main_build.python_version(),
            "tandem": f"{info.get('version')} ({REPO.name} tree)",
            "litellm": "not run",
            "nginx": nginx_version().removeprefix("nginx/"),
            "wrk": wrk_version(),
            **pk,
        }

    def settings(self) -> None:
        """The run's settings, for the report."""
        a = self.args
        argv = sys.argv[1:]
        if argv[:2] == ["--python", str(REPO / ".venv" / "bin" / "python")]:
            argv = argv[2:]  # added by bench/run itself
        cmd = "bench/run" + (" " + shlex.join(argv) if argv else "")
        pin = (
            f"gateway on CPU {a.gateway_cpus}; nginx, wrk and the stream client on CPU {a.load_cpus}"
            if a.gateway_cpus
            else "none"
        ) + (f"; every process at nice {a.nice}" if a.nice else "")
        assert self.upstream is not None
        up = self.upstream
        stream_desc = (
            f"{up.stream_chunks} content chunks {up.interval_s * 1000:.0f} ms apart (nginx echo module)"
            if up.paced
            else "whole stream at once (no nginx echo module)"
        )
        self.run.settings = {
            "command": cmd,
            "duration": a.duration,
            "wrk_threads": a.wrk_threads,
            "pinning": pin,
            "stream_desc": stream_desc,
            "rounds": a.rounds,
            "compare_duration": a.compare_duration,
            "baseline": a.baseline,
        }

    def execute(self) -> Run:
        """Every phase, in order; processes are stopped whatever happens."""
        a = self.args
        with self.stack:
            self.versions()
            self.upstream = start_nginx(
                self.workdir,
                free_port(),
                cpus=a.load_cpus,
                stream_chunks=a.stream_chunks,
                interval_s=a.stream_interval_ms / 1000,
            )
            self.own(self.upstream.proc)
            self.settings()
            if a.only_compare:
                self.compare()
                return self.run
            self.direct()
            self.floor()
            self.tandem()
            self.litellm()
            self.soak()
            if a.variant:
                self.compare()
            if a.profile:
                self.profile()
            self.run.load_avg.append(f"{load_avg()} (end)")
        return self.run


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    return obj


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tandem-load-"))
    try:
        yield path
    finally:
        if keep:
            log(f"kept {path}")
        else:
            subprocess.run(["rm", "-rf", str(path)], check=False)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0 when it ran (whatever the verdicts)."""
    args = parse_args(argv)
    if not args.python.exists():
        print(f"no interpreter at {args.python}: run scripts/setup.sh or pass --python", file=sys.stderr)
        return 2
    set_priority(args.nice)
    keep = args.keep_workdir or args.profile
    try:
        with _workdir(keep) as wd:
            bench = Bench(args, wd)
            run = bench.execute()
    finally:
        set_priority(0)
    section = report.render(run)
    if args.json:
        args.json.write_text(json.dumps(_jsonable(run), indent=2, default=str))
    if args.no_write or args.only_compare:
        print(section)
    else:
        report.write_results(args.results, section)
        log(f"wrote {args.results}")
        for c in report.checks(run):
            log(f"  {c.verdict:9} {c.name}: {c.measured} (goal {c.goal})")
    return 0
