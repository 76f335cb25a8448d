"""State: the embedded SQLite store of what reconciler manages.

Per customer: a serial (bumped by every committed batch), the managed accounts,
their links to integration records, welcome-email records (R16), provider
cursors (delta links, USNs), an apply journal, a lease, and run history (R19).
`SqliteStore` is the embedded implementation of `state.api.StateStore`.

Threads: one connection is shared by the engine's (and the daemon's) worker
threads, so every statement runs under one mutex and its rows are fetched
before the mutex is released. A statement left stepping outside it would let
another thread read a batch that is not committed, and would pin an old WAL
snapshot under the next thread's `BEGIN IMMEDIATE`, which SQLite then refuses
at once ("database is locked") whenever another connection wrote meanwhile.

Leases: one row per customer holding pid, host, times and an epoch (api.Lease).
A second holder fails at once naming the first. A lease expires unless renewed,
and is then taken over (epoch + 1); on this one machine a lease whose process
is gone is taken over at once. Fenced batches (`batch(fence=lease)`) check the
epoch inside the `BEGIN IMMEDIATE` transaction that commits them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.core.model import Account, IntegrationKind, Link, ManagedState, WelcomeStatus
from reconciler.errors import LeaseLostError, LockHeldError, StateError
from reconciler.state.api import Claim, JournalEntry, Lease, RunRow
from reconciler.state.leasetext import held_message, lost_message
from reconciler.state.sqlite_schema import migrate

_ACCOUNT_JSON = json.JSONEncoder(
    sort_keys=True
).encode  # one encoder for every row (json.dumps makes one per call)

log = logging.getLogger("reconciler.state")


class SqliteStore:
    """`StateStore` on SQLite in WAL mode; every write method runs inside `batch()`."""

    def __init__(self, path: Path, lease_seconds: float = 60.0) -> None:
        self.path = path
        self.lease_seconds = lease_seconds
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            migrate(self._db, str(path))
            row = self._db.execute("SELECT value FROM meta WHERE key='lineage'").fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise StateError(
                f"{path}: cannot open the state database ({exc}); restore it from a backup "
                "or move it aside to start from empty state"
            ) from None
        self._lineage = str(row[0])  # written once, by migration 2 (#12)
        self._in_tx = False
        self._mutex = threading.RLock()  # one connection shared by threads: see the module doc

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

    def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """One write for many rows (inside `batch()`): one statement, stepped per row in C."""
        with self._mutex:
            self._db.executemany(sql, rows)

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    @contextmanager
    def batch(self, fence: Lease | None = None, durable: bool = False) -> Iterator[None]:
        """One transaction: everything inside commits together or not at all; with
        `fence`, only while that lease's epoch is still the customer's.

        `durable` commits with synchronous=FULL (the WAL is fsynced before COMMIT
        returns), for records a power loss must not take back: a welcome email's
        `pending` and `sent` (R16). Other commits keep NORMAL (durable at the next
        checkpoint), which is what keeps a 100k-account apply fast."""
        with self._mutex:
            if self._in_tx:
                if fence is not None:
                    self._check_fence(fence)
                yield
                return
            if durable:
                self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("BEGIN IMMEDIATE")
            self._in_tx = True
            try:
                if fence is not None:
                    self._check_fence(fence)
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
        self.put_accounts(customer, (account,))

    def put_accounts(self, customer: str, accounts: Sequence[Account]) -> None:
        self._many(
            "INSERT INTO accounts VALUES (?, ?, ?) ON CONFLICT(customer, key) DO UPDATE SET data=excluded.data",
            [(customer, a.key, _ACCOUNT_JSON(a.to_dict())) for a in accounts],
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
        for table in ("links", "fingerprints", "detached"):  # per integration: the moved ones win
            self._run(
                f"UPDATE OR REPLACE {table} SET account_key=? WHERE customer=? AND account_key=?",  # noqa: S608
                (new_key, customer, old_key),
            )
        if self._one("SELECT 1 FROM welcome WHERE customer=? AND account_key=?", (customer, new_key)) is None:
            self._run(
                "UPDATE welcome SET account_key=? WHERE customer=? AND account_key=?",
                (new_key, customer, old_key),
            )

    def put_link(self, customer: str, link: Link) -> None:
        self.put_links(customer, (link,))

    def put_links(self, customer: str, links: Sequence[Link]) -> None:
        self._many(
            "INSERT INTO links VALUES (?, ?, ?, ?) ON CONFLICT(customer, account_key, integration) "
            "DO UPDATE SET record_id=excluded.record_id",
            [(customer, link.account_key, link.integration.value, link.record_id) for link in links],
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
        self.put_fingerprints(customer, ((key, integration, fingerprint),))

    def put_fingerprints(self, customer: str, rows: Sequence[tuple[str, IntegrationKind, str]]) -> None:
        self._many(
            "INSERT INTO fingerprints VALUES (?, ?, ?, ?) ON CONFLICT(customer, account_key, integration) "
            "DO UPDATE SET fingerprint=excluded.fingerprint",
            [(customer, key, kind.value, fp) for key, kind, fp in rows],
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
    def journal_open(self, customer: str, op: str, marker: str, fence: Lease | None = None) -> int:
        """Record the intent of an external create before doing it (commits at once)."""
        now = time.time()
        with self.batch(fence):
            cur = self._run(
                "INSERT INTO journal (customer, op, marker, status, created_at, updated_at) VALUES (?, ?, ?, 'open', ?, ?)",
                (customer, op, marker, now, now),
            )
        return int(cur.lastrowid or 0)

    def journal_open_many(
        self, customer: str, intents: Sequence[tuple[str, str]], fence: Lease | None = None
    ) -> list[int]:
        """Many intents in one statement. The ids are given here, inside the write
        transaction (no other writer until it commits), after any id ever used."""
        now = time.time()
        with self.batch(fence):
            row = self._one(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name='journal'), 0), "
                "coalesce((SELECT max(id) FROM journal), 0))"
            )
            first = int(row[0]) + 1
            ids = list(range(first, first + len(intents)))
            self._many(
                "INSERT INTO journal (id, customer, op, marker, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'open', ?, ?)",
                [(i, customer, op, marker, now, now) for i, (op, marker) in zip(ids, intents, strict=True)],
            )
        return ids

    def journal_close(self, entry_id: int, status: str, detail: str = "") -> None:
        self.journal_close_many(((entry_id, status, detail),))

    def journal_close_many(self, closes: Sequence[tuple[int, str, str]]) -> None:
        now = time.time()
        self._many(
            "UPDATE journal SET status=?, detail=?, updated_at=? WHERE id=?",
            [(status, detail, now, entry_id) for entry_id, status, detail in closes],
        )

    def journal_pending(self, customer: str) -> list[JournalEntry]:
        rows = self._all(
            "SELECT id, customer, op, marker, status, detail FROM journal WHERE customer=? AND status='open' ORDER BY id",
            (customer,),
        )
        return [JournalEntry(*r) for r in rows]

    # --- leases ----------------------------------------------------------------------------
    def lock(self, customer: str, holder: str) -> Lease:
        with self.batch():
            now = time.time()
            current = self._lease_row(customer)
            if current is not None and current.holder:
                gone = not current.alive  # one machine: a missing pid is certainly gone
                if current.expires_at > now and not gone:
                    raise LockHeldError(held_message(customer, current, now, False))
            lease = Lease(
                customer, os.getpid(), socket.gethostname(), holder, now, now, now + self.lease_seconds,
                (current.epoch if current else 0) + 1,
            )  # fmt: skip
            self._run(
                "INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(customer) DO UPDATE SET "
                "pid=excluded.pid, host=excluded.host, holder=excluded.holder, acquired_at=excluded.acquired_at, "
                "renewed_at=excluded.renewed_at, expires_at=excluded.expires_at, epoch=excluded.epoch",
                (customer, lease.pid, lease.host, holder, now, now, lease.expires_at, lease.epoch),
            )
            self._run(
                "INSERT OR REPLACE INTO lease_claims VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                (customer, lease.epoch, holder, lease.host, lease.pid, now),
            )
        return lease

    def renew(self, lease: Lease) -> Lease:
        with self.batch():
            self._check_fence(lease, write=False)
            now = time.time()
            self._run(
                "UPDATE leases SET renewed_at=?, expires_at=? WHERE customer=? AND epoch=?",
                (now, now + self.lease_seconds, lease.customer, lease.epoch),
            )
        return Lease(
            lease.customer, lease.pid, lease.host, lease.holder, lease.acquired_at, now,
            now + self.lease_seconds, lease.epoch,
        )  # fmt: skip

    def release(self, lease: Lease) -> None:
        with self.batch():
            self._release("customer=? AND epoch=?", (lease.customer, lease.epoch))

    def unlock(self, customer: str) -> None:
        with self.batch():
            self._release("customer=? AND pid=? AND host=?", (customer, os.getpid(), socket.gethostname()))

    def _release(self, where: str, params: tuple[Any, ...]) -> None:
        now = time.time()
        rows = self._all(f"SELECT customer, epoch FROM leases WHERE holder<>'' AND {where}", params)  # noqa: S608
        for customer, epoch in rows:
            self._run(
                "UPDATE leases SET holder='', pid=0, host='', expires_at=? WHERE customer=? AND epoch=?",
                (now, customer, epoch),
            )
            self._run(
                "UPDATE lease_claims SET released_at=? WHERE customer=? AND epoch=?", (now, customer, epoch)
            )

    def break_lock(self, customer: str, force: bool = False) -> Lease | None:
        """Break a lease: its holder, if it still runs, can no longer commit (epoch + 1)."""
        with self.batch():
            now = time.time()
            current = self._lease_row(customer)
            if current is None or not current.holder:
                return None
            if current.alive and current.expires_at > now and not force:
                raise LockHeldError(
                    f"{customer}: lock holder {current.describe(now)} is still running; "
                    "use --force to break it anyway"
                )
            self._run(
                "UPDATE leases SET holder='', pid=0, host='', expires_at=?, epoch=epoch+1 WHERE customer=?",
                (now, customer),
            )
            return current

    def locks(self) -> list[Lease]:
        rows = self._all("SELECT * FROM leases WHERE holder<>'' AND customer NOT LIKE '@%' ORDER BY customer")
        return [Lease(*r) for r in rows]

    def lease_of(self, name: str) -> Lease | None:
        current = self._lease_row(name)
        return current if current is not None and current.holder else None

    def claim_due(self, candidates: Sequence[str], now: float, limit: int, holder: str) -> list[Lease]:
        """One transaction: SQLite has one writer, so nothing else can claim meanwhile."""
        out: list[Lease] = []
        with self.batch():
            for name in candidates:
                if len(out) >= limit:
                    break
                row = self._one("SELECT next_run_at FROM daemon_customers WHERE customer=?", (name,))
                if row is not None and row[0] is not None and row[0] > now:
                    continue  # another run moved it on since the caller read the schedule
                try:
                    out.append(self.lock(name, holder))
                except LockHeldError:
                    continue
        return out

    def claims(self, customer: str) -> list[Claim]:
        rows = self._all("SELECT * FROM lease_claims WHERE customer=? ORDER BY epoch", (customer,))
        return [Claim(*r) for r in rows]

    def _lease_row(self, customer: str) -> Lease | None:
        row = self._one("SELECT * FROM leases WHERE customer=?", (customer,))
        return Lease(*row) if row else None

    def _check_fence(self, lease: Lease, write: bool = True) -> None:
        """Inside the transaction: refuse when `lease` is no longer the current epoch."""
        current = self._lease_row(lease.customer)
        if current is None or current.epoch != lease.epoch or not current.holder:
            raise LeaseLostError(lost_message(lease.customer, lease.epoch, current, time.time()))
        if write:
            self._run(
                "UPDATE lease_claims SET last_write_at=? WHERE customer=? AND epoch=?",
                (time.time(), lease.customer, lease.epoch),
            )

    # --- run history (R19) -------------------------------------------------------------------
    def record_run(self, customer: str, started: float, result: str, detail: dict[str, Any]) -> None:
        with self.batch():
            self._run(
                "INSERT INTO runs (customer, started_at, finished_at, result, detail) VALUES (?, ?, ?, ?, ?)",
                (customer, started, time.time(), result, json.dumps(detail, sort_keys=True)),
            )

    def prune_runs(self, keep: int) -> int:
        with self.batch():
            cur = self._run(
                "DELETE FROM runs WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER "
                "(PARTITION BY customer ORDER BY id DESC) AS n FROM runs) WHERE n > ?)",
                (keep,),
            )
        return int(cur.rowcount)

    def last_run(self, customer: str) -> RunRow | None:
        row = self._one(
            "SELECT started_at, finished_at, result, detail FROM runs WHERE customer=? ORDER BY id DESC LIMIT 1",
            (customer,),
        )
        return (row[0], row[1], row[2], json.loads(row[3])) if row else None

    def last_runs(self) -> dict[str, RunRow]:
        rows = self._all(
            "SELECT customer, started_at, finished_at, result, detail FROM runs "
            "WHERE id IN (SELECT max(id) FROM runs GROUP BY customer)"
        )
        return {r[0]: (r[1], r[2], r[3], json.loads(r[4])) for r in rows}

    # --- copying (state migrate, backup, restore: see transfer.py) ---------------------------
    def dump_table(self, table: str, columns: tuple[str, ...], by_id: bool) -> list[tuple[Any, ...]]:
        order = " ORDER BY id" if by_id else ""
        where = " WHERE key <> 'schema'" if table == "meta" else ""
        return [tuple(r) for r in self._all(f"SELECT {', '.join(columns)} FROM {table}{where}{order}")]  # noqa: S608

    def load_tables(
        self, data: dict[str, list[tuple[Any, ...]]], columns: dict[str, tuple[str, ...]]
    ) -> None:
        with self.batch(), self._mutex:
            for table, rows in data.items():
                cols = columns[table]
                verb = "INSERT OR REPLACE" if table == "meta" else "INSERT"
                self._db.executemany(
                    f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    rows,
                )
            row = self._db.execute("SELECT value FROM meta WHERE key='lineage'").fetchone()
            self._lineage = str(row[0])

    def count_rows(self, table: str) -> int:
        where = " WHERE key <> 'schema'" if table == "meta" else ""
        return int(self._one(f"SELECT count(*) FROM {table}{where}")[0])  # noqa: S608
