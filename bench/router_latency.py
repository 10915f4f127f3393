"""Latency of the learned router on the hot path: one ``predict`` call at a time.

    .venv/bin/python bench/router_latency.py [--router FILE] [--data DIR] [--calls 3000]

Loads a router file (or trains one on the shared routing data, or on the
test fixture when that data is absent), warms up, then times ``predict`` on
real prompts of varied length, one call at a time, and prints a markdown
table of p50/p90/p99/max, plus the file size and load time. Each prompt
length band is reported separately, since features cost time per character.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from tandem.routing.learned import QualityPredictor, RoutingData, read_many  # noqa: E402

FIXTURE = REPO / "tests" / "routing_learned" / "fixtures" / "two_models.csv"
BANDS = ((0, 300), (300, 1000), (1000, 10**9))


def _data(data_dir: Path) -> RoutingData:
    if (data_dir / "mmlu").is_dir():
        return read_many([data_dir / "mmlu", data_dir / "gsm8k_responses.csv"])
    print(f"(no routing data at {data_dir}: using the test fixture)", file=sys.stderr)
    return read_many([FIXTURE])


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) * 1e6


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--router", type=Path, help="router file (default: train one now)")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "routing")
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    args = ap.parse_args(argv)

    data = _data(args.data)
    path = args.router
    if path is None:
        path = Path(tempfile.mkdtemp()) / "router.npz"
        t0 = time.perf_counter()
        QualityPredictor.train(data).save(path)
        print(f"(trained a router in {time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    t0 = time.perf_counter()
    predictor = QualityPredictor.load(path)
    load_s = time.perf_counter() - t0

    rng = random.Random(0)
    prompts = [rng.choice(data.prompts) for _ in range(args.calls)]
    for p in prompts[: args.warmup]:
        predictor.predict(p)
    gc.collect()
    times: list[float] = []
    for p in prompts:
        t = time.perf_counter()
        predictor.predict(p)
        times.append(time.perf_counter() - t)

    print(
        f"router file: {path} ({path.stat().st_size / 1024:.0f} KiB), load {load_s * 1000:.0f} ms, "
        f"{len(predictor.models)} models"
    )
    print()
    print("| prompts | calls | p50 (µs) | p90 (µs) | p99 (µs) | max (µs) |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [("all", times)]
    for lo, hi in BANDS:
        band = [t for t, p in zip(times, prompts, strict=True) if lo <= len(p) < hi]
        label = f"{lo}-{hi} chars" if hi < 10**9 else f">= {lo} chars"
        rows.append((label, band))
    for label, ts in rows:
        if ts:
            print(
                f"| {label} | {len(ts)} | {_pct(ts, 50):.0f} | {_pct(ts, 90):.0f} | "
                f"{_pct(ts, 99):.0f} | {max(ts) * 1e6:.0f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
