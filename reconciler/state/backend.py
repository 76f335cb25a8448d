"""State: pick the backend Settings `state` names and open both stores on it.

`sqlite` (the default) is one embedded file next to the config, for one
machine, offline use and the quickstart. `postgres` is one database shared by
CI, people and daemon replicas; every row is keyed by the state namespace
(default: the Settings' metadata.name) so config repositories sharing a
database never see each other. The description never contains the DSN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.config import ConfigSet
from reconciler.config.models import SettingsSpec, StateSettings
from reconciler.errors import StateError
from reconciler.state.api import DaemonStore, StateStore


@dataclass(frozen=True)
class StateBackend:
    store: StateStore
    daemon: DaemonStore
    description: str  # for messages: the file, or the namespace and schema (never the DSN)
    settings: StateSettings

    def close(self) -> None:
        self.daemon.close()
        self.store.close()


def namespace_of(config: ConfigSet) -> str:
    state = config.settings_doc.spec.state
    return state.namespace or config.settings_doc.metadata.name


def open_state(config: ConfigSet, must_exist: bool = False) -> StateBackend:
    """Both stores of `config`'s state backend. `must_exist`: refuse to create an
    empty SQLite file (status and other read-only commands)."""
    return open_backend(config.root, config.settings_doc.spec, namespace_of(config), must_exist)


def open_backend(root: Path, spec: SettingsSpec, namespace: str, must_exist: bool = False) -> StateBackend:
    settings = spec.state
    if settings.backend == "sqlite":
        from reconciler.state.daemon import DaemonState
        from reconciler.state.store import SqliteStore

        path = root / settings.path
        if must_exist and not path.exists():
            raise StateError(f"{path}: no state yet (run apply or the daemon first)")
        store = SqliteStore(path)
        try:
            daemon = DaemonState(path)
        except BaseException:
            store.close()
            raise
        return StateBackend(store, daemon, str(path), settings)
    raise StateError(
        f"state.backend {settings.backend}: not available in this version of reconciler (use backend sqlite)"
    )
