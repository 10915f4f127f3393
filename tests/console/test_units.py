"""Bench run discovery and report tickets, without a server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tandem.console import bench
from tandem.console.access import Viewer, check_ticket, make_ticket
from tandem.errors import AuthenticationError, InvalidRequest, NotFound


def test_list_runs_reads_tandem_bench_output(tmp_path: Path) -> None:
    report = {
        "title": "On quiz",
        "created": "2026-01-02 03:04 UTC",
        "dataset": {"name": "quiz", "items": 5},
        "targets": [{"target": "cheap"}, {"target": "auto"}],
        "files": {"x": "/secret/path"},
    }
    a = tmp_path / "a"
    a.mkdir()
    (a / "report.json").write_text(json.dumps(report))
    (a / "report.html").write_text("<html></html>")
    (a / "summary.csv").write_text("x\n")
    b = tmp_path / "b"
    b.mkdir()
    (b / "summary.json").write_text(json.dumps({"name": "older", "created_at": 1_600_000_000}))
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "stray.txt").write_text("x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "report.html").write_text("x")
    runs = bench.list_runs(tmp_path)
    assert [r["id"] for r in runs] == ["a", "b"]
    first = runs[0]
    assert first["title"] == "On quiz" and first["dataset"] == "quiz (5 items)"
    assert first["models"] == ["cheap", "auto"] and first["has_report"]
    assert first["downloads"] == ["summary.csv", "report.json"]
    assert first["created"] == pytest.approx(1767323040.0)
    assert runs[1]["created"] == 1_600_000_000 and not runs[1]["has_report"]
    summary = bench.read_summary("a", tmp_path)
    assert "files" not in summary and summary["title"] == "On quiz"


def test_run_ids_and_paths_cannot_escape(tmp_path: Path) -> None:
    root = tmp_path / "bench"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "report.html").write_text("secret")
    (root / "link").symlink_to(outside)
    ok = root / "ok"
    ok.mkdir()
    (ok / "report.json").write_text("{}")
    (ok / "report.html").symlink_to(outside / "report.html")
    for bad in ("..", "../outside", "a/b", ".x", "", "x" * 200):
        with pytest.raises((InvalidRequest, NotFound)):
            bench.report_path(bad, root)
    with pytest.raises(NotFound):
        bench.report_path("link", root)  # a symlinked run dir pointing out
    with pytest.raises(NotFound):
        bench.report_path("ok", root)  # a report symlinked out of its run
    with pytest.raises(NotFound):
        bench.download_path("ok", "results.sqlite", root)
    with pytest.raises(NotFound):
        bench.read_summary("missing", root)
    assert [r["id"] for r in bench.list_runs(root)] == ["ok"]


def test_bench_roots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TANDEM_BENCH_DIR", f"{tmp_path / 'x'}:{tmp_path / 'y'}")
    monkeypatch.chdir(tmp_path)
    assert bench.bench_roots() == [
        tmp_path / "x",
        tmp_path / "y",
        tmp_path / "home" / "bench",
        tmp_path / "bench-results",
    ]
    # The first root holding a run id wins.
    for where in ("y", "bench-results"):
        (tmp_path / where / "r1").mkdir(parents=True)
        (tmp_path / where / "r1" / "report.html").write_text(where)
    assert bench.report_path("r1").read_text() == "y"
    assert [r["id"] for r in bench.list_runs()] == ["r1"]


# --- tickets --------------------------------------------------------------------


class _Rec:
    def __init__(self, active: bool = True) -> None:
        self.secret_hash = "ab" * 32
        self.active = active

    def is_active(self, now: float) -> bool:
        return self.active


def _request(records: dict[str, Any], admin_env: str | None = None) -> Any:
    store = SimpleNamespace(verify=None, keys=SimpleNamespace(by_id=records))
    config = SimpleNamespace(auth=SimpleNamespace(admin_key_env="TANDEM_TEST_CONSOLE_ADMIN"))
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(store=store, config=config)))


def test_tickets_bind_key_run_and_time(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = _Rec()
    req = _request({"key_1": rec})
    viewer = Viewer("key", "key_1", "alice")
    now = time.time()
    ticket = make_ticket(req, viewer, "run-a", now=now)
    assert ticket is not None
    check_ticket(req, ticket, "run-a")
    with pytest.raises(AuthenticationError):
        check_ticket(req, ticket, "run-b")
    old = make_ticket(req, viewer, "run-a", now=now - 301)
    assert old is not None
    with pytest.raises(AuthenticationError):
        check_ticket(req, old, "run-a")
    rec.active = False  # revoked or expired key
    with pytest.raises(AuthenticationError):
        check_ticket(req, ticket, "run-a")
    with pytest.raises(AuthenticationError):
        make_ticket(req, viewer, "run-a")


def test_admin_tickets_follow_the_admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    req = _request({})
    admin = Viewer("admin", "admin", "admin")
    monkeypatch.setenv("TANDEM_TEST_CONSOLE_ADMIN", "first-admin-secret")
    ticket = make_ticket(req, admin, "r")
    assert ticket is not None
    check_ticket(req, ticket, "r")
    monkeypatch.setenv("TANDEM_TEST_CONSOLE_ADMIN", "rotated-admin-secret")
    with pytest.raises(AuthenticationError):
        check_ticket(req, ticket, "r")
    monkeypatch.delenv("TANDEM_TEST_CONSOLE_ADMIN")
    with pytest.raises(AuthenticationError):
        check_ticket(req, ticket, "r")


def test_local_user_needs_no_ticket() -> None:
    assert make_ticket(_request({}), Viewer("local", None, "local user"), "r") is None
    assert Viewer("local", None, "x").scope == "anonymous"
    assert Viewer("admin", "admin", "admin").scope is None
    assert Viewer("key", "key_1", "a").scope == "key_1"
