"""State: the PostgreSQL connection both stores share (psycopg 3 + psycopg-pool).

One pool per process. A thread inside `transaction()` keeps its connection to
itself until commit, so the engine's worker threads never see each other's
uncommitted batch; everything else borrows a connection for one statement.
Writes queued inside a transaction are sent with `executemany` (pipeline mode:
one round trip for the lot, never one per row) before anything reads, and at
commit. Dropped connections are noticed when a connection is borrowed (the
pool checks it) and become one `StateError` line for the customer at hand.

The DSN is a secret: it is never in an error, a log line or a description.
psycopg's messages name the host and port at most; they are cut to one line
and scrubbed of anything that looks like a password all the same.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import psycopg_pool

from reconciler.errors import StateError
from reconciler.state.migrations import pending
from reconciler.state.pg_schema import MIGRATIONS

log = logging.getLogger("reconciler.state")
# psycopg's pool logs every failed reconnect (several lines, with the server's address);
# the store turns the failure into one StateError line for the customer at hand
# and psycopg warns of a pipeline it could not end while that error is on its way
for _name in ("psycopg.pool", "psycopg"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.ERROR)

NOW = "extract(epoch from clock_timestamp())"  # the database's clock: one clock for every replica
LEASE = "customer, pid, host, holder, acquired_at, renewed_at, expires_at, epoch"
POOL_MAX = 24
APPLICATION_NAME = "reconciler"
# a fenced batch is a few statements; nothing of ours sits in a transaction this long
IDLE_IN_TRANSACTION_SECONDS = 20.0
_PASSWORD = re.compile(r"(password\s*=\s*)\S+|(://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)


def scrub(exc: BaseException, dsn: str = "") -> str:
    """One line about a database error, without the DSN or a password."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if dsn:
        text = text.replace(dsn, "<dsn>")
    return _PASSWORD.sub(lambda m: (m.group(1) or m.group(2)) + "***" + ("" if m.group(1) else "@"), text)


@dataclass
class _Tx:
    conn: psycopg.Connection[Any]
    queued: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)


