"""State: the SQLite schema, as ordered migrations (see migrations.py).

Version 1 is the layout before migrations existed (its statements are
idempotent, so a database from then is recognised as version 1). Version 2
gives the state its lineage (#12) and detached links; version 3 turns locks into
leases with epochs and claim history and adds the daemon replica table; version
4 adds the daemon's run history and keyed records; version 5 record fingerprints;
version 6 the MSP-wide request budget ledger (#16).
"""

from __future__ import annotations

import sqlite3

from reconciler.state.migrations import Migration, pending

_DAEMON_TABLES = (
    """CREATE TABLE IF NOT EXISTS daemon_customers (
                customer TEXT PRIMARY KEY, next_run_at REAL,
                last_started_at REAL, last_finished_at REAL, last_result TEXT NOT NULL DEFAULT '',
                last_message TEXT NOT NULL DEFAULT '', last_success_at REAL,
                last_commit TEXT NOT NULL DEFAULT '', last_config_digest TEXT NOT NULL DEFAULT '',
                changes_applied INTEGER NOT NULL DEFAULT 0, changes_pending INTEGER NOT NULL DEFAULT 0,
                conflicts TEXT NOT NULL DEFAULT '[]',
                failures INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0,
                blocked_reason TEXT NOT NULL DEFAULT '', blocked_since REAL,
                blocked_removals TEXT NOT NULL DEFAULT '[]',
                override_at REAL, override_by TEXT NOT NULL DEFAULT '',
                override_removals TEXT NOT NULL DEFAULT '[]')""",
    "CREATE TABLE IF NOT EXISTS daemon_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "managed state, journal, locks, run history, daemon bookkeeping",
        (
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS serials (customer TEXT PRIMARY KEY, serial INTEGER NOT NULL)",
            """CREATE TABLE IF NOT EXISTS accounts (
                customer TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (customer, key))""",
            """CREATE TABLE IF NOT EXISTS links (
                customer TEXT NOT NULL, account_key TEXT NOT NULL, integration TEXT NOT NULL,
                record_id TEXT NOT NULL, PRIMARY KEY (customer, account_key, integration))""",
            """CREATE TABLE IF NOT EXISTS welcome (
                customer TEXT NOT NULL, account_key TEXT NOT NULL, status TEXT NOT NULL,
                updated_at REAL NOT NULL, PRIMARY KEY (customer, account_key))""",
            """CREATE TABLE IF NOT EXISTS cursors (
                customer TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (customer, name))""",
            """CREATE TABLE IF NOT EXISTS journal (
                id INTEGER PRIMARY KEY AUTOINCREMENT, customer TEXT NOT NULL, op TEXT NOT NULL,
                marker TEXT NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '',
                created_at REAL NOT NULL, updated_at REAL NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS journal_open ON journal (customer, status)",
            """CREATE TABLE IF NOT EXISTS locks (
                customer TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, holder TEXT NOT NULL,
                acquired_at REAL NOT NULL)""",
            """CREATE TABLE IF NOT EXISTS runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT, customer TEXT NOT NULL, started_at REAL NOT NULL,
                finished_at REAL NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS runs_customer ON runs (customer, id)",
            *_DAEMON_TABLES,
        ),
    ),
    Migration(
        2,
        "the state's lineage (#12): a random id our records carry beside their marker; detached links",
        (
            "INSERT OR IGNORE INTO meta VALUES ('lineage', lower(hex(randomblob(16))))",
            """CREATE TABLE IF NOT EXISTS detached (
                customer TEXT NOT NULL, account_key TEXT NOT NULL, integration TEXT NOT NULL,
                record_id TEXT NOT NULL, PRIMARY KEY (customer, account_key, integration))""",
        ),
    ),
    Migration(
        3,
        "leases with epochs and claim history; daemon replicas",
        (
            """CREATE TABLE leases (
                customer TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, holder TEXT NOT NULL,
                acquired_at REAL NOT NULL, renewed_at REAL NOT NULL, expires_at REAL NOT NULL,
                epoch INTEGER NOT NULL)""",
            """INSERT INTO leases SELECT customer, pid, host, holder, acquired_at, acquired_at,
                acquired_at + 60, 1 FROM locks""",
            "DROP TABLE locks",
            """CREATE TABLE lease_claims (
                customer TEXT NOT NULL, epoch INTEGER NOT NULL, holder TEXT NOT NULL, host TEXT NOT NULL,
                pid INTEGER NOT NULL, acquired_at REAL NOT NULL, last_write_at REAL, released_at REAL,
                PRIMARY KEY (customer, epoch))""",
            *_DAEMON_TABLES,  # a version-1 file written before the daemon ran has none
            """CREATE TABLE replicas (
                id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, version TEXT NOT NULL,
                started_at REAL NOT NULL, heartbeat REAL NOT NULL, current TEXT NOT NULL DEFAULT '[]',
                stopped_at REAL)""",
        ),
    ),
    Migration(
        4,
        "daemon run history and keyed records (last plans, sessions, notifications)",
        (
            """CREATE TABLE IF NOT EXISTS daemon_history (
                id INTEGER PRIMARY KEY AUTOINCREMENT, customer TEXT NOT NULL, entry TEXT NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS daemon_history_customer ON daemon_history (customer, id)",
            """CREATE TABLE IF NOT EXISTS daemon_records (
                kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key))""",
        ),
    ),
    Migration(
        5,
        "record fingerprints (R25: what was last written to each linked record)",
        (
            """CREATE TABLE IF NOT EXISTS fingerprints (
                customer TEXT NOT NULL, account_key TEXT NOT NULL, integration TEXT NOT NULL,
                fingerprint TEXT NOT NULL, PRIMARY KEY (customer, account_key, integration))""",
        ),
    ),
    Migration(
        6,
        "request budget ledger (#16): requests per integration and time slot, shared by every process",
        (
            """CREATE TABLE IF NOT EXISTS budget_ledger (
                ns TEXT NOT NULL, budget TEXT NOT NULL, slot_start REAL NOT NULL, used INTEGER NOT NULL,
                PRIMARY KEY (ns, budget, slot_start))""",
        ),
    ),
)


def migrate(db: sqlite3.Connection, where: str) -> None:
    """Bring `db` (autocommit mode) to the latest schema, one transaction per step."""
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        current = int(row[0]) if row else 0
        todo = pending(MIGRATIONS, current, where)
    finally:
        db.execute("COMMIT")
    for migration in todo:
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is not None and int(row[0]) >= migration.version:  # another process got here first
                db.execute("COMMIT")
                continue
            for statement in migration.statements:
                db.execute(statement)
            db.execute(
                "INSERT INTO meta VALUES ('schema', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (str(migration.version),),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
