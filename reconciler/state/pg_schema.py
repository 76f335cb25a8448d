"""State: the PostgreSQL schema, as ordered migrations (see migrations.py).

The same tables as the SQLite schema at its latest version, each keyed by the
state namespace first (`ns`), so config repositories sharing one database
never see or lock each other's rows. Times are seconds since the epoch, as in
SQLite, so `state migrate` and `state backup` copy them unchanged. `{s}` is
the configured schema, quoted.
"""

from __future__ import annotations

from reconciler.state.migrations import Migration

_T = "DOUBLE PRECISION"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "managed state, journal, leases and claims, run history, daemon bookkeeping and replicas",
        (
            "CREATE TABLE {s}.serials (ns TEXT NOT NULL, customer TEXT NOT NULL, serial BIGINT NOT NULL, "
            "PRIMARY KEY (ns, customer))",
            "CREATE TABLE {s}.accounts (ns TEXT NOT NULL, customer TEXT NOT NULL, key TEXT NOT NULL, "
            "data TEXT NOT NULL, PRIMARY KEY (ns, customer, key))",
            "CREATE TABLE {s}.links (ns TEXT NOT NULL, customer TEXT NOT NULL, account_key TEXT NOT NULL, "
            "integration TEXT NOT NULL, record_id TEXT NOT NULL, "
            "PRIMARY KEY (ns, customer, account_key, integration))",
            "CREATE TABLE {s}.welcome (ns TEXT NOT NULL, customer TEXT NOT NULL, account_key TEXT NOT NULL, "
            f"status TEXT NOT NULL, updated_at {_T} NOT NULL, PRIMARY KEY (ns, customer, account_key))",
            "CREATE TABLE {s}.cursors (ns TEXT NOT NULL, customer TEXT NOT NULL, name TEXT NOT NULL, "
            "value TEXT NOT NULL, PRIMARY KEY (ns, customer, name))",
            "CREATE TABLE {s}.journal (id BIGSERIAL PRIMARY KEY, ns TEXT NOT NULL, customer TEXT NOT NULL, "
            "op TEXT NOT NULL, marker TEXT NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', "
            f"created_at {_T} NOT NULL, updated_at {_T} NOT NULL)",
            "CREATE INDEX journal_open ON {s}.journal (ns, customer, status)",
            "CREATE TABLE {s}.leases (ns TEXT NOT NULL, customer TEXT NOT NULL, pid INTEGER NOT NULL, "
            f"host TEXT NOT NULL, holder TEXT NOT NULL, acquired_at {_T} NOT NULL, renewed_at {_T} NOT NULL, "
            f"expires_at {_T} NOT NULL, epoch BIGINT NOT NULL, PRIMARY KEY (ns, customer))",
            "CREATE TABLE {s}.lease_claims (ns TEXT NOT NULL, customer TEXT NOT NULL, epoch BIGINT NOT NULL, "
            f"holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, acquired_at {_T} NOT NULL, "
            f"last_write_at {_T}, released_at {_T}, PRIMARY KEY (ns, customer, epoch))",
            "CREATE TABLE {s}.runs (id BIGSERIAL PRIMARY KEY, ns TEXT NOT NULL, customer TEXT NOT NULL, "
            f"started_at {_T} NOT NULL, finished_at {_T} NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL)",
            "CREATE INDEX runs_customer ON {s}.runs (ns, customer, id)",
            "CREATE TABLE {s}.daemon_customers (ns TEXT NOT NULL, customer TEXT NOT NULL, "
            f"next_run_at {_T}, last_started_at {_T}, last_finished_at {_T}, "
            "last_result TEXT NOT NULL DEFAULT '', last_message TEXT NOT NULL DEFAULT '', "
            f"last_success_at {_T}, last_commit TEXT NOT NULL DEFAULT '', "
            "last_config_digest TEXT NOT NULL DEFAULT '', changes_applied INTEGER NOT NULL DEFAULT 0, "
            "changes_pending INTEGER NOT NULL DEFAULT 0, conflicts TEXT NOT NULL DEFAULT '[]', "
            "failures INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0, "
            f"blocked_reason TEXT NOT NULL DEFAULT '', blocked_since {_T}, "
            f"blocked_removals TEXT NOT NULL DEFAULT '[]', override_at {_T}, "
            "override_by TEXT NOT NULL DEFAULT '', override_removals TEXT NOT NULL DEFAULT '[]', "
            "PRIMARY KEY (ns, customer))",
            "CREATE INDEX daemon_due ON {s}.daemon_customers (ns, next_run_at)",
            "CREATE TABLE {s}.daemon_meta (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
            "PRIMARY KEY (ns, key))",
            "CREATE TABLE {s}.replicas (ns TEXT NOT NULL, id TEXT NOT NULL, host TEXT NOT NULL, "
            f"pid INTEGER NOT NULL, version TEXT NOT NULL, started_at {_T} NOT NULL, heartbeat {_T} NOT NULL, "
            f"current TEXT NOT NULL DEFAULT '[]', stopped_at {_T}, PRIMARY KEY (ns, id))",
        ),
    ),
    Migration(
        2,
        "daemon run history and keyed records (last plans, sessions, notifications)",
        (
            "CREATE TABLE {s}.daemon_history (id BIGSERIAL PRIMARY KEY, ns TEXT NOT NULL, "
            "customer TEXT NOT NULL, entry TEXT NOT NULL)",
            "CREATE INDEX daemon_history_customer ON {s}.daemon_history (ns, customer, id)",
            "CREATE TABLE {s}.daemon_records (ns TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, "
            "value TEXT NOT NULL, PRIMARY KEY (ns, kind, key))",
        ),
    ),
    Migration(
        3,
        "the state's lineage per namespace (#12), adopted lineages, detached links",
        (
            "CREATE TABLE {s}.meta (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
            "PRIMARY KEY (ns, key))",
            "CREATE TABLE {s}.detached (ns TEXT NOT NULL, customer TEXT NOT NULL, account_key TEXT NOT NULL, "
            "integration TEXT NOT NULL, record_id TEXT NOT NULL, PRIMARY KEY (ns, customer, account_key, integration))",
        ),
    ),
    Migration(
        4,
        "record fingerprints (R25)",
        (
            "CREATE TABLE {s}.fingerprints (ns TEXT NOT NULL, customer TEXT NOT NULL, account_key TEXT NOT NULL, "
            "integration TEXT NOT NULL, fingerprint TEXT NOT NULL, "
            "PRIMARY KEY (ns, customer, account_key, integration))",
        ),
    ),
    Migration(
        5,
        "request budget ledger (#16): requests per integration and time slot, shared by every replica",
        (
            f"CREATE TABLE {{s}}.budget_ledger (ns TEXT NOT NULL, budget TEXT NOT NULL, slot_start {_T} NOT NULL, "
            "used BIGINT NOT NULL, PRIMARY KEY (ns, budget, slot_start))",
        ),
    ),
)
