"""State: `DaemonStore` on PostgreSQL, keyed by the state namespace.

Shared by every daemon replica on the database: schedules, run bookkeeping
and overrides per customer, daemon-wide facts. Updates are column-targeted,
as on SQLite, so a person's override and a replica's bookkeeping never
overwrite each other.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.errors import StateError
from reconciler.state.api import (
    COLUMNS,
    RUN_COLUMNS,
    CustomerBrief,
    CustomerRecord,
    Replica,
    Slot,
    column_value,
    record_from_row,
    replica_from_row,
    replica_row,
)
from reconciler.state.daemon import HISTORY_KEPT
from reconciler.state.postgres import Database

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {{s}}.daemon_customers"  # noqa: S608 - constant columns
_SAVE = (
    f"INSERT INTO {{s}}.daemon_customers (ns, customer, {', '.join(RUN_COLUMNS)}) "  # noqa: S608
    f"VALUES (%s, %s{', %s' * len(RUN_COLUMNS)}) ON CONFLICT (ns, customer) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in RUN_COLUMNS)
)


class PgDaemonStore:
    def __init__(self, db: Database) -> None:
        self.db = db.attach()
        self.ns = db.ns

    def close(self) -> None:
        self.db.detach()

    # --- per customer ------------------------------------------------------------------------
    def get(self, customer: str) -> CustomerRecord | None:
        row = self.db.one(_SELECT + " WHERE ns=%s AND customer=%s", (self.ns, customer))
        return record_from_row(row) if row else None

    def all(self) -> dict[str, CustomerRecord]:
        rows = self.db.all(_SELECT + " WHERE ns=%s ORDER BY customer", (self.ns,))
        return {r[0]: record_from_row(r) for r in rows}

    def schedule(self) -> dict[str, Slot]:
        rows = self.db.all(
            "SELECT customer, next_run_at, last_started_at, failures FROM {s}.daemon_customers WHERE ns=%s",
            (self.ns,),
        )
        return {r[0]: Slot(r[1], r[2], r[3]) for r in rows}

    def briefs(self) -> list[CustomerBrief]:
        """Every customer in one query, lists counted by PostgreSQL."""
        rows = self.db.all(
            "SELECT customer, next_run_at, last_started_at, last_finished_at, last_result, last_message, "
            "last_success_at, last_commit, changes_applied, changes_pending, json_array_length(conflicts::json), "
            "failures, quarantined, blocked_reason, blocked_since, json_array_length(blocked_removals::json), "
            "override_at IS NOT NULL FROM {s}.daemon_customers WHERE ns=%s",
            (self.ns,),
        )
        return [CustomerBrief._make(r) for r in rows]

    def save_run(self, record: CustomerRecord) -> None:
        values = [column_value(name, getattr(record, name)) for name in RUN_COLUMNS]
        self.db.write(_SAVE, (self.ns, record.customer, *values))

    def set_next_run(self, customer: str, when: float) -> None:
        self.db.write(
            "INSERT INTO {s}.daemon_customers (ns, customer, next_run_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (ns, customer) DO UPDATE SET next_run_at = excluded.next_run_at",
            (self.ns, customer, when),
        )

    def request_override(self, customer: str, now: float, by: str) -> CustomerRecord:
        with self.db.transaction():
            row = self.db.one(_SELECT + " WHERE ns=%s AND customer=%s FOR UPDATE", (self.ns, customer))
            current = record_from_row(row) if row else None
            if current is None or not current.blocked:
                raise StateError(f"{customer}: not blocked by a safety guard; nothing to override")
            self.db.write(
                "UPDATE {s}.daemon_customers SET override_at=%s, override_by=%s, override_removals=%s, "
                "next_run_at=%s WHERE ns=%s AND customer=%s",
                (now, by, json.dumps(list(current.blocked_removals)), now, self.ns, customer),
            )
        out = self.get(customer)
        assert out is not None
        return out

    def clear_override(self, customer: str, override_at: float) -> None:
        self.db.write(
            "UPDATE {s}.daemon_customers SET override_at=NULL, override_by='', override_removals='[]' "
            "WHERE ns=%s AND customer=%s AND override_at=%s",
            (self.ns, customer, override_at),
        )

    # --- daemon-wide -------------------------------------------------------------------------
    def put_meta(self, key: str, value: Any) -> None:
        if value is None:
            self.db.write("DELETE FROM {s}.daemon_meta WHERE ns=%s AND key=%s", (self.ns, key))
            return
        self.db.write(
            "INSERT INTO {s}.daemon_meta VALUES (%s, %s, %s) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
            (self.ns, key, json.dumps(value, sort_keys=True)),
        )

    def meta(self) -> dict[str, Any]:
        rows = self.db.all("SELECT key, value FROM {s}.daemon_meta WHERE ns=%s", (self.ns,))
        return {k: json.loads(v) for k, v in rows}

    # --- run history -------------------------------------------------------------------------
    def add_history(self, customer: str, entry: dict[str, Any], keep: int = HISTORY_KEPT) -> None:
        with self.db.transaction():
            self.db.write(
                "INSERT INTO {s}.daemon_history (ns, customer, entry) VALUES (%s, %s, %s)",
                (self.ns, customer, json.dumps(entry, sort_keys=True)),
            )
            self.db.write(
                "DELETE FROM {s}.daemon_history WHERE ns=%s AND customer=%s AND id <= "
                "(SELECT id FROM {s}.daemon_history WHERE ns=%s AND customer=%s ORDER BY id DESC "
                "LIMIT 1 OFFSET %s)",
                (self.ns, customer, self.ns, customer, keep),
            )

    def history(self, customer: str, limit: int = HISTORY_KEPT) -> list[dict[str, Any]]:
        rows = self.db.all(
            "SELECT entry FROM {s}.daemon_history WHERE ns=%s AND customer=%s ORDER BY id DESC LIMIT %s",
            (self.ns, customer, limit),
        )
        return [json.loads(r[0]) for r in rows]

    def latest_history(self) -> dict[str, dict[str, Any]]:
        rows = self.db.all(
            "SELECT DISTINCT ON (customer) customer, entry FROM {s}.daemon_history "
            "WHERE ns=%s ORDER BY customer, id DESC",
            (self.ns,),
        )
        return {r[0]: json.loads(r[1]) for r in rows}

    # --- keyed records -----------------------------------------------------------------------
    def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        row = self.db.one(
            "SELECT value FROM {s}.daemon_records WHERE ns=%s AND kind=%s AND key=%s", (self.ns, kind, key)
        )
        return json.loads(row[0]) if row else None

    def put_record(self, kind: str, key: str, value: dict[str, Any] | None) -> None:
        if value is None:
            self.db.write(
                "DELETE FROM {s}.daemon_records WHERE ns=%s AND kind=%s AND key=%s", (self.ns, kind, key)
            )
            return
        self.db.write(
            "INSERT INTO {s}.daemon_records VALUES (%s, %s, %s, %s) ON CONFLICT (ns, kind, key) "
            "DO UPDATE SET value = excluded.value",
            (self.ns, kind, key, json.dumps(value, sort_keys=True)),
        )

    def add_record(self, kind: str, key: str, value: dict[str, Any]) -> bool:
        row = self.db.one(
            "INSERT INTO {s}.daemon_records VALUES (%s, %s, %s, %s) ON CONFLICT (ns, kind, key) DO NOTHING "
            "RETURNING 1",
            (self.ns, kind, key, json.dumps(value, sort_keys=True)),
        )
        return row is not None

    def replace_record(self, kind: str, key: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
        row = self.db.one(
            "UPDATE {s}.daemon_records SET value=%s WHERE ns=%s AND kind=%s AND key=%s AND value=%s "
            "RETURNING 1",
            (json.dumps(new, sort_keys=True), self.ns, kind, key, json.dumps(old, sort_keys=True)),
        )
        return row is not None

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        rows = self.db.all(
            "SELECT key, value FROM {s}.daemon_records WHERE ns=%s AND kind=%s", (self.ns, kind)
        )
        return {k: json.loads(v) for k, v in rows}

    # --- replicas ----------------------------------------------------------------------------
    def beat(self, replica: Replica) -> None:
        self.db.write(
            "INSERT INTO {s}.replicas VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (ns, id) DO UPDATE "
            "SET heartbeat = excluded.heartbeat, current = excluded.current, stopped_at = excluded.stopped_at, "
            "version = excluded.version",
            (self.ns, *replica_row(replica)),
        )

    def replicas(self) -> list[Replica]:
        rows = self.db.all(
            "SELECT id, host, pid, version, started_at, heartbeat, current, stopped_at FROM {s}.replicas "
            "WHERE ns=%s ORDER BY id",
            (self.ns,),
        )
        return [replica_from_row(r) for r in rows]
