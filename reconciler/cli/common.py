"""CLI: shared options and the typed context object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click


@dataclass
class Ctx:
    debug: bool = False
    verbose: int = 0  # -v / --verbose, wherever it was given


config_dir_option = click.option(
    "-c",
    "--config-dir",
    "config_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Config directory (a tree of YAML files).",
)
