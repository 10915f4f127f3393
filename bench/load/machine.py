"""Where and on what a run happens: the repo, progress on stderr, machine facts, package versions."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["REPO", "calibrate", "load_avg", "log", "machine", "package_versions"]

REPO = Path(__file__).resolve().parents[2]


def log(msg: str) -> None:
    """Progress on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


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
