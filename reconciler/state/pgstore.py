"""State: `StateStore` on PostgreSQL, every row keyed by the state namespace.

The same contract as `SqliteStore` (see api.py), for many machines: lease times
come from the database's clock, so replicas on hosts whose clocks disagree
still agree on when a lease expires. Taking a lease and fencing lock the
customer's lease row (`FOR UPDATE`) for the rest of the transaction, so a
takeover waits for a fenced batch in flight to commit, and a batch that starts
after a takeover sees the new epoch and is refused.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from reconciler.core.model import Account, IntegrationKind, Link, ManagedState, WelcomeStatus
from reconciler.errors import LeaseLostError, LockHeldError
from reconciler.state.api import Claim, JournalEntry, Lease, RunRow
from reconciler.state.leasetext import held_message, lost_message
from reconciler.state.postgres import Database


class PgStore:
    def __init__(self, db: Database, lease_seconds: float = 60.0) -> None:
        self.db = db.attach()
        self.ns = db.ns
        self.lease_seconds = lease_seconds
        # the namespace's lineage (#12): created once, by whichever process gets there first
        self.db.write(
            "INSERT INTO {s}.meta VALUES (%s, 'lineage', %s) ON CONFLICT DO NOTHING",
            (self.ns, uuid.uuid4().hex),
        )
        row = self.db.one("SELECT value FROM {s}.meta WHERE ns=%s AND key='lineage'", (self.ns,))
        assert row is not None
        self._lineage = str(row[0])

    def lineage(self) -> str:
        return self._lineage

    def adopted_lineages(self, customer: str) -> frozenset[str]:
        row = self.db.one(
            "SELECT value FROM {s}.meta WHERE ns=%s AND key=%s", (self.ns, f"adopted-lineages:{customer}")
        )
        return frozenset(json.loads(row[0])) if row else frozenset()

    def adopt_lineages(self, customer: str, lineages: frozenset[str]) -> None:
        merged = sorted(self.adopted_lineages(customer) | (lineages - {self._lineage}))
        self.db.write(
            "INSERT INTO {s}.meta VALUES (%s, %s, %s) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
            (self.ns, f"adopted-lineages:{customer}", json.dumps(merged)),
        )

    def close(self) -> None:
        self.db.detach()

    @contextmanager
    def batch(self, fence: Lease | None = None, durable: bool = False) -> Iterator[None]:
        """`durable` needs nothing more here: a PostgreSQL commit is on disk when it
        returns (synchronous_commit, the server's default)."""
        with self.db.transaction():
            if fence is not None:
                self._check_fence(fence)
            yield

    # --- reading -----------------------------------------------------------------------
    def serial(self, customer: str) -> int:
        row = self.db.one("SELECT serial FROM {s}.serials WHERE ns=%s AND customer=%s", (self.ns, customer))
        return int(row[0]) if row else 0

    def count_accounts(self, customer: str) -> int:
        row = self.db.one(
            "SELECT count(*) FROM {s}.accounts WHERE ns=%s AND customer=%s", (self.ns, customer)
        )
        return int(row[0]) if row else 0

    def load(self, customer: str) -> ManagedState:
        with self.db.transaction():  # one snapshot of the four tables
            key = (self.ns, customer)
            accounts = {
                k: Account.from_dict(json.loads(data))
                for k, data in self.db.all(
                    "SELECT key, data FROM {s}.accounts WHERE ns=%s AND customer=%s", key
                )
            }
            links = {
                (k, IntegrationKind(kind)): Link(k, IntegrationKind(kind), rid)
                for k, kind, rid in self.db.all(
                    "SELECT account_key, integration, record_id FROM {s}.links WHERE ns=%s AND customer=%s",
                    key,
                )
            }
            welcome = {
                k: WelcomeStatus(status)
                for k, status in self.db.all(
                    "SELECT account_key, status FROM {s}.welcome WHERE ns=%s AND customer=%s", key
                )
            }
            detached = {
                (k, IntegrationKind(kind)): rid
                for k, kind, rid in self.db.all(
                    "SELECT account_key, integration, record_id FROM {s}.detached WHERE ns=%s AND customer=%s",
                    key,
                )
            }
            fingerprints = {
                (k, IntegrationKind(kind)): fp
                for k, kind, fp in self.db.all(
                    "SELECT account_key, integration, fingerprint FROM {s}.fingerprints WHERE ns=%s AND customer=%s",
                    key,
                )
            }
            return ManagedState(
                self.serial(customer), accounts, links, welcome, self._lineage,
                self.adopted_lineages(customer), detached, fingerprints,
            )  # fmt: skip

    def customers(self) -> list[str]:
        rows = self.db.all(
            "SELECT customer FROM {s}.serials WHERE ns=%s UNION SELECT customer FROM {s}.accounts WHERE ns=%s "
            "ORDER BY 1",
            (self.ns, self.ns),
        )
        return [r[0] for r in rows]

    # --- writing (inside batch(); queued and sent in bulk) -----------------------------------
    def bump_serial(self, customer: str) -> int:
        row = self.db.one(
            "INSERT INTO {s}.serials VALUES (%s, %s, 1) ON CONFLICT (ns, customer) "
            "DO UPDATE SET serial = {s}.serials.serial + 1 RETURNING serial",
            (self.ns, customer),
        )
        assert row is not None
        return int(row[0])

    def put_account(self, customer: str, account: Account) -> None:
        self.db.write(
            "INSERT INTO {s}.accounts VALUES (%s, %s, %s, %s) ON CONFLICT (ns, customer, key) "
            "DO UPDATE SET data = excluded.data",
            (self.ns, customer, account.key, json.dumps(account.to_dict(), sort_keys=True)),
        )

    def put_accounts(self, customer: str, accounts: Sequence[Account]) -> None:
        for account in accounts:  # queued in the batch's pipeline, one round trip per commit
            self.put_account(customer, account)

    def remove_account(self, customer: str, key: str) -> None:
        """Forget an account and its links; its welcome record stays (R16)."""
        params = (self.ns, customer, key)
        self.db.write("DELETE FROM {s}.accounts WHERE ns=%s AND customer=%s AND key=%s", params)
        self.db.write("DELETE FROM {s}.links WHERE ns=%s AND customer=%s AND account_key=%s", params)
        self.db.write("DELETE FROM {s}.fingerprints WHERE ns=%s AND customer=%s AND account_key=%s", params)

    def move_account(self, customer: str, old_key: str, account: Account) -> None:
        """A class change (end user <-> admin): the account takes its new key with its
        links and welcome record, so nothing is created or welcomed again."""
        new_key = account.key
        self.db.write(
            "DELETE FROM {s}.accounts WHERE ns=%s AND customer=%s AND key=%s", (self.ns, customer, old_key)
        )
        self.put_account(customer, account)
        moved = (new_key, self.ns, customer, old_key)
        for table in ("links", "fingerprints", "detached"):
            # the moved rows replace any under the new key, as SQLite's UPDATE OR REPLACE
            self.db.write(
                f"DELETE FROM {{s}}.{table} n WHERE ns=%s AND customer=%s AND account_key=%s AND EXISTS "  # noqa: S608
                f"(SELECT 1 FROM {{s}}.{table} l WHERE l.ns=n.ns AND l.customer=n.customer AND l.account_key=%s "
                "AND l.integration=n.integration)",
                (self.ns, customer, new_key, old_key),
            )
            self.db.write(
                f"UPDATE {{s}}.{table} SET account_key=%s WHERE ns=%s AND customer=%s AND account_key=%s",  # noqa: S608
                moved,
            )
        self.db.write(
            "UPDATE {s}.welcome SET account_key=%s WHERE ns=%s AND customer=%s AND account_key=%s AND NOT EXISTS "
            "(SELECT 1 FROM {s}.welcome w WHERE w.ns=%s AND w.customer=%s AND w.account_key=%s)",
            (*moved, self.ns, customer, new_key),
        )

    def put_link(self, customer: str, link: Link) -> None:
        self.db.write(
            "INSERT INTO {s}.links VALUES (%s, %s, %s, %s, %s) ON CONFLICT (ns, customer, account_key, integration) "
            "DO UPDATE SET record_id = excluded.record_id",
            (self.ns, customer, link.account_key, link.integration.value, link.record_id),
        )

    def set_welcome(self, customer: str, key: str, status: WelcomeStatus) -> None:
        self.db.write(
            "INSERT INTO {s}.welcome VALUES (%s, %s, %s, %s, %s) ON CONFLICT (ns, customer, account_key) "
            "DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
            (self.ns, customer, key, status.value, time.time()),
        )

    def remove_link(self, customer: str, key: str, integration: IntegrationKind) -> None:
        params = (self.ns, customer, key, integration.value)
        self.db.write(
            "DELETE FROM {s}.links WHERE ns=%s AND customer=%s AND account_key=%s AND integration=%s", params
        )
        self.db.write(
            "DELETE FROM {s}.fingerprints WHERE ns=%s AND customer=%s AND account_key=%s AND integration=%s",
            params,
        )

    def put_fingerprint(
        self, customer: str, key: str, integration: IntegrationKind, fingerprint: str
    ) -> None:
        self.db.write(
            "INSERT INTO {s}.fingerprints VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (ns, customer, account_key, integration) DO UPDATE SET fingerprint = excluded.fingerprint",
            (self.ns, customer, key, integration.value, fingerprint),
        )

    def forget_welcome(self, customer: str, key: str) -> None:
        self.db.write(
            "DELETE FROM {s}.welcome WHERE ns=%s AND customer=%s AND account_key=%s", (self.ns, customer, key)
        )

    def set_detached(
        self, customer: str, key: str, integration: IntegrationKind, record_id: str | None
    ) -> None:
        if record_id is None:
            self.db.write(
                "DELETE FROM {s}.detached WHERE ns=%s AND customer=%s AND account_key=%s AND integration=%s",
                (self.ns, customer, key, integration.value),
            )
            return
        self.db.write(
            "INSERT INTO {s}.detached VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (ns, customer, account_key, integration) DO UPDATE SET record_id = excluded.record_id",
            (self.ns, customer, key, integration.value, record_id),
        )

    # --- cursors -------------------------------------------------------------------------------
    def get_cursor(self, customer: str, name: str) -> str | None:
        row = self.db.one(
            "SELECT value FROM {s}.cursors WHERE ns=%s AND customer=%s AND name=%s", (self.ns, customer, name)
        )
        return str(row[0]) if row else None

    def put_cursor(self, customer: str, name: str, value: str | None) -> None:
        if value is None:
            self.db.write(
                "DELETE FROM {s}.cursors WHERE ns=%s AND customer=%s AND name=%s", (self.ns, customer, name)
            )
            return
        self.db.write(
            "INSERT INTO {s}.cursors VALUES (%s, %s, %s, %s) ON CONFLICT (ns, customer, name) "
            "DO UPDATE SET value = excluded.value",
            (self.ns, customer, name, value),
        )

    # --- journal ---------------------------------------------------------------------------------
    def journal_open(self, customer: str, op: str, marker: str, fence: Lease | None = None) -> int:
        now = time.time()
        with self.batch(fence):
            row = self.db.one(
                "INSERT INTO {s}.journal (ns, customer, op, marker, status, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, 'open', %s, %s) RETURNING id",
                (self.ns, customer, op, marker, now, now),
            )
        assert row is not None
        return int(row[0])

    def journal_close(self, entry_id: int, status: str, detail: str = "") -> None:
        self.db.write(
            "UPDATE {s}.journal SET status=%s, detail=%s, updated_at=%s WHERE ns=%s AND id=%s",
            (status, detail, time.time(), self.ns, entry_id),
        )

    def journal_open_many(
        self, customer: str, intents: Sequence[tuple[str, str]], fence: Lease | None = None
    ) -> list[int]:
        with self.batch(fence):
            return [self.journal_open(customer, op, marker) for op, marker in intents]

    def journal_close_many(self, closes: Sequence[tuple[int, str, str]]) -> None:
        for entry_id, status, detail in closes:  # queued in the transaction, sent in bulk
            self.journal_close(entry_id, status, detail)

    def put_links(self, customer: str, links: Sequence[Link]) -> None:
        for link in links:
            self.put_link(customer, link)

    def put_fingerprints(self, customer: str, rows: Sequence[tuple[str, IntegrationKind, str]]) -> None:
        for key, kind, fingerprint in rows:
            self.put_fingerprint(customer, key, kind, fingerprint)

    def journal_pending(self, customer: str) -> list[JournalEntry]:
        rows = self.db.all(
            "SELECT id, customer, op, marker, status, detail FROM {s}.journal "
            "WHERE ns=%s AND customer=%s AND status='open' ORDER BY id",
            (self.ns, customer),
        )
        return [JournalEntry(*r) for r in rows]

    # --- leases ------------------------------------------------------------------------------------
    def lock(self, customer: str, holder: str) -> Lease:
        return self._lock(customer, holder, skip_locked=False)

    def _lock(self, customer: str, holder: str, skip_locked: bool) -> Lease:
        """`skip_locked` (claims): a lease row locked by someone's fenced batch or claim
        is held by a live-looking holder; skip it now rather than wait behind it."""
        pid, host = os.getpid(), socket.gethostname()
        with self.db.transaction():
            self.db.write(
                "INSERT INTO {s}.leases VALUES (%s, %s, 0, '', '', 0, 0, 0, 0) ON CONFLICT DO NOTHING",
                (self.ns, customer),
            )
            current, now = self._lease_row(customer, lock=True, skip_locked=skip_locked)
            if current is None:
                raise LockHeldError(f"{customer}: its lease is being written by another process")
            if current.holder and current.expires_at > now:
                raise LockHeldError(held_message(customer, current, now, not current.alive))
            row = self.db.one(
                "UPDATE {s}.leases SET pid=%s, host=%s, holder=%s, acquired_at={now}, renewed_at={now}, "
                "expires_at={now} + %s, epoch=epoch + 1 WHERE ns=%s AND customer=%s RETURNING {lease}",
                (pid, host, holder, self.lease_seconds, self.ns, customer),
            )
            assert row is not None
            lease = Lease(*row)
            self.db.write(
                "INSERT INTO {s}.lease_claims VALUES (%s, %s, %s, %s, %s, %s, %s, NULL, NULL)",
                (self.ns, customer, lease.epoch, holder, host, pid, lease.acquired_at),
            )
        return lease

    def renew(self, lease: Lease) -> Lease:
        with self.db.transaction():
            self._check_fence(lease, write=False)
            row = self.db.one(
                "UPDATE {s}.leases SET renewed_at={now}, expires_at={now} + %s "
                "WHERE ns=%s AND customer=%s RETURNING {lease}",
                (self.lease_seconds, self.ns, lease.customer),
            )
        assert row is not None
        return Lease(*row)

    def release(self, lease: Lease) -> None:
        self._release("customer=%s AND epoch=%s", (lease.customer, lease.epoch))

    def unlock(self, customer: str) -> None:
        self._release("customer=%s AND pid=%s AND host=%s", (customer, os.getpid(), socket.gethostname()))

    def _release(self, where: str, params: tuple[Any, ...]) -> None:
        with self.db.transaction():
            rows = self.db.all(
                "UPDATE {s}.leases SET holder='', pid=0, host='', expires_at={now} "  # noqa: S608
                f"WHERE ns=%s AND holder<>'' AND {where} RETURNING customer, epoch",
                (self.ns, *params),
            )
            for customer, epoch in rows:
                self.db.write(
                    "UPDATE {s}.lease_claims SET released_at={now} WHERE ns=%s AND customer=%s AND epoch=%s",
                    (self.ns, customer, epoch),
                )

    def break_lock(self, customer: str, force: bool = False) -> Lease | None:
        with self.db.transaction():
            current, now = self._lease_row(customer, lock=True)
            if current is None or not current.holder:
                return None
            if current.expires_at > now and current.alive and not force:
                raise LockHeldError(
                    f"{customer}: lock holder {current.describe(now)} holds a live lease "
                    f"(expires in {current.expires_at - now:.0f}s unless renewed); use --force to break it anyway"
                )
            self.db.write(
                "UPDATE {s}.leases SET holder='', pid=0, host='', expires_at={now}, epoch=epoch + 1 "
                "WHERE ns=%s AND customer=%s",
                (self.ns, customer),
            )
            return current

    def locks(self) -> list[Lease]:
        rows = self.db.all(
            "SELECT {lease} FROM {s}.leases WHERE ns=%s AND holder<>'' AND customer NOT LIKE '@%%' "
            "ORDER BY customer",
            (self.ns,),
        )
        return [Lease(*r) for r in rows]

    def claim_due(self, candidates: Sequence[str], now: float, limit: int, holder: str) -> list[Lease]:
        """Rows another replica is claiming right now are skipped, not waited for; a
        customer is claimed only with its lease, in the same transaction."""
        if not candidates or limit <= 0:
            return []
        out = self._claim(candidates, now, limit, holder)
        if len(out) < min(limit, len(candidates)) and self.db.end_stuck_sessions():
            # a paused process's transaction held rows locked: they are free now
            taken = {lease.customer for lease in out}
            rest = [n for n in candidates if n not in taken]
            out += self._claim(rest, now, limit - len(out), holder)
        return out

    def _claim(self, candidates: Sequence[str], now: float, limit: int, holder: str) -> list[Lease]:
        out: list[Lease] = []
        if not candidates or limit <= 0:
            return out
        with self.db.transaction():
            for name in candidates:  # a customer the schedule has not seen yet is due
                self.db.write(
                    "INSERT INTO {s}.daemon_customers (ns, customer) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (self.ns, name),
                )
            rows = self.db.all(
                "SELECT customer FROM {s}.daemon_customers WHERE ns=%s AND customer = ANY(%s) "
                "AND (next_run_at IS NULL OR next_run_at <= %s) FOR UPDATE SKIP LOCKED",
                (self.ns, list(candidates), now),
            )
            due = {r[0] for r in rows}
            for name in candidates:
                if len(out) >= limit:
                    break
                if name not in due:
                    continue
                try:
                    out.append(self._lock(name, holder, skip_locked=True))
                except LockHeldError:
                    continue
        return out

    def lease_of(self, name: str) -> Lease | None:
        current, _ = self._lease_row(name)
        return current if current is not None and current.holder else None

    def claims(self, customer: str) -> list[Claim]:
        rows = self.db.all(
            "SELECT customer, epoch, holder, host, pid, acquired_at, last_write_at, released_at "
            "FROM {s}.lease_claims WHERE ns=%s AND customer=%s ORDER BY epoch",
            (self.ns, customer),
        )
        return [Claim(*r) for r in rows]

    def _lease_row(
        self, customer: str, lock: bool = False, skip_locked: bool = False
    ) -> tuple[Lease | None, float]:
        row = self.db.one(
            "SELECT {lease}, {now} FROM {s}.leases WHERE ns=%s AND customer=%s"  # noqa: S608
            + (" FOR UPDATE" if lock else "")
            + (" SKIP LOCKED" if skip_locked else ""),
            (self.ns, customer),
        )
        if row is None:
            return None, time.time()
        return Lease(*row[:-1]), float(row[-1])

    def _check_fence(self, lease: Lease, write: bool = True) -> None:
        current, now = self._lease_row(lease.customer, lock=True)
        if current is None or current.epoch != lease.epoch or not current.holder:
            raise LeaseLostError(lost_message(lease.customer, lease.epoch, current, now))
        if write:
            self.db.write(
                "UPDATE {s}.lease_claims SET last_write_at={now} WHERE ns=%s AND customer=%s AND epoch=%s",
                (self.ns, lease.customer, lease.epoch),
            )

    # --- run history (R19) -----------------------------------------------------------------------
    def record_run(self, customer: str, started: float, result: str, detail: dict[str, Any]) -> None:
        self.db.write(
            "INSERT INTO {s}.runs (ns, customer, started_at, finished_at, result, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (self.ns, customer, started, time.time(), result, json.dumps(detail, sort_keys=True)),
        )

    def prune_runs(self, keep: int) -> int:
        rows = self.db.all(
            "DELETE FROM {s}.runs WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER "
            "(PARTITION BY customer ORDER BY id DESC) AS n FROM {s}.runs WHERE ns=%s) AS r WHERE n > %s) "
            "RETURNING id",
            (self.ns, keep),
        )
        return len(rows)

    def last_run(self, customer: str) -> RunRow | None:
        row = self.db.one(
            "SELECT started_at, finished_at, result, detail FROM {s}.runs WHERE ns=%s AND customer=%s "
            "ORDER BY id DESC LIMIT 1",
            (self.ns, customer),
        )
        return (row[0], row[1], row[2], json.loads(row[3])) if row else None

    def last_runs(self) -> dict[str, RunRow]:
        rows = self.db.all(
            "SELECT DISTINCT ON (customer) customer, started_at, finished_at, result, detail FROM {s}.runs "
            "WHERE ns=%s ORDER BY customer, id DESC",
            (self.ns,),
        )
        return {r[0]: (r[1], r[2], r[3], json.loads(r[4])) for r in rows}

    # --- copying (state migrate, backup, restore: see transfer.py) ---------------------------
    def dump_table(self, table: str, columns: tuple[str, ...], by_id: bool) -> list[tuple[Any, ...]]:
        order = " ORDER BY id" if by_id else ""
        return self.db.all(f"SELECT {', '.join(columns)} FROM {{s}}.{table} WHERE ns=%s{order}", (self.ns,))  # noqa: S608

    def load_tables(
        self, data: dict[str, list[tuple[Any, ...]]], columns: dict[str, tuple[str, ...]]
    ) -> None:
        with self.db.transaction():
            for table, rows in data.items():
                cols = columns[table]
                sql = (
                    f"INSERT INTO {{s}}.{table} (ns, {', '.join(cols)}) "  # noqa: S608
                    f"VALUES (%s{', %s' * len(cols)})"
                    + (
                        " ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value"
                        if table == "meta"
                        else ""
                    )
                )
                for values in rows:
                    self.db.write(sql, (self.ns, *values))
            found = self.db.one("SELECT value FROM {s}.meta WHERE ns=%s AND key='lineage'", (self.ns,))
            assert found is not None
            self._lineage = str(found[0])

    def count_rows(self, table: str) -> int:
        row = self.db.one(f"SELECT count(*) FROM {{s}}.{table} WHERE ns=%s", (self.ns,))  # noqa: S608
        return int(row[0]) if row else 0
