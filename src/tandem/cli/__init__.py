"""The ``tandem`` command line.

Each subcommand lives in its own module and is imported only when used, so
``tandem --help`` and ``tandem models`` stay fast and never load llama.cpp,
scikit-learn or a database driver they do not need.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["main"]

#: subcommand name -> "module:attribute" of its click command or group.
COMMANDS: dict[str, str] = {
    "serve": "tandem.cli.serve:serve",
    "models": "tandem.cli.client:models",
    "chat": "tandem.cli.client:chat",
    "keys": "tandem.cli.keys:keys",
    "usage": "tandem.cli.keys:usage",
    "router": "tandem.cli.router:router",
    "route": "tandem.cli.route:route",
    "privacy": "tandem.cli.privacy:privacy",
    "bench": "tandem.cli.bench:bench",
    "batch": "tandem.cli.batch:batch",
    "sql": "tandem.cli.batch:sql",
}


class _LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A subcommand whose module is not part of this build is absent,
            # but a missing third-party dependency must be reported.
            if exc.name == module_name:
                return None
            raise
        command: Any = getattr(module, attr)
        return command if isinstance(command, click.Command) else None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tandem")
def main() -> None:
    """tandem: one OpenAI-compatible endpoint over local and hosted models."""
