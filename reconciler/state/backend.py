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
from typing import TYPE_CHECKING

import yaml

from reconciler.config import ConfigSet
from reconciler.config.load import config_files
from reconciler.config.models import SettingsDoc, SettingsSpec, StateSettings
from reconciler.errors import ReconcilerError, StateError
from reconciler.state.api import DaemonStore, StateStore

if TYPE_CHECKING:  # mypy --strict proves every backend satisfies both protocols, method by method
    from reconciler.state.daemon import DaemonState
    from reconciler.state.pgdaemon import PgDaemonStore
    from reconciler.state.pgstore import PgStore
    from reconciler.state.store import SqliteStore

    _STORES: tuple[type[StateStore], ...] = (SqliteStore, PgStore)
    _DAEMON_STORES: tuple[type[DaemonStore], ...] = (DaemonState, PgDaemonStore)


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


def settings_only(config_dir: Path) -> SettingsDoc:
    """The Settings document alone (to find the state) when the rest of the config is
    invalid; the defaults when it cannot be read either."""
    for path in config_files(config_dir):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "Settings":
                try:
                    settings = SettingsDoc.model_validate(doc)
                except ValueError:
                    break
                return settings
    return ConfigSet(config_dir, None).settings_doc


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
        store = SqliteStore(path, settings.lease_seconds)
        try:
            daemon = DaemonState(path)
        except BaseException:
            store.close()
            raise
        return StateBackend(store, daemon, str(path), settings)
    assert settings.dsn is not None  # the Settings model requires it for postgres
    from reconciler.secrets import resolve
    from reconciler.state.pgdaemon import PgDaemonStore
    from reconciler.state.pgstore import PgStore
    from reconciler.state.postgres import Database

    dsn = resolve(settings.dsn, root, "state.dsn").get_secret_value()
    where = f"state database (postgres, schema {settings.db_schema}, namespace {namespace})"
    # a transaction idle for a third of the lease was left by a paused process: the server
    # ends it, so its row locks go before its lease expires and a takeover is never held up
    db = Database(dsn, settings.db_schema, namespace, where, settings.lease_seconds / 3)
    backend = StateBackend(PgStore(db, settings.lease_seconds), PgDaemonStore(db), where, settings)
    return backend


_LOOPBACK = ("localhost", "127.", "::1", "/")


def dsn_warnings(root: Path, settings: StateSettings) -> list[str]:
    """`validate`: a PostgreSQL state off this machine whose DSN does not verify the
    server's certificate (sslmode=verify-full). Names the host, never the DSN."""
    if settings.backend != "postgres" or settings.dsn is None:
        return []
    from psycopg.conninfo import conninfo_to_dict

    from reconciler.secrets import resolve

    try:
        params = conninfo_to_dict(resolve(settings.dsn, root, "state.dsn").get_secret_value())
    except ReconcilerError:
        return []  # not set here (CI secrets): nothing to check
    except Exception:  # psycopg's message may quote the DSN
        return ["state.dsn: the connection string cannot be parsed"]
    hosts = [h for h in str(params.get("host") or params.get("hostaddr") or "localhost").split(",") if h]
    remote = [h for h in hosts if not h.startswith(_LOOPBACK)]
    if remote and params.get("sslmode") != "verify-full":
        return [
            f"state.dsn: the state database on {', '.join(remote)} is not on this machine and the "
            "connection string does not set sslmode=verify-full, so the server's certificate is not verified"
        ]
    return []
