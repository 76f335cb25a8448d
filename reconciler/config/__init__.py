"""Config stage: YAML files -> validated, resolved documents.

The package's face is lazy: `reconciler.config.base` (the settings building
blocks every integration's settings model uses) can be imported without loading
the document models, which themselves read the integration table.
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
