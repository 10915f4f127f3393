"""The command line of ``bench/run``: its flags, their defaults and the checks between them."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.load.machine import REPO

__all__ = ["parse_args"]


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
        "--stream-arrivals",
        choices=("spread", "burst", "both"),
        default="both",
        help="streams' first requests spread evenly over one stream's length, as independent clients' "
        "arrive (spread: the goal's measure), all sent at once and kept in step (burst), or both (default)",
    )
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
