"""A batch run killed with SIGKILL resumes where it stopped and never pays twice for a row."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tandem.batch.tables import read_table
from tests.batch.conftest import SlowUpstream, echo_config

ROWS = 80


def _done(ckpt: Path) -> int:
    if not ckpt.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{ckpt}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM rows WHERE state = 'done'").fetchone()[0])
    except sqlite3.Error:
        return 0


def _states(ckpt: Path) -> Counter[str]:
    with sqlite3.connect(ckpt) as db:
        return Counter(s for (s,) in db.execute("SELECT state FROM rows"))


def test_sigkill_midway_then_resume_sends_each_row_once(
    tmp_path: Path, write_config: Callable[[str], Path], tandem_home: Path
) -> None:
    with SlowUpstream(delay=0.1) as up:
        cfg = write_config(echo_config(up.base_url))
        (tmp_path / "in.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(ROWS)))
        out = tmp_path / "out.parquet"
        ckpt = tmp_path / "out.parquet.checkpoint.sqlite"
        cmd = [
            sys.executable,
            "-m",
            "tandem",
            "batch",
            str(tmp_path / "in.csv"),
            "-p",
            "row {id}",
            "-o",
            str(out),
            "--config",
            str(cfg),
            "-m",
            "echo",
            "-j",
            "4",
            "--no-progress",
        ]
        env = {**os.environ, "TANDEM_HOME": str(tandem_home)}

        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while _done(ckpt) < 12:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the batch made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()  # type: ignore[union-attr]
        assert proc.returncode == -signal.SIGKILL
        assert not out.exists()  # written at the end only

        states = _states(ckpt)
        done_before, in_flight = states["done"], states["sent"]
        assert 12 <= done_before < ROWS and in_flight <= 4
        before = Counter(up.arrivals)

        # Rerun the same command: it sends only the rows never sent.
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"({ROWS - done_before - in_flight} to send, {done_before} done" in run.stdout
        after = Counter(up.arrivals)
        assert max(after.values()) == 1, "a row was sent twice"
        assert set(after) <= {f"row {i}" for i in range(ROWS)}
        assert sum(after.values()) - sum(before.values()) == ROWS - done_before - in_flight
        t = read_table(out)
        assert t.column("id").to_pylist() == [str(i) for i in range(ROWS)]
        errors = [e for e in t.column("error").to_pylist() if e is not None]
        assert len(errors) == in_flight and all(e.startswith("interrupted:") for e in errors)
        answered = [a for a in t.column("answer").to_pylist() if a is not None]
        assert len(answered) == ROWS - in_flight
        assert f"{ROWS - in_flight} answered, 0 errors, {in_flight} interrupted" in run.stdout

        # Only when asked are the interrupted rows sent again.
        run = subprocess.run([*cmd, "--retry-interrupted"], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert sum(Counter(up.arrivals).values()) - sum(after.values()) == in_flight
        t = read_table(out)
        assert t.column("error").to_pylist() == [None] * ROWS
        assert t.column("answer").to_pylist() == [f"echo: row {i}" for i in range(ROWS)]
        assert _states(ckpt) == {"done": ROWS}


def test_ctrl_c_writes_what_is_done_and_a_rerun_finishes(tmp_path: Path, fake_config: Path, tandem_home: Path) -> None:
    (tmp_path / "in.csv").write_text("q\n" + "".join(f"q{i}\n" for i in range(30)))
    out = tmp_path / "out.csv"
    cmd = [
        sys.executable,
        "-m",
        "tandem",
        "batch",
        str(tmp_path / "in.csv"),
        "-p",
        "{q}",
        "-o",
        str(out),
        "--config",
        str(fake_config),
        "-m",
        "fake-slow",
        "-j",
        "2",
        "--no-progress",
    ]
    env = {**os.environ, "TANDEM_HOME": str(tandem_home)}
    # SIGINT as a terminal sends it (a shell's background jobs would ignore it)
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    ckpt = tmp_path / "out.csv.checkpoint.sqlite"
    deadline = time.monotonic() + 120
    while _done(ckpt) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, output
    assert "interrupted: rows answered so far are kept" in output
    t = read_table(out)  # written on Ctrl-C, every row accounted for
    errors = t.column("error").to_pylist()
    assert t.num_rows == 30 and errors.count("") >= 2
    assert all(e == "" or e.startswith(("interrupted:", "not run: the run was interrupted")) for e in errors)

    run = subprocess.run([*cmd, "--retry-interrupted"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert read_table(out).column("answer").to_pylist() == [f"You said: q{i}" for i in range(30)]
