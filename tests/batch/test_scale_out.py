"""docs/scale-out.md: its code blocks, run as written, against a real ``tandem serve``.

The Ray test needs ``ray[data]`` and ``pandas`` (not tandem dependencies):
it is skipped where they are not installed. The Spark block also needs a
Java runtime and ``pyspark``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale-out.md"
SRC = Path(__file__).resolve().parents[2] / "src"

FAKE = """\
privacy: {default_policy: allow}
models:
  - name: fake
    provider: fake
    price: {input: 1, output: 2}
"""


def doc_blocks() -> dict[str, str]:
    """Python blocks of the doc whose first line is ``# <file name>``."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    return {m.group(1): b for b in blocks if (m := re.match(r"# (\S+\.py)\n", b))}


def test_doc_has_the_blocks() -> None:
    assert set(doc_blocks()) >= {"tandem_rows.py", "run_ray.py", "run_spark.py"}


def _workdir(tmp_path: Path, n: int) -> Path:
    work = tmp_path / "job"
    work.mkdir()
    for name, code in doc_blocks().items():
        (work / name).write_text(code)
    pq.write_table(
        pa.table({"id": list(range(n)), "body": [f"ticket {i}" for i in range(n)]}), work / "tickets.parquet"
    )
    return work


def _env(server_url: str, work: Path) -> dict[str, str]:
    path = os.pathsep.join([str(work), str(SRC), os.environ.get("PYTHONPATH", "")])
    return {
        **os.environ,
        "TANDEM_URL": server_url,
        "TANDEM_KEY": "unused",
        "PYTHONPATH": path,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        # Spark's Python workers: this interpreter (with openai and pandas), not the first python3 on PATH
        "PYSPARK_PYTHON": sys.executable,
    }


def _check(work: Path, n: int) -> None:
    out = pq.read_table(work / "summaries").to_pandas().sort_values("id")
    assert list(out["id"]) == list(range(n))
    assert list(out["answer"]) == [f"You said: Summarize in one line: ticket {i}" for i in range(n)]
    assert set(out["model"]) == {"fake"} and out["error"].isna().all()
    assert (out["cost_usd"] > 0).all()


@pytest.mark.timeout(1500)  # Ray starts a local cluster: slow on a busy 2-core machine
def test_ray_data_block_runs(tmp_path: Path, start_server: Callable[..., object]) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("ray.data")
    server = start_server(FAKE)
    n = 200
    work = _workdir(tmp_path, n)
    run = subprocess.run(
        [sys.executable, "run_ray.py"],
        cwd=work,
        env=_env(server.base_url, work),  # type: ignore[attr-defined]
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    _check(work, n)


@pytest.mark.timeout(1500)
def test_spark_block_runs(tmp_path: Path, start_server: Callable[..., object]) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("pyspark needs a Java runtime")
    server = start_server(FAKE)
    n = 50
    work = _workdir(tmp_path, n)
    run = subprocess.run(
        [sys.executable, "run_spark.py"],
        cwd=work,
        env=_env(server.base_url, work),  # type: ignore[attr-defined]
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    _check(work, n)
