"""The compiled (mypyc) scanner modules: used only while they match their
sources, and scanning exactly as the Python sources do."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tandem.privacy import BUILD, PrivacyGuard
from tandem.privacy.native import MANIFEST, SourceFinder, decide

FIXTURES = Path(__file__).parent / "fixtures"
EXTENSION = f"mod.cpython-{sys.version_info.major}{sys.version_info.minor}-x86_64-linux-gnu.so"


def _package(tmp_path: Path, source: str = "X = 'source'\n", manifest: bool = True) -> Path:
    """A directory that looks like a compiled build of one module ``mod``."""
    (tmp_path / "mod.py").write_text(source)
    (tmp_path / EXTENSION).write_bytes(b"\x7fELF")
    if manifest:
        digest = hashlib.sha256(b"X = 'source'\n").hexdigest()
        (tmp_path / MANIFEST).write_text(json.dumps({"modules": {"mod": digest}}))
    return tmp_path


def test_a_build_matching_its_sources_is_used(tmp_path: Path) -> None:
    build = decide(_package(tmp_path), {})
    assert (build.mode, build.modules) == ("compiled", ())


def test_an_edited_source_makes_all_compiled_modules_load_from_source(tmp_path: Path) -> None:
    build = decide(_package(tmp_path, source="X = 'edited'\n"), {})
    assert build.mode == "source"
    assert "mod.py" in build.reason
    assert build.modules == ("mod",)


def test_compiled_modules_without_a_record_of_their_sources_are_not_trusted(tmp_path: Path) -> None:
    build = decide(_package(tmp_path, manifest=False), {})
    assert (build.mode, build.modules) == ("source", ("mod",))
    assert MANIFEST in build.reason


def test_pure_python_on_request(tmp_path: Path) -> None:
    assert decide(_package(tmp_path), {"TANDEM_PURE_PYTHON": "1"}).mode == "source"
    assert decide(_package(tmp_path), {"TANDEM_PURE_PYTHON": "0"}).mode == "compiled"


def test_no_compiled_modules_means_the_sources(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("X = 1\n")
    assert decide(tmp_path, {}) == decide(tmp_path, {"TANDEM_PURE_PYTHON": "1"})
    assert decide(tmp_path, {}).modules == ()


def test_the_source_finder_wins_over_what_would_shadow_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A package directory shadows a module file of the same name, as a
    # compiled extension does: the finder must load the .py all the same.
    package = tmp_path / "shadowed_pkg"
    (package / "mod").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod" / "__init__.py").write_text("X = 'shadow'\n")
    (package / "mod.py").write_text("X = 'source'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert importlib.import_module("shadowed_pkg.mod").X == "shadow"
    del sys.modules["shadowed_pkg.mod"]
    finder = SourceFinder("shadowed_pkg", package, ["mod"])
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    module = importlib.import_module("shadowed_pkg.mod")
    assert module.X == "source"
    assert module.__file__ == str(package / "mod.py")
    del sys.modules["shadowed_pkg.mod"]


def _texts() -> list[str]:
    records = json.loads((FIXTURES / "sample.json").read_text())
    return [record["full_text"] for record in records]


_SCAN = """
import json, sys
import tandem.privacy as privacy
guard = privacy.PrivacyGuard()
texts = json.load(sys.stdin)
print(json.dumps({"mode": privacy.BUILD.mode,
                  "spans": [[list(span) for span in guard.scan(text)] for text in texts]}))
"""


def test_this_installation_runs_the_compiled_scanner_and_it_scans_as_the_sources_do() -> None:
    if BUILD.mode != "compiled":
        if os.environ.get("TANDEM_EXPECT_COMPILED") == "1":
            pytest.fail(f"the scanner is not compiled: {BUILD.reason}")
        pytest.skip(f"the scanner is not compiled here: {BUILD.reason}")
    numbers = importlib.import_module("tandem.privacy.numbers")
    assert not str(numbers.__file__).endswith(".py")
    texts = _texts()
    texts += [" ".join(texts), "call +44 20 7946 0958 or 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00"]
    guard = PrivacyGuard()
    compiled = [[list(span) for span in guard.scan(text)] for text in texts]
    assert any(compiled)
    env = {**os.environ, "TANDEM_PURE_PYTHON": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _SCAN], input=json.dumps(texts), env=env, capture_output=True, text=True, check=True
    )
    pure = json.loads(run.stdout)
    assert pure["mode"] == "source"
    assert pure["spans"] == compiled
