"""``bench/run``: the load benchmark, in one go (see ``bench/run --help``)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
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
from bench.load.args import parse_args
from bench.load.compare import compare
from bench.load.floor import start_floor
from bench.load.gateways import Features, RunningTandem, TandemBuild
from bench.load.machine import REPO, load_avg, log, machine, package_versions
from bench.load.procs import Proc, free_port, pinned, set_priority
from bench.load.results import LoadRow, Run, SoakResult, StreamRow, Target
from bench.load.streams import StreamResult
from bench.load.upstream import Upstream, nginx_version, start_nginx
from bench.load.wrk import WrkResult, run_wrk, wrk_version

__all__ = ["main"]

MB = 1024 * 1024


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
        """The streaming scenario against one target, for each kind of arrivals asked for."""
        modes = {"spread": (True,), "burst": (False,), "both": (True, False)}[self.args.stream_arrivals]
        for spread in modes:
            res, cpu = self.stream_run(url, headers, proc, spread=spread)
            row = StreamRow(
                key,
                res,
                rss_mb=proc.rss_bytes() / MB if proc else None,
                # The CPU counter spans the warm-up too.
                cpu_us_per_stream=cpu / res.answered * 1e6 if cpu is not None and res.answered else None,
            )
            self.run.streams.append(row)
            log(
                f"  {key} streams ({'spread' if spread else 'burst'}): {res.streams:,} ok, {res.errors} errors, "
                f"max open {res.max_open}, TTFB p50 {res.ttfb_p50_ms:.3f} ms p99 {res.ttfb_p99_ms:.3f} ms"
            )

    def stream_run(
        self, url: str, headers: dict[str, str], proc: Proc | None, *, spread: bool = True
    ) -> tuple[StreamResult, float | None]:
        """One run of the stream client; its result and the server's CPU seconds meanwhile.

        ``spread``: the workers' first requests are spread over one stream's
        length (at most the warm-up), so that requests arrive as independent
        clients' do; otherwise all at once (see :func:`bench.load.streams.run`).
        """
        a = self.args
        assert self.upstream is not None
        warmup = min(2.0, a.stream_duration / 2)
        length = self.upstream.stream_chunks * self.upstream.interval_s if self.upstream.paced else 0.1
        stagger = min(warmup, length) if spread else 0.0
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
            str(warmup),
            "--stagger",
            str(stagger),
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
                compare(self)
                return self.run
            self.direct()
            self.floor()
            self.tandem()
            self.litellm()
            self.soak()
            if a.variant:
                compare(self)
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
