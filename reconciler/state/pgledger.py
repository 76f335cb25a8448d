"""State: the request budget ledger (#16) on PostgreSQL, shared by every replica.

A reservation is one transaction on a connection of its own (never the calling
thread's open batch) that first takes a transaction-scoped advisory lock on
(schema, namespace, budget): reservations of one budget queue behind each other
for the few milliseconds each takes, so none sees a remaining budget another
is about to spend; other budgets and the rest of the state are not blocked.
"""

from __future__ import annotations

from reconciler.core.budget import Limit, Tally, decide
from reconciler.state.postgres import Database

_ROWS = "SELECT slot_start, used FROM {s}.budget_ledger WHERE ns=%s AND budget=%s AND slot_start >= %s"


class PgLedger:
    def __init__(self, db: Database) -> None:
        self.db = db.attach()
        self.ns = db.ns

    def spend(self, budget: str, want: int, limit: Limit, now: float) -> Tally:
        db = self.db
        with db.errors(), db.pool.connection() as conn, conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"reconciler-budget:{db.schema}:{self.ns}:{budget}",),
            )
            rows = conn.execute(db.q(_ROWS), (self.ns, budget, limit.counted_from(now) - 1e-6)).fetchall()
            tally = decide([(float(s), int(u)) for s, u in rows], now, limit, want)
            if tally.granted:
                conn.execute(
                    db.q(
                        "INSERT INTO {s}.budget_ledger VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (ns, budget, slot_start) DO UPDATE "
                        "SET used = {s}.budget_ledger.used + excluded.used"
                    ),
                    (self.ns, budget, tally.slot_start, tally.granted),
                )
            conn.execute(
                db.q("DELETE FROM {s}.budget_ledger WHERE ns=%s AND budget=%s AND slot_start < %s"),
                (self.ns, budget, limit.counted_from(now) - limit.window),
            )
            return tally

    def refund(self, budget: str, n: int, slot_start: float) -> None:
        if n <= 0:
            return
        db = self.db
        with db.errors(), db.pool.connection() as conn:
            conn.execute(
                db.q(
                    "UPDATE {s}.budget_ledger SET used = greatest(0, used - %s) "
                    "WHERE ns=%s AND budget=%s AND slot_start=%s"
                ),
                (n, self.ns, budget, slot_start),
            )

    def tally(self, budget: str, limit: Limit, now: float, want: int = 0) -> Tally:
        db = self.db
        with db.errors(), db.pool.connection() as conn:
            rows = conn.execute(db.q(_ROWS), (self.ns, budget, limit.counted_from(now) - 1e-6)).fetchall()
        return decide([(float(s), int(u)) for s, u in rows], now, limit, want)

    def close(self) -> None:
        self.db.detach()