class Database:
    """A pool on one PostgreSQL database, one schema, one namespace."""

    def __init__(
        self,
        dsn: str,
        schema: str,
        namespace: str,
        where: str = "state database (postgres)",
        idle_in_transaction_seconds: float = IDLE_IN_TRANSACTION_SECONDS,
    ) -> None:
        self.schema, self.ns, self.where = schema, namespace, where
        self._idle_ms = str(max(1000, int(idle_in_transaction_seconds * 1000)))
        self._dsn = dsn
        self._local = threading.local()
        self._users = 0
        self._lock = threading.Lock()
        self._sql: dict[str, str] = {}
        try:
            # one direct connection first: a wrong password or host is reported at once
            # (the pool would retry it quietly until its timeout), and it migrates
            with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
                self._migrate(conn)
            self.pool = psycopg_pool.ConnectionPool(
                dsn,
                min_size=1,
                max_size=POOL_MAX,
                kwargs={"autocommit": True, "connect_timeout": 10, "application_name": APPLICATION_NAME},
                check=psycopg_pool.ConnectionPool.check_connection,
                configure=self._configure,
                timeout=30.0,
                open=False,
            )
            self.pool.open(wait=True, timeout=15.0)
        except StateError:
            raise
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            raise StateError(f"{where}: cannot connect ({scrub(exc, dsn)})") from None
        except psycopg.Error as exc:  # e.g. no right to create the schema
            raise StateError(f"{where}: cannot prepare the schema ({scrub(exc, dsn)})") from None
        except Exception as exc:  # a malformed DSN: psycopg's message may quote it
            raise StateError(
                f"{where}: cannot connect (invalid connection string: {type(exc).__name__})"
            ) from None

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Every pooled session: a transaction left idle (its process paused by SIGSTOP or
        a frozen VM, between two statements of a fenced batch) is ended by the server
        after `idle_in_transaction_seconds`, so the row locks it holds (the customer's
        lease row, a schedule row) never block a takeover for longer than that."""
        conn.execute("SELECT set_config('idle_in_transaction_session_timeout', %s, false)", (self._idle_ms,))

    def end_stuck_sessions(self) -> int:
        """End our sessions (any process of ours on this database) that sit inside a
        transaction waiting for their client longer than `idle_in_transaction_seconds`.
        The server's own timeout does not fire for a client paused in the middle of a
        pipeline (executemany), and such a session keeps its row locks (a lease row, a
        schedule row) for as long as the pause lasts: claims call this when a due
        customer could not be taken. Returns how many were ended; 0 without the right
        to end them (another role's sessions)."""
        try:
            with self.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = %s "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                    "AND (state LIKE 'idle in transaction%%' OR (state = 'active' AND wait_event = 'ClientRead')) "
                    "AND state_change < now() - make_interval(secs => %s)",
                    (APPLICATION_NAME, int(self._idle_ms) / 1000.0),
                ).fetchall()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            log.debug("%s: could not end stuck sessions: %s", self.where, scrub(exc, self._dsn))
            return 0
        return sum(1 for (ended,) in rows if ended)

    # --- lifetime: both stores share the pool ---------------------------------------------------
    def attach(self) -> Database:
        with self._lock:
            self._users += 1
        return self

    def detach(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.pool.close()

    # --- statements -----------------------------------------------------------------------------
    def q(self, sql: str) -> str:
        """`sql` with `{s}.` naming our schema (validated by the Settings pattern, then
        quoted), `{now}` the database clock and `{lease}` the columns of a lease."""
        out = self._sql.get(sql)
        if out is None:
            out = sql.replace("{s}.", f'"{self.schema}".').replace("{now}", NOW).replace("{lease}", LEASE)
            self._sql[sql] = out
        return out

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StateError(f"{self.where}: {scrub(exc, self._dsn)}") from None

    @property
    def in_tx(self) -> bool:
        return getattr(self._local, "tx", None) is not None

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        tx: _Tx | None = getattr(self._local, "tx", None)
        with self.errors():
            if tx is not None:
                self._flush(tx)
                return tx.conn.execute(self.q(sql), params).fetchall()
            with self.pool.connection() as conn:
                return conn.execute(self.q(sql), params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def write(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue a write in the current transaction (sent in bulk), or run it alone."""
        tx: _Tx | None = getattr(self._local, "tx", None)
        if tx is not None:
            tx.queued.append((sql, params))
            return
        with self.transaction():
            self.write(sql, params)

    def write_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        with self.transaction():
            tx: _Tx = self._local.tx
            tx.queued.extend((sql, r) for r in rows)

    def _flush(self, tx: _Tx) -> None:
        queued, tx.queued = tx.queued, []
        start = 0
        with tx.conn.cursor() as cur:
            while start < len(queued):
                end = start + 1
                while end < len(queued) and queued[end][0] == queued[start][0]:
                    end += 1
                if end - start == 1:  # not a pipeline: the server's idle timeout covers a pause after it
                    cur.execute(self.q(queued[start][0]), queued[start][1])
                else:
                    cur.executemany(self.q(queued[start][0]), [p for _, p in queued[start:end]])
                start = end

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction on this thread's own connection; nested calls join it."""
        if self.in_tx:
            yield
            return
        with self.errors(), self.pool.connection() as conn:
            tx = _Tx(conn)
            self._local.tx = tx
            try:
                with conn.transaction():
                    yield
                    self._flush(tx)
            finally:
                self._local.tx = None

    # --- migrations -----------------------------------------------------------------------------
    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"reconciler:{self.schema}",))
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(
                self.q(
                    "CREATE TABLE IF NOT EXISTS {s}.schema_version "
                    "(one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), version INTEGER NOT NULL)"
                )
            )
        for migration in pending(MIGRATIONS, self._version(conn), self.where):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"reconciler:{self.schema}",))
                if self._version(conn) >= migration.version:
                    continue  # another process migrated meanwhile
                for statement in migration.statements:
                    conn.execute(self.q(statement))
                conn.execute(
                    self.q(
                        "INSERT INTO {s}.schema_version (one, version) VALUES (TRUE, %s) "
                        "ON CONFLICT (one) DO UPDATE SET version = excluded.version"
                    ),
                    (migration.version,),
                )

    def _version(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(self.q("SELECT version FROM {s}.schema_version")).fetchone()
        return int(row[0]) if row else 0

    def version(self) -> int:
        with self.errors(), self.pool.connection() as conn:
            return self._version(conn)
