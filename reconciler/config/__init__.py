"""Config stage: YAML files -> validated, resolved documents.

The package imports its modules lazily: `reconciler.config.base` is imported by
the integration table that `reconciler.config.models` itself reads, so loading
`load` here eagerly would make importing the table first a circular import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.config.load import ConfigSet


def load_valid_config(root: Path) -> ConfigSet:
    """Load a config directory and run every rule; raise ConfigError with all problems."""
    from reconciler.config.load import load_config
    from reconciler.config.rules import check
    from reconciler.errors import ConfigError

    config = load_config(root)
    problems = check(config)
    if problems:
        raise ConfigError(problems)
    return config


def __getattr__(name: str) -> Any:
    if name == "ConfigSet":
        from reconciler.config.load import ConfigSet

        return ConfigSet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConfigSet", "load_valid_config"]
