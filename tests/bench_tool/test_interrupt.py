"""Kill ``python -m tandem bench`` with SIGKILL mid-run, run it again: nothing is
lost, nothing is done twice.

A ``sitecustomize`` module on the subprocess's path wraps the fake provider's
``send`` to append one line per upstream call to a log, so upstream calls are
counted independently of the results file.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.bench_tool.helpers import write_jsonl

REPO = Path(__file__).resolve().parents[2]
ITEMS = 24
CONFIG = """
models:
  - name: slow-a
    provider: fake
    price: {input: 1, output: 1}
    options: {replies: ["42"], delay_ms: 150}
  - name: slow-b
    provider: fake
    price: {input: 2, output: 2}
    options: {replies: ["41"], delay_ms: 150}
"""
SITECUSTOMIZE = """
import os
from tandem.providers import fake

_send = fake.FakeProvider.send


async def send(self, endpoint, body):
    with open(os.environ["BENCH_CALL_LOG"], "a") as f:
        f.write(self.config.name + "\\n")
    return await _send(self, endpoint, body)


fake.FakeProvider.send = send
"""


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM results").fetchone()[0])
    except sqlite3.OperationalError:  # table not created yet
        return 0


def _calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_sigkill_mid_run_then_resume(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    config = tmp_path / "tandem.yaml"
    config.write_text(CONFIG)
    data = write_jsonl(
        tmp_path / "numbers.jsonl",
        [{"id": f"n{i}", "prompt": f"What is 6 x 7? ({i})", "reference": "42"} for i in range(ITEMS)],
    )
    out = tmp_path / "out"
    log = tmp_path / "calls.log"
    env = {
        **os.environ,
        "PYTHONPATH": f"{site}{os.pathsep}{REPO}",
        "BENCH_CALL_LOG": str(log),
        "TANDEM_HOME": str(tmp_path / "home"),
    }
    env.pop("TANDEM_CONFIG", None)
    cmd = [
        sys.executable,
        "-m",
        "tandem",
        "bench",
        str(data),
        "--config",
        str(config),
        "--out",
        str(out),
        "--concurrency",
        "3",
        "--scorer",
        "numeric",
        "-q",
    ]

    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    db = out / "results.sqlite"
    deadline = time.monotonic() + 120
    while _stored(db) < 8:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        assert time.monotonic() < deadline, "no results stored in time"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    stored_before = _stored(db)
    calls_before = len(_calls(log))
    total = 3 * ITEMS  # slow-a, slow-b and the implicit route "auto" over both
    assert 8 <= stored_before < total, "the kill should come mid-run"
    # Every stored result was an upstream call; at most the 3 calls in flight are lost.
    assert stored_before <= calls_before <= stored_before + 3

    rerun = subprocess.run([*cmd, "--json"], env=env, cwd=tmp_path, capture_output=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr.decode()
    calls_after = len(_calls(log))
    # The rerun calls exactly what was not stored: nothing twice, nothing lost.
    assert calls_after - calls_before == total - stored_before
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT item_id, target, score, error FROM results").fetchall()
    assert len(rows) == total == len({(i, t) for i, t, _, _ in rows})
    targets = ("slow-a", "slow-b", "auto")
    assert {(i, t) for i, t, _, _ in rows} == {(f"n{i}", t) for i in range(ITEMS) for t in targets}
    assert all(e is None for *_, e in rows)
    report = json.loads(rerun.stdout)
    scores = {t["target"]: (t["requests"], t["score"]) for t in report["targets"]}
    assert scores == {"slow-a": (ITEMS, 1.0), "slow-b": (ITEMS, 0.0), "auto": (ITEMS, 1.0)}
    assert b"already done" in rerun.stderr

    # A third run makes no call at all.
    third = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, timeout=300)
    assert third.returncode == 0 and len(_calls(log)) == calls_after
    assert f"0 calls made, {total} already done".encode() in third.stderr
