"""Compiled or Python: which build of the scanner's modules gets imported.

An installed tandem carries the privacy scanner's modules twice: compiled
by mypyc (``setup.py``; about 20% faster scans) and as Python sources.
Python imports the compiled module whenever one exists, also when its
source has been edited since (a development checkout). The build records
the SHA-256 of each source it compiled in ``_native.json``; :func:`select`
compares them with the sources on disk before the first of these modules is
imported, and when any differs, or ``TANDEM_PURE_PYTHON=1`` is set, it
makes all of them load from their sources (all or none: compiled modules
call each other directly). ``scripts/setup.sh`` rebuilds them.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["BUILD", "MANIFEST", "ON_REQUEST", "Build", "SourceFinder", "decide", "select"]

MANIFEST = "_native.json"
#: The reason given when the Python sources were asked for (no warning then).
ON_REQUEST = "TANDEM_PURE_PYTHON is set"
_log = logging.getLogger("tandem.privacy")


@dataclass(frozen=True, slots=True)
class Build:
    """The outcome of :func:`decide`: ``compiled`` or ``source``, and why."""

    mode: str
    reason: str
    modules: tuple[str, ...] = ()  # the compiled modules to load from source


def _compiled_files(directory: Path) -> set[str]:
    """Module names that have a compiled extension in ``directory``."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return {path.name.split(".", 1)[0] for path in directory.iterdir() if path.name.endswith(suffixes)}


def decide(directory: Path, environ: Mapping[str, str]) -> Build:
    """Which build of the modules in ``directory`` is current."""
    compiled = _compiled_files(directory)
    if not compiled:
        return Build("source", "no compiled build")
    try:
        recorded: dict[str, str] = json.loads((directory / MANIFEST).read_text())["modules"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = {}
    stale = tuple(sorted(compiled | set(recorded)))
    if not recorded:
        return Build("source", f"compiled modules without {MANIFEST}", stale)
    if environ.get("TANDEM_PURE_PYTHON", "") not in ("", "0"):
        return Build("source", ON_REQUEST, stale)
    changed = []
    for name, digest in sorted(recorded.items()):
        path = directory / f"{name}.py"
        if name not in compiled or not path.is_file():
            changed.append(name)
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            changed.append(f"{name}.py")
    if changed:
        return Build("source", "changed since compiled: " + ", ".join(changed), stale)
    return Build("compiled", "sources match the compiled build")


class SourceFinder(importlib.abc.MetaPathFinder):
    """Loads the named modules from their ``.py`` files, never from a compiled extension."""

    def __init__(self, package: str, directory: Path, modules: Sequence[str]) -> None:
        self._paths = {f"{package}.{name}": directory / f"{name}.py" for name in modules}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self._paths.get(fullname)
        if source is None or not source.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def select(package: str, directory: Path) -> Build:
    """Decide for ``package`` (whose modules are in ``directory``) and, when its
    compiled modules are not current, route their imports to the sources."""
    build = decide(directory, os.environ)
    if build.modules:
        sys.meta_path.insert(0, SourceFinder(package, directory, build.modules))
        if build.reason != ON_REQUEST:
            _log.warning(
                "%s runs from its Python sources (%s); scripts/setup.sh rebuilds the compiled modules",
                package,
                build.reason,
            )
    return build


#: This installation's choice, made when ``tandem.privacy`` is first imported.
BUILD = select("tandem.privacy", Path(__file__).resolve().parent)
