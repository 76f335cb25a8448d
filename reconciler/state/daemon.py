"""State: what the daemon remembers per customer, beside the managed state (R19).

One row per customer: the last run and its result, pending conflicts with their
causes, the safety block (reason and the removals it would make), a one-time
override, consecutive failures and quarantine, and when the next run is due.
Plus a few daemon-wide facts (its pid and heartbeat, the config error it is
living with, the config commit). `reconciler status` reads the same tables.

`DaemonState` is the SQLite implementation of `state.api.DaemonStore`. It
lives in the state database file but on its own connection; SQLite's WAL lets
both connections work.
Updates are column-targeted so a person's override (CLI, another process) and
the daemon's run bookkeeping never overwrite each other.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from reconciler.errors import StateError
from reconciler.state.api import COLUMNS as _COLUMNS
from reconciler.state.api import RUN_COLUMNS as _RUN_COLUMNS
from reconciler.state.api import (
    CustomerBrief,
    CustomerRecord,
    Replica,
    Slot,
    column_value,
    record_from_row,
    replica_from_row,
    replica_row,
)
from reconciler.state.sqlite_schema import migrate

HISTORY_KEPT = 100  # runs remembered per customer


class DaemonState:
    """`DaemonStore` on the daemon tables of the SQLite state database; thread-safe."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        migrate(self._db, str(path))
        self._mutex = threading.RLock()

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    # --- per customer ------------------------------------------------------------------------
    def get(self, customer: str) -> CustomerRecord | None:
        with self._mutex:
            row = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM daemon_customers WHERE customer=?",  # noqa: S608
                (customer,),
            ).fetchone()
        return record_from_row(row) if row else None

    def all(self) -> dict[str, CustomerRecord]:
        with self._mutex:
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM daemon_customers ORDER BY customer"  # noqa: S608
            ).fetchall()
        return {r[0]: record_from_row(r) for r in rows}

    def schedule(self) -> dict[str, Slot]:
        """What the scheduler reads every cycle, without the heavier columns."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT customer, next_run_at, last_started_at, failures FROM daemon_customers"
            ).fetchall()
        return {r[0]: Slot(r[1], r[2], r[3]) for r in rows}

    def briefs(self) -> list[CustomerBrief]:
        """Every customer in one query, lists counted by SQLite (no JSON parsed here)."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT customer, next_run_at, last_started_at, last_finished_at, last_result, last_message, "
                "last_success_at, last_commit, changes_applied, changes_pending, json_array_length(conflicts), "
                "failures, quarantined, blocked_reason, blocked_since, json_array_length(blocked_removals), "
                "override_at IS NOT NULL FROM daemon_customers"
            ).fetchall()
        return [CustomerBrief._make(r) for r in rows]

    def save_run(self, record: CustomerRecord) -> None:
        """Write a run's bookkeeping; override columns are left as they are."""
        values = [column_value(name, getattr(record, name)) for name in _RUN_COLUMNS]
        sets = ", ".join(f"{c}=excluded.{c}" for c in _RUN_COLUMNS)
        with self._mutex:
            self._db.execute(
                f"INSERT INTO daemon_customers (customer, {', '.join(_RUN_COLUMNS)}) "  # noqa: S608
                f"VALUES (?{', ?' * len(_RUN_COLUMNS)}) ON CONFLICT(customer) DO UPDATE SET {sets}",
                (record.customer, *values),
            )

    def set_next_run(self, customer: str, when: float) -> None:
        with self._mutex:
            self._db.execute(
                "INSERT INTO daemon_customers (customer, next_run_at) VALUES (?, ?) "
                "ON CONFLICT(customer) DO UPDATE SET next_run_at=excluded.next_run_at",
                (customer, when),
            )

    def request_override(self, customer: str, now: float, by: str) -> CustomerRecord:
        """A person approves, once, exactly the removals that blocked the customer."""
        with self._mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                current = self.get(customer)
                if current is None or not current.blocked:
                    raise StateError(f"{customer}: not blocked by a safety guard; nothing to override")
                self._db.execute(
                    "UPDATE daemon_customers SET override_at=?, override_by=?, override_removals=?, next_run_at=? "
                    "WHERE customer=?",
                    (now, by, json.dumps(list(current.blocked_removals)), now, customer),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        out = self.get(customer)
        assert out is not None
        return out

    def clear_override(self, customer: str, override_at: float) -> None:
        """Consume the override a run used (not a newer one given meanwhile)."""
        with self._mutex:
            self._db.execute(
                "UPDATE daemon_customers SET override_at=NULL, override_by='', override_removals='[]' "
                "WHERE customer=? AND override_at=?",
                (customer, override_at),
            )

    # --- daemon-wide -------------------------------------------------------------------------
    def put_meta(self, key: str, value: Any) -> None:
        with self._mutex:
            if value is None:
                self._db.execute("DELETE FROM daemon_meta WHERE key=?", (key,))
            else:
                self._db.execute(
                    "INSERT INTO daemon_meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (key, json.dumps(value, sort_keys=True)),
                )

    def meta(self) -> dict[str, Any]:
        with self._mutex:
            rows = self._db.execute("SELECT key, value FROM daemon_meta").fetchall()
        return {k: json.loads(v) for k, v in rows}

    # --- run history -------------------------------------------------------------------------
    def add_history(self, customer: str, entry: dict[str, Any], keep: int = HISTORY_KEPT) -> None:
        with self._mutex:
            self._db.execute(
                "INSERT INTO daemon_history (customer, entry) VALUES (?, ?)",
                (customer, json.dumps(entry, sort_keys=True)),
            )
            self._db.execute(
                "DELETE FROM daemon_history WHERE customer=? AND id <= "
                "(SELECT id FROM daemon_history WHERE customer=? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (customer, customer, keep),
            )

    def history(self, customer: str, limit: int = HISTORY_KEPT) -> list[dict[str, Any]]:
        with self._mutex:
            rows = self._db.execute(
                "SELECT entry FROM daemon_history WHERE customer=? ORDER BY id DESC LIMIT ?",
                (customer, limit),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def latest_history(self) -> dict[str, dict[str, Any]]:
        with self._mutex:
            rows = self._db.execute(
                "SELECT customer, entry FROM daemon_history "
                "WHERE id IN (SELECT max(id) FROM daemon_history GROUP BY customer)"
            ).fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    # --- keyed records (last plans, sign-in sessions, notification and ticket bookkeeping) ----
    def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._mutex:
            row = self._db.execute(
                "SELECT value FROM daemon_records WHERE kind=? AND key=?", (kind, key)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def put_record(self, kind: str, key: str, value: dict[str, Any] | None) -> None:
        """Write (or, with None, delete) one record."""
        with self._mutex:
            if value is None:
                self._db.execute("DELETE FROM daemon_records WHERE kind=? AND key=?", (kind, key))
            else:
                self._db.execute(
                    "INSERT INTO daemon_records VALUES (?, ?, ?) "
                    "ON CONFLICT(kind, key) DO UPDATE SET value=excluded.value",
                    (kind, key, json.dumps(value, sort_keys=True)),
                )

    def add_record(self, kind: str, key: str, value: dict[str, Any]) -> bool:
        """Write a record only if none exists (True); the one atomic claim replicas share."""
        with self._mutex:
            cur = self._db.execute(
                "INSERT INTO daemon_records VALUES (?, ?, ?) ON CONFLICT(kind, key) DO NOTHING",
                (kind, key, json.dumps(value, sort_keys=True)),
            )
        return cur.rowcount == 1

    def replace_record(self, kind: str, key: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Write `new` only while the record still is `old` (compare and set)."""
        with self._mutex:
            cur = self._db.execute(
                "UPDATE daemon_records SET value=? WHERE kind=? AND key=? AND value=?",
                (json.dumps(new, sort_keys=True), kind, key, json.dumps(old, sort_keys=True)),
            )
        return cur.rowcount == 1

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        with self._mutex:
            rows = self._db.execute("SELECT key, value FROM daemon_records WHERE kind=?", (kind,)).fetchall()
        return {k: json.loads(v) for k, v in rows}

    # --- replicas ----------------------------------------------------------------------------
    def beat(self, replica: Replica) -> None:
        with self._mutex:
            self._db.execute(
                "INSERT INTO replicas VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "heartbeat=excluded.heartbeat, current=excluded.current, stopped_at=excluded.stopped_at, "
                "version=excluded.version",
                replica_row(replica),
            )

    def replicas(self) -> list[Replica]:
        with self._mutex:
            rows = self._db.execute("SELECT * FROM replicas ORDER BY id").fetchall()
        return [replica_from_row(r) for r in rows]
