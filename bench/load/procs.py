"""Child processes of a benchmark run: start, pin, wait for, measure, stop.

Each server runs in its own session (process group), so stopping it stops
its worker processes too and nothing else. Memory and CPU are read from
``/proc`` over the whole process tree (a server and its workers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Proc",
    "free_port",
    "pinned",
    "set_priority",
    "start",
    "wait_http",
    "wait_port",
]

_CLK_TCK = os.sysconf("SC_CLK_TCK")
#: nice(1) increment for every process the run starts (see :func:`set_priority`).
_nice = 0


def set_priority(nice: int) -> None:
    """Run every later benchmark process at this nice value (negative needs root).

    On a machine shared with other work, a negative value keeps the
    measurement from being mostly a measure of the neighbours' load. With
    the kernel's autogroup scheduling (the default on desktop and many
    server kernels) nice only ranks processes within one session, so the
    value is also given to this process's autogroup (which wrk and the
    stream client share) and to the autogroup of each server started.
    """
    global _nice
    _nice = nice
    if nice:
        _autogroup("self", nice)


def _autogroup(pid: int | str, nice: int) -> None:
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pinned(cmd: Sequence[str], cpus: str | None) -> list[str]:
    """``cmd`` run under ``taskset -c cpus`` (when ``cpus`` is set) at the run's priority."""
    out = ["taskset", "-c", cpus, *cmd] if cpus else list(cmd)
    return ["nice", "-n", str(_nice), *out] if _nice else out


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


@dataclass
class Proc:
    """A started child process and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The process id of the direct child."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether the direct child is still running."""
        return self.popen.poll() is None

    def tree(self) -> list[int]:
        """The child and all its descendants (worker processes)."""
        kids = _children()
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(kids.get(pid, ()))
        return out

    def rss_bytes(self) -> int:
        """Resident memory of the whole tree (sum of VmRSS)."""
        total = 0
        for pid in self.tree():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        return total

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far by the whole tree."""
        ticks = 0
        for pid in self.tree():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / _CLK_TCK

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the process's output, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it has not exited."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def start(
    name: str,
    cmd: Sequence[str],
    log_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    cpus: str | None = None,
) -> Proc:
    """Start ``cmd`` in its own session, output to ``log_dir/name.log``."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            pinned(cmd, cpus),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    if _nice:
        _autogroup(popen.pid, _nice)  # its own session, so its own autogroup
    return Proc(name, popen, log_path)


def wait_port(proc: Proc, port: int, timeout: float) -> None:
    """Wait until ``port`` on 127.0.0.1 accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited at start:\n{proc.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not listen on port {port} within {timeout:g} s")


def wait_http(proc: Proc, url: str, timeout: float, headers: Mapping[str, str] | None = None) -> None:
    """Wait until GET ``url`` answers 2xx."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited at start:\n{proc.log_tail()}")
        try:
            req = urllib.request.Request(url, headers=dict(headers or {}))
            with urllib.request.urlopen(req, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} not ready at {url} within {timeout:g} s ({last}):\n{proc.log_tail()}")
