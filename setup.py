"""Build step: compile the privacy scanner's modules to C with mypyc.

The project's metadata lives in ``pyproject.toml``; this file only adds the
compiled modules. The scan runs on every request, and compiled it takes
about 20% less CPU (``bench/privacy_speed.py``); the Python sources stay the
reference and are shipped next to the compiled modules.

The build never fails for want of the compiled modules: with
``TANDEM_COMPILE=0``, without mypyc or without a working C compiler it
installs the pure-Python package (with a warning). A successful build writes
``_native.json`` next to the modules, the SHA-256 of each source it compiled;
``tandem.privacy.native`` loads the Python sources instead when a source no
longer matches (an edited checkout), so a stale compiled module never runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
PACKAGE = "tandem/privacy"
# The scanner's modules: everything PrivacyGuard.scan runs, nothing that
# imports the optional NER engine or the rest of tandem.
COMPILED = (
    *("checks", "credentials", "iban", "leading", "numbers", "phones"),
    *("scanner", "shapes", "spans", "textfold", "web"),
)
MANIFEST = "_native.json"
# Only the compiled modules are type-checked strictly (by `mypy src` in
# development); here mypy reads the rest of tandem just for its types, and
# the build environment holds no third-party packages.
MYPY_CONFIG = "[mypy]\npython_version = 3.11\nignore_missing_imports = True\nfollow_imports = silent\n"


def _warn(why: str) -> None:
    print(f"warning: tandem: {why}; installing the pure-Python scanner", file=sys.stderr)


def _sources() -> list[str]:
    return [f"src/{PACKAGE}/{name}.py" for name in COMPILED]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class BuildExtOrPure(build_ext):
    """build_ext that falls back to the pure-Python package when compiling fails,
    and records which sources the compiled modules were built from."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # a missing compiler shows as several error types
            for ext in self.extensions:
                Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)
            _warn(f"compiling the privacy scanner failed ({exc})")
            return
        target = Path(self.get_ext_fullpath(f"tandem.privacy.{COMPILED[0]}")).parent
        digests = {name: _digest(HERE / "src" / PACKAGE / f"{name}.py") for name in COMPILED}
        (target / MANIFEST).write_text(json.dumps({"modules": digests}, indent=1) + "\n")


def _extensions() -> list[object]:
    if os.environ.get("TANDEM_COMPILE", "1") == "0":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypyc is not installed")
        return []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "mypy.ini"
        config.write_text(MYPY_CONFIG)
        os.chdir(HERE)  # mypycify takes paths relative to the project
        try:
            return list(mypycify([f"--config-file={config}", *_sources()], opt_level="3", group_name="tandem_privacy"))
        except (Exception, SystemExit) as exc:  # mypy exits on a type error
            _warn(f"mypyc could not compile the privacy scanner ({exc})")
            return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExtOrPure})
