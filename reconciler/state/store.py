"""State: the embedded SQLite store of what reconciler manages.

Per customer: a serial (bumped by every committed batch), the managed accounts,
their links to integration records, welcome-email records (R16), provider
cursors (delta links, USNs), an apply journal, a lock, and run history (R19).
`SqliteStore` is the embedded implementation of `state.api.StateStore`.

Threads: one connection is shared by the engine's (and the daemon's) worker
threads, so every statement runs under one mutex and its rows are fetched
before the mutex is released. A statement left stepping outside it would let
another thread read a batch that is not committed, and would pin an old WAL
snapshot under the next thread's `BEGIN IMMEDIATE`, which SQLite then refuses
at once ("database is locked") whenever another connection wrote meanwhile.

Locks: one row per customer holding pid, host and time. A second holder fails
at once naming the first; a lock whose process is gone is reported as stale and
is only broken explicitly (`reconciler state unlock`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.core.model import Account, IntegrationKind, Link, ManagedState, WelcomeStatus
from reconciler.errors import LockHeldError, StateError
from reconciler.state.api import JournalEntry, LockInfo, RunRow

log = logging.getLogger("reconciler.state")

SCHEMA_VERSION = 2  # 2: a lineage id in meta (#12), adopted lineages per customer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS serials (customer TEXT PRIMARY KEY, serial INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    customer TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (customer, key));
CREATE TABLE IF NOT EXISTS links (
    customer TEXT NOT NULL, account_key TEXT NOT NULL, integration TEXT NOT NULL,
    record_id TEXT NOT NULL, PRIMARY KEY (customer, account_key, integration));
CREATE TABLE IF NOT EXISTS welcome (
    customer TEXT NOT NULL, account_key TEXT NOT NULL, status TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (customer, account_key));
CREATE TABLE IF NOT EXISTS cursors (
    customer TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (customer, name));
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, customer TEXT NOT NULL, op TEXT NOT NULL, marker TEXT NOT NULL,
    status TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS journal_open ON journal (customer, status);
CREATE TABLE IF NOT EXISTS locks (
    customer TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, holder TEXT NOT NULL,
    acquired_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, customer TEXT NOT NULL, started_at REAL NOT NULL,
    finished_at REAL NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_customer ON runs (customer, id);
CREATE TABLE IF NOT EXISTS fingerprints (
    customer TEXT NOT NULL, account_key TEXT NOT NULL, integration TEXT NOT NULL,
    fingerprint TEXT NOT NULL, PRIMARY KEY (customer, account_key, integration));
CREATE TABLE IF NOT EXISTS detached (
    customer TEXT NOT NULL, account_key TEXT NOT NULL, integration TEXT NOT NULL,
    record_id TEXT NOT NULL, PRIMARY KEY (customer, account_key, integration));
"""


