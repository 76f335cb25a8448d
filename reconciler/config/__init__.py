"""Config stage: YAML files -> validated, resolved documents."""

from __future__ import annotations

from pathlib import Path

from reconciler.config.load import ConfigSet, load_config
from reconciler.config.rules import check
from reconciler.errors import ConfigError


def load_valid_config(root: Path) -> ConfigSet:
    """Load a config directory and run every rule; raise ConfigError with all problems."""
    config = load_config(root)
    problems = check(config)
    if problems:
        raise ConfigError(problems)
    return config


__all__ = ["ConfigSet", "load_valid_config"]
