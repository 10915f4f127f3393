"""Sampling profile of a server under load with py-spy, summarized as markdown.

py-spy (``pip install py-spy``; found on PATH or next to the interpreter)
records collapsed stacks of the samples that hold the GIL (``--gil``: the
event loop's Python work, not threads or the loop waiting in epoll;
``--format raw``, one ``frame;frame;... count`` line per distinct stack). The summary gives each
package's share of the samples (by the innermost Python frame: time in a C
extension counts for the Python function that called it) and the functions
with the largest inclusive and self shares.

Usable on its own: ``python -m bench.load.profile STACKS.txt`` prints the summary.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

__all__ = ["find_py_spy", "record", "summarize"]

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def find_py_spy(hint: str | None = None) -> str | None:
    """The py-spy executable: ``hint``, on PATH, or beside this interpreter."""
    for cand in (hint, shutil.which("py-spy"), str(Path(sys.executable).with_name("py-spy"))):
        if cand and Path(cand).exists():
            return cand
    return None


def record(py_spy: str, pid: int, duration_s: float, out: Path, rate: int = 250) -> Path:
    """Sample ``pid`` (and its subprocesses) for ``duration_s`` into collapsed stacks."""
    cmd = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(duration_s))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nolineno",
        "--full-filenames",
        "--gil",
        "--subprocesses",
        "--output",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=duration_s + 60)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed: {done.stderr.strip()[-300:]}")
    return out


def _short(path: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3."):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3." and "/" in tail else tail
    return path


def _package(path: str) -> str:
    short = _short(path)
    if short.startswith("tandem/"):
        parts = short.split("/")
        return "tandem." + parts[1].removesuffix(".py") if len(parts) > 1 else "tandem"
    head = short.split("/", 1)[0].removesuffix(".py")
    return head or "?"


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for raw in stack.split(";"):
        m = _FRAME.match(raw.strip())
        if m is None:
            out.append((raw.strip(), "?"))
        else:
            out.append((m.group("func"), m.group("file")))
    return out


def summarize(stacks: Path, top: int = 15) -> list[str]:
    """Markdown lines: shares by package, top inclusive and self functions."""
    total = 0
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    pkg: Counter[str] = Counter()
    for line in stacks.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        n = int(count_s)
        frames = [f for f in _frames(stack) if not f[0].startswith("process ") and not f[0].startswith("thread ")]
        if not frames:
            continue
        total += n
        names = [f"{func} ({_short(file)})" for func, file in frames]
        for name in set(names):
            incl[name] += n
        self_[names[-1]] += n
        pkg[_package(frames[-1][1])] += n
    if not total:
        return ["(no samples)"]

    def pct(n: int) -> str:
        return f"{100 * n / total:.1f}%"

    lines = [f"{total:,} non-idle samples. Self time by package (innermost Python frame):", ""]
    lines += ["| package | self |", "|---|---|"]
    lines += [f"| {p} | {pct(n)} |" for p, n in pkg.most_common(top)]
    lines += ["", "| function (inclusive) | share |", "|---|---|"]
    # Leave out the frames every sample has (the CLI, the event loop, the server).
    lines += [
        f"| `{f}` | {pct(n)} |" for f, n in incl.most_common(top * 6) if n < 0.95 * total and not f.endswith("(?)")
    ][: top * 2]
    lines += ["", "| function (self) | share |", "|---|---|"]
    lines += [f"| `{f}` | {pct(n)} |" for f, n in self_.most_common(top)]
    return lines


if __name__ == "__main__":
    print("\n".join(summarize(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 15)))