class SqliteStore:
    """`StateStore` on SQLite in WAL mode; every write method runs inside `batch()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise StateError(
                f"{path}: cannot open the state database ({exc}); restore it from a backup "
                "or move it aside to start from empty state"
            ) from None
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise StateError(f"{path}: state schema {row[0]} is newer than this reconciler understands")
        self._migrate(None if row is None else int(row[0]))
        self._in_tx = False
        self._mutex = threading.RLock()  # one connection shared by threads: see the module doc

    def _migrate(self, version: int | None) -> None:
        """1 -> 2: the state gets its lineage, a random id that records we create carry
        beside their marker, so a state that did not create them is told apart (#12)."""
        lineage = self._db.execute("SELECT value FROM meta WHERE key='lineage'").fetchone()
        if lineage is None:
            new = uuid.uuid4().hex
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('lineage', ?)", (new,))
            if version is None:
                log.info("%s: new state database (lineage %s)", self.path, new)
        self._db.execute(
            "INSERT INTO meta VALUES ('schema', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (str(SCHEMA_VERSION),),
        )
        row = self._db.execute("SELECT value FROM meta WHERE key='lineage'").fetchone()
        self._lineage = str(row[0])

    def lineage(self) -> str:
        """The state's identity (#12); it never changes once created."""
        return self._lineage

    def adopted_lineages(self, customer: str) -> frozenset[str]:
        row = self._one("SELECT value FROM meta WHERE key=?", (f"adopted-lineages:{customer}",))
        return frozenset(json.loads(row[0])) if row else frozenset()

    def adopt_lineages(self, customer: str, lineages: frozenset[str]) -> None:
        """Accept records of other lineages for `customer` (`state rebuild`; inside batch())."""
        merged = sorted(self.adopted_lineages(customer) | (lineages - {self._lineage}))
        self._run(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (f"adopted-lineages:{customer}", json.dumps(merged)),
        )

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run one statement to completion under the mutex."""
        with self._mutex:
            return self._db.execute(sql, params).fetchall()

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """A write (inside `batch()`, whose mutex this re-enters)."""
        with self._mutex:
            return self._db.execute(sql, params)

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    @contextmanager
    def batch(self, durable: bool = False) -> Iterator[None]:
        """One transaction: everything inside commits together or not at all.

        `durable` commits with synchronous=FULL (the WAL is fsynced before COMMIT
        returns), for records a power loss must not take back: a welcome email's
        `pending` and `sent` (R16). Other commits keep NORMAL (durable at the next
        checkpoint), which is what keeps a 100k-account apply fast."""
        with self._mutex:
            if self._in_tx:
                yield
                return
            if durable:
                self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("BEGIN IMMEDIATE")
            self._in_tx = True
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._in_tx = False
                if durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")

    # --- reading -----------------------------------------------------------------------
    def serial(self, customer: str) -> int:
        row = self._one("SELECT serial FROM serials WHERE customer=?", (customer,))
        return int(row[0]) if row else 0

    def count_accounts(self, customer: str) -> int:
        row = self._one("SELECT count(*) FROM accounts WHERE customer=?", (customer,))
        return int(row[0])

    def load(self, customer: str) -> ManagedState:
        with self._mutex:
            return self._load(customer)

    def _load(self, customer: str) -> ManagedState:
        accounts = {
            key: Account.from_dict(json.loads(data))
            for key, data in self._all("SELECT key, data FROM accounts WHERE customer=?", (customer,))
        }
        links = {
            (key, IntegrationKind(kind)): Link(key, IntegrationKind(kind), rid)
            for key, kind, rid in self._all(
                "SELECT account_key, integration, record_id FROM links WHERE customer=?", (customer,)
            )
        }
        welcome = {
            key: WelcomeStatus(status)
            for key, status in self._all(
                "SELECT account_key, status FROM welcome WHERE customer=?", (customer,)
            )
        }
        detached = {
            (key, IntegrationKind(kind)): rid
            for key, kind, rid in self._all(
                "SELECT account_key, integration, record_id FROM detached WHERE customer=?", (customer,)
            )
        }
        fingerprints = {
            (key, IntegrationKind(kind)): fp
            for key, kind, fp in self._all(
                "SELECT account_key, integration, fingerprint FROM fingerprints WHERE customer=?", (customer,)
            )
        }
        return ManagedState(
            self.serial(customer),
            accounts,
            links,
            welcome,
            self._lineage,
            self.adopted_lineages(customer),
            detached,
            fingerprints,
        )

    def customers(self) -> list[str]:
        rows = self._all("SELECT customer FROM serials UNION SELECT customer FROM accounts ORDER BY 1")
        return [r[0] for r in rows]

    # --- writing (call inside batch()) ------------------------------------------------------
    def bump_serial(self, customer: str) -> int:
        new = self.serial(customer) + 1
        self._run(
            "INSERT INTO serials VALUES (?, ?) ON CONFLICT(customer) DO UPDATE SET serial=excluded.serial",
            (customer, new),
        )
        return new

    def put_account(self, customer: str, account: Account) -> None:
        self._run(
            "INSERT INTO accounts VALUES (?, ?, ?) ON CONFLICT(customer, key) DO UPDATE SET data=excluded.data",
            (customer, account.key, json.dumps(account.to_dict(), sort_keys=True)),
        )

    def remove_account(self, customer: str, key: str) -> None:
        """Forget an account and its links; the integration records themselves are kept,
        and so is its welcome record (R16: a returning account is not welcomed twice)."""
        for table, col in (("accounts", "key"), ("links", "account_key"), ("fingerprints", "account_key")):
            self._run(f"DELETE FROM {table} WHERE customer=? AND {col}=?", (customer, key))  # noqa: S608

    def move_account(self, customer: str, old_key: str, account: Account) -> None:
        """A class change (end user <-> admin): the account takes its new key with its
        links and welcome record, so nothing is created or welcomed again."""
        new_key = account.key
        self._run("DELETE FROM accounts WHERE customer=? AND key=?", (customer, old_key))
        self.put_account(customer, account)
        self._run(
            "UPDATE OR REPLACE links SET account_key=? WHERE customer=? AND account_key=?",
            (new_key, customer, old_key),
        )
        if self._one("SELECT 1 FROM welcome WHERE customer=? AND account_key=?", (customer, new_key)) is None:
            self._run(
                "UPDATE welcome SET account_key=? WHERE customer=? AND account_key=?",
                (new_key, customer, old_key),
            )

    def put_link(self, customer: str, link: Link) -> None:
        self._run(
            "INSERT INTO links VALUES (?, ?, ?, ?) ON CONFLICT(customer, account_key, integration) "
            "DO UPDATE SET record_id=excluded.record_id",
            (customer, link.account_key, link.integration.value, link.record_id),
        )

    def set_welcome(self, customer: str, key: str, status: WelcomeStatus) -> None:
        self._run(
            "INSERT INTO welcome VALUES (?, ?, ?, ?) ON CONFLICT(customer, account_key) "
            "DO UPDATE SET status=excluded.status, updated_at=excluded.updated_at",
            (customer, key, status.value, time.time()),
        )

    def remove_link(self, customer: str, key: str, integration: IntegrationKind) -> None:
        for table in ("links", "fingerprints"):
            self._run(
                f"DELETE FROM {table} WHERE customer=? AND account_key=? AND integration=?",  # noqa: S608
                (customer, key, integration.value),
            )

    def put_fingerprint(
        self, customer: str, key: str, integration: IntegrationKind, fingerprint: str
    ) -> None:
        self._run(
            "INSERT INTO fingerprints VALUES (?, ?, ?, ?) ON CONFLICT(customer, account_key, integration) "
            "DO UPDATE SET fingerprint=excluded.fingerprint",
            (customer, key, integration.value, fingerprint),
        )

    def forget_welcome(self, customer: str, key: str) -> None:
        self._run("DELETE FROM welcome WHERE customer=? AND account_key=?", (customer, key))

    def set_detached(
        self, customer: str, key: str, integration: IntegrationKind, record_id: str | None
    ) -> None:
        """`state rm` of a link: the record is not linked again (by marker or match) until
        `state import`; None lifts that."""
        if record_id is None:
            self._run(
                "DELETE FROM detached WHERE customer=? AND account_key=? AND integration=?",
                (customer, key, integration.value),
            )
            return
        self._run(
            "INSERT INTO detached VALUES (?, ?, ?, ?) ON CONFLICT(customer, account_key, integration) "
            "DO UPDATE SET record_id=excluded.record_id",
            (customer, key, integration.value, record_id),
        )

    # --- cursors (provider memory; each put commits on its own) -------------------------------
    def get_cursor(self, customer: str, name: str) -> str | None:
        row = self._one("SELECT value FROM cursors WHERE customer=? AND name=?", (customer, name))
        return str(row[0]) if row else None

    def put_cursor(self, customer: str, name: str, value: str | None) -> None:
        with self.batch():
            if value is None:
                self._run("DELETE FROM cursors WHERE customer=? AND name=?", (customer, name))
            else:
                self._run(
                    "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT(customer, name) DO UPDATE SET value=excluded.value",
                    (customer, name, value),
                )

    # --- journal ---------------------------------------------------------------------------
    def journal_open(self, customer: str, op: str, marker: str) -> int:
        """Record the intent of an external create before doing it (commits at once)."""
        now = time.time()
        with self.batch():
            cur = self._run(
                "INSERT INTO journal (customer, op, marker, status, created_at, updated_at) VALUES (?, ?, ?, 'open', ?, ?)",
                (customer, op, marker, now, now),
            )
        return int(cur.lastrowid or 0)

    def journal_close(self, entry_id: int, status: str, detail: str = "") -> None:
        self._run(
            "UPDATE journal SET status=?, detail=?, updated_at=? WHERE id=?",
            (status, detail, time.time(), entry_id),
        )

    def journal_pending(self, customer: str) -> list[JournalEntry]:
        rows = self._all(
            "SELECT id, customer, op, marker, status, detail FROM journal WHERE customer=? AND status='open' ORDER BY id",
            (customer,),
        )
        return [JournalEntry(*r) for r in rows]

    # --- locks -----------------------------------------------------------------------------
    def lock(self, customer: str, holder: str) -> None:
        now = time.time()
        with self.batch():
            existing = self._lock_row(customer)
            if existing is not None:
                stale = (
                    ""
                    if existing.alive
                    else " (its process is gone: break it with `reconciler state unlock`)"
                )
                raise LockHeldError(
                    f"{customer}: locked by {existing.describe(now)}{stale}; another apply is running or crashed"
                )
            self._run(
                "INSERT INTO locks VALUES (?, ?, ?, ?, ?)",
                (customer, os.getpid(), socket.gethostname(), holder, now),
            )

    def unlock(self, customer: str) -> None:
        with self.batch():
            self._run(
                "DELETE FROM locks WHERE customer=? AND pid=? AND host=?",
                (customer, os.getpid(), socket.gethostname()),
            )

    def break_lock(self, customer: str, force: bool = False) -> LockInfo | None:
        with self.batch():
            existing = self._lock_row(customer)
            if existing is None:
                return None
            if existing.alive and not force:
                raise LockHeldError(
                    f"{customer}: lock holder {existing.describe(time.time())} is still running; use --force to break it anyway"
                )
            self._run("DELETE FROM locks WHERE customer=?", (customer,))
            return existing

    def locks(self) -> list[LockInfo]:
        return [LockInfo(*r) for r in self._all("SELECT * FROM locks ORDER BY customer")]

    def _lock_row(self, customer: str) -> LockInfo | None:
        row = self._one("SELECT * FROM locks WHERE customer=?", (customer,))
        return LockInfo(*row) if row else None

    # --- run history (R19) -------------------------------------------------------------------
    def record_run(self, customer: str, started: float, result: str, detail: dict[str, Any]) -> None:
        with self.batch():
            self._run(
                "INSERT INTO runs (customer, started_at, finished_at, result, detail) VALUES (?, ?, ?, ?, ?)",
                (customer, started, time.time(), result, json.dumps(detail, sort_keys=True)),
            )

    def last_run(self, customer: str) -> RunRow | None:
        row = self._one(
            "SELECT started_at, finished_at, result, detail FROM runs WHERE customer=? ORDER BY id DESC LIMIT 1",
            (customer,),
        )
        return (row[0], row[1], row[2], json.loads(row[3])) if row else None
