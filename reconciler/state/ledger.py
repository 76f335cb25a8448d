"""State: the MSP-wide request budget ledger (#16), one per state.

Rows `(namespace, budget, slot_start) -> used` count the requests every process
on this state made to an integration in one slot of its window (see
`reconciler.core.budget`). `spend` reserves atomically across processes and
replicas: on SQLite inside `BEGIN IMMEDIATE` (one writer at a time on the
file), on PostgreSQL under a transaction-scoped advisory lock per budget
(`pgledger.py`), so two reservations never both see the same remaining budget.
Slots older than the window are deleted as reservations go by.

Times are the callers' wall clock (seconds since the epoch): every process of
an MSP keeps its clock in sync (NTP) or a lease would not work either.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from reconciler.core.budget import Limit, Tally, decide
from reconciler.errors import StateError


class BudgetLedger(Protocol):
    def spend(self, budget: str, want: int, limit: Limit, now: float) -> Tally:
        """Reserve `want` requests of `budget` if they fit (all or nothing)."""
        ...

    def refund(self, budget: str, n: int, slot_start: float) -> None:
        """Give back `n` requests reserved in the slot at `slot_start` and never made."""
        ...

    def tally(self, budget: str, limit: Limit, now: float, want: int = 0) -> Tally:
        """The budget at `now`; with `want`, whether (`granted`) or when (`until`) it
        would fit, reserving nothing."""
        ...

    def close(self) -> None: ...


class SqliteLedger:
    """The ledger in the state's SQLite file, on a connection of its own (so a
    reservation never joins a batch another thread has open on the store's)."""

    def __init__(self, path: Path, namespace: str = "") -> None:
        self.path, self.ns = path, namespace
        try:
            self._db = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise StateError(f"{path}: cannot open the budget ledger ({exc})") from None
        self._mutex = threading.Lock()

    def spend(self, budget: str, want: int, limit: Limit, now: float) -> Tally:
        with self._mutex, self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._rows(budget, limit, now)
                tally = decide(rows, now, limit, want)
                if tally.granted:
                    self._db.execute(
                        "INSERT INTO budget_ledger VALUES (?, ?, ?, ?) ON CONFLICT (ns, budget, slot_start) "
                        "DO UPDATE SET used = used + excluded.used",
                        (self.ns, budget, tally.slot_start, tally.granted),
                    )
                self._db.execute(
                    "DELETE FROM budget_ledger WHERE ns=? AND budget=? AND slot_start < ?",
                    (self.ns, budget, limit.counted_from(now) - limit.window),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return tally

    def refund(self, budget: str, n: int, slot_start: float) -> None:
        if n <= 0:
            return
        with self._mutex, self._errors():
            self._db.execute(
                "UPDATE budget_ledger SET used = max(0, used - ?) WHERE ns=? AND budget=? AND slot_start=?",
                (n, self.ns, budget, slot_start),
            )

    def tally(self, budget: str, limit: Limit, now: float, want: int = 0) -> Tally:
        with self._mutex, self._errors():
            return decide(self._rows(budget, limit, now), now, limit, want)

    def _rows(self, budget: str, limit: Limit, now: float) -> list[tuple[float, int]]:
        return self._db.execute(
            "SELECT slot_start, used FROM budget_ledger WHERE ns=? AND budget=? AND slot_start >= ?",
            (self.ns, budget, limit.counted_from(now) - 1e-6),
        ).fetchall()

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: budget ledger: {exc}") from None


def open_ledger(store: object, namespace: str = "") -> BudgetLedger | None:
    """The ledger beside `store` (a `SqliteStore` or a `PgStore`); None for another store."""
    from reconciler.state.store import SqliteStore

    if isinstance(store, SqliteStore):
        return SqliteLedger(store.path, namespace)
    from reconciler.state.pgstore import PgStore

    if isinstance(store, PgStore):
        from reconciler.state.pgledger import PgLedger

        return PgLedger(store.db)
    return None
