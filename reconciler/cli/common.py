"""CLI: shared options and the typed context object."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import click


@dataclass
class Ctx:
    debug: bool = False
    verbose: int = 0  # -v / --verbose, wherever it was given


ENV_CONFIG_DIR = "RECONCILER_CONFIG_DIR"
SETTINGS_FILES = ("settings.yaml", "settings.yml")
# A top-level `kind: Settings` line; read as text so that finding the directory
# never parses (or trusts) YAML before the loader does.
_KIND_SETTINGS = re.compile(r"^kind:\s*['\"]?Settings['\"]?\s*(#.*)?$", re.MULTILINE)


def holds_settings(directory: Path) -> bool:
    """True when DIRECTORY has a settings.yaml / settings.yml whose document is kind: Settings."""
    for name in SETTINGS_FILES:
        path = directory / name
        try:
            if path.is_file() and _KIND_SETTINGS.search(path.read_text(encoding="utf-8", errors="replace")):
                return True
        except OSError:
            continue
    return False


def find_config_dir(start: Path) -> Path | None:
    """The nearest of START and its ancestors holding the Settings document, like git finds its repository."""
    here = start.resolve()
    for directory in (here, *here.parents):
        if holds_settings(directory):
            return directory
    return None


def _resolve_config_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    if value is not None:
        return value
    env = os.environ.get(ENV_CONFIG_DIR)
    if env:
        return Path(env)
    found = find_config_dir(Path.cwd())
    if found is None:
        raise click.UsageError(
            "no config directory: neither the working directory nor any parent holds a "
            f"settings.yaml with kind: Settings; pass -c DIR or set {ENV_CONFIG_DIR}",
            ctx,
        )
    try:
        return found.relative_to(Path.cwd().resolve())
    except ValueError:
        return found


config_dir_option = click.option(
    "-c",
    "--config-dir",
    "config_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    callback=_resolve_config_dir,
    help=f"Config directory (default: ${ENV_CONFIG_DIR}, else the nearest directory upwards holding settings.yaml).",
)
