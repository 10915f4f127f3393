"""Past ``tandem bench`` runs, as the console lists and opens them.

A run is an output directory of ``tandem bench`` holding ``report.json``
(the summary: title, created, dataset, targets, routes, findings) and
``report.html`` (the self-contained report), plus ``summary.csv``,
``items.csv`` and ``router_train.csv``. The console looks for run
directories in, in order:

* every directory in ``$TANDEM_BENCH_DIR`` (``os.pathsep``-separated);
* ``<data dir>/bench`` (``$TANDEM_HOME/bench``);
* ``./bench-results``, relative to where ``tandem serve`` runs, which is
  where ``tandem bench`` writes by default (``--out`` changes it).

A run's id is its directory name (the first root wins when two share one).
Only names matching :data:`RUN_ID` are ever joined to a root, and the
resolved path must stay inside it (no ``..``, no symlink out), so a run id
from a URL cannot reach another file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import orjson

from tandem.config import default_data_dir
from tandem.errors import InvalidRequest, NotFound

__all__ = ["DOWNLOADS", "RUN_ID", "bench_roots", "download_path", "list_runs", "read_summary", "report_path"]

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: The run's summary: ``report.json`` from ``tandem bench``; ``summary.json`` also read.
SUMMARIES = ("report.json", "summary.json")
REPORT = "report.html"
#: Result files a signed-in user may download, with their media types.
DOWNLOADS = {
    "summary.csv": "text/csv; charset=utf-8",
    "items.csv": "text/csv; charset=utf-8",
    "router_train.csv": "text/csv; charset=utf-8",
    "report.json": "application/json",
}
#: Summaries and reports bigger than this are not read (a bench run's are KBs).
MAX_SUMMARY = 4 * 1024 * 1024
MAX_REPORT = 64 * 1024 * 1024
MAX_RUNS = 500
_TIME_KEYS = ("created_at", "created", "started_at", "started", "timestamp", "finished_at")
_TITLE_KEYS = ("title", "name", "dataset", "description")


def bench_roots() -> list[Path]:
    """The directories searched for bench runs, in order, without duplicates."""
    found: list[Path] = []
    env = os.environ.get("TANDEM_BENCH_DIR")
    candidates = [Path(p) for p in env.split(os.pathsep) if p] if env else []
    candidates += [default_data_dir() / "bench", Path("bench-results")]
    for c in candidates:
        try:
            r = c.expanduser().resolve()
        except (OSError, RuntimeError):
            continue
        if r not in found:
            found.append(r)
    return found


def _roots(root: Path | None) -> list[Path]:
    return [root.resolve()] if root is not None else bench_roots()


def _is_run(path: Path) -> bool:
    return any((path / n).is_file() for n in (*SUMMARIES, REPORT))


def _run_path(run_id: str, root: Path | None = None) -> Path:
    if not RUN_ID.match(run_id) or ".." in run_id:
        raise InvalidRequest("invalid bench run id", param="run")
    for base in _roots(root):
        path = (base / run_id).resolve()
        if path.parent == base and path.is_dir() and _is_run(path):
            return path
    raise NotFound(f"no bench run {run_id!r}")


def _summary_of(path: Path) -> dict[str, Any] | None:
    for name in SUMMARIES:
        if (path / name).is_file():
            return _load(path / name)
    return None


def _load(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > MAX_SUMMARY:
            return None
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _when(summary: dict[str, Any] | None, fallback: float) -> float:
    for k in _TIME_KEYS:
        v = (summary or {}).get(k)
        if isinstance(v, int | float) and v > 0:
            return float(v)
        if isinstance(v, str):
            text = v.strip().removesuffix(" UTC").removesuffix("Z")
            try:
                when = dt.datetime.fromisoformat(text)
            except ValueError:
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return when.timestamp()
    return fallback


def _title(summary: dict[str, Any] | None) -> str | None:
    for k in _TITLE_KEYS:
        v = (summary or {}).get(k)
        if isinstance(v, str) and v.strip():
            return v.strip()[:200]
        if isinstance(v, dict) and isinstance(v.get("name"), str):
            return str(v["name"])[:200]
    return None


def _models(summary: dict[str, Any] | None) -> list[str]:
    for k in ("targets", "models", "results", "rows"):
        v = (summary or {}).get(k)
        if isinstance(v, list):
            names = []
            for item in v:
                if isinstance(item, str):
                    names.append(item)
                elif isinstance(item, dict):
                    n = item.get("target") or item.get("model") or item.get("name")
                    if isinstance(n, str):
                        names.append(n)
            if names:
                return names[:50]
        if isinstance(v, dict) and v:
            return [str(n) for n in list(v)[:50]]
    return []


def _dataset(summary: dict[str, Any] | None) -> str | None:
    d = (summary or {}).get("dataset")
    if isinstance(d, dict):
        name, items = d.get("name"), d.get("items")
        if isinstance(name, str):
            return f"{name} ({items} items)" if isinstance(items, int) else name
    return d if isinstance(d, str) else None


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """Every run, newest first: id, time, title, dataset, models, whether it has a report."""
    runs: list[dict[str, Any]] = []
    seen: set[str] = set()
    for base in _roots(root):
        try:
            # Only real subdirectories: a symlink out of the root is never a run.
            entries = sorted(
                p for p in base.iterdir() if RUN_ID.match(p.name) and p.is_dir() and p.resolve().parent == base
            )
        except OSError:
            continue
        for p in entries:
            if p.name in seen or not _is_run(p):
                continue
            seen.add(p.name)
            summary = _summary_of(p)
            try:
                mtime = p.stat().st_mtime
            except OSError:
                continue
            runs.append(
                {
                    "id": p.name,
                    "created": _when(summary, mtime),
                    "title": _title(summary),
                    "dataset": _dataset(summary),
                    "models": _models(summary),
                    "has_report": (p / REPORT).is_file(),
                    "has_summary": summary is not None,
                    "downloads": [n for n in DOWNLOADS if (p / n).is_file()],
                }
            )
    runs.sort(key=lambda r: (-r["created"], r["id"]))
    return runs[:MAX_RUNS]


def read_summary(run_id: str, root: Path | None = None) -> dict[str, Any]:
    """The run's summary (404 when it has none). Server paths (``files``) are left out."""
    summary = _summary_of(_run_path(run_id, root))
    if summary is None:
        raise NotFound(f"bench run {run_id!r} has no readable summary")
    summary.pop("files", None)
    return summary


def download_path(run_id: str, name: str, root: Path | None = None) -> tuple[Path, str]:
    """A result file of the run (only the names in :data:`DOWNLOADS`) and its media type."""
    if name not in DOWNLOADS:
        raise NotFound(f"no file {name!r} in bench runs")
    run = _run_path(run_id, root)
    path = (run / name).resolve()
    if path.parent != run or not path.is_file():
        raise NotFound(f"bench run {run_id!r} has no {name}")
    return path, DOWNLOADS[name]


def report_path(run_id: str, root: Path | None = None) -> Path:
    """The run's ``report.html`` (404 when absent)."""
    run = _run_path(run_id, root)
    path = (run / REPORT).resolve()
    try:
        ok = path.parent == run and path.is_file() and path.stat().st_size <= MAX_REPORT
    except OSError:
        ok = False
    if not ok:
        raise NotFound(f"bench run {run_id!r} has no {REPORT}")
    return path
