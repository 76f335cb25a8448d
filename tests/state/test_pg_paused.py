"""A holder paused (SIGSTOP) inside a fenced batch on PostgreSQL: its open
transaction holds the customer's lease row locked. The server ends that
transaction after a third of the lease (idle_in_transaction_session_timeout),
and claims skip a locked lease row instead of waiting behind it, so the
customer is taken over when the lease expires, not never. Resumed, the old
holder commits nothing (R16: no welcome record written under a lost epoch)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from reconciler.state.api import Lease
from reconciler.state.pgstore import PgStore
from reconciler.state.postgres import Database
from tests.pgstate import fresh_schema

LEASE = 3.0
IDLE = 1.0
HOLDER = r"""
import sys
from reconciler.core.model import WelcomeStatus
from reconciler.state.pgstore import PgStore
from reconciler.state.postgres import Database
store = PgStore(Database(sys.argv[1], sys.argv[2], "ns", idle_in_transaction_seconds=float(sys.argv[4])),
                lease_seconds=float(sys.argv[3]))
lease = store.lock("c", "paused holder")
try:
    with store.batch(lease):
        store.set_welcome("c", "k", WelcomeStatus.PENDING)
        store.serial("c")  # sends the queued write: the lease row is locked from here on
        if sys.argv[5] == "pipeline":  # paused in the middle of a pipeline (an executemany)
            conn = store.db._local.tx.conn
            with conn.pipeline():
                conn.execute("SELECT 1")
                conn.pgconn.flush()
                print("in", flush=True)
                sys.stdin.readline()  # SIGSTOPped here
        else:
            print("in", flush=True)
            sys.stdin.readline()  # SIGSTOPped here
except Exception as exc:
    print("refused:", type(exc).__name__, str(exc).splitlines()[0], flush=True)
else:
    print("committed", flush=True)
"""


@pytest.mark.parametrize("where", ["between statements", "pipeline"])
def test_a_holder_paused_inside_a_fenced_batch_never_blocks_the_takeover(pg_dsn: str, where: str) -> None:
    """Between statements the server's idle-in-transaction timeout ends the paused
    session; in the middle of a pipeline it does not (no Sync yet), and the claim
    ends it (Database.end_stuck_sessions)."""
    schema = fresh_schema()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, pg_dsn, schema, str(LEASE), str(IDLE), where],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    store = PgStore(Database(pg_dsn, schema, "ns", idle_in_transaction_seconds=IDLE), lease_seconds=LEASE)
    try:
        assert holder.stdout.readline().strip() == "in"
        holder.send_signal(signal.SIGSTOP)
        paused = store.lease_of("c")
        assert paused is not None and paused.holder == "paused holder"
        claimed: list[Lease] = []
        started = time.monotonic()
        deadline = started + LEASE + IDLE + 10
        while not claimed and time.monotonic() < deadline:
            # in a thread: before the fix the claim waited on the row lock forever
            t = threading.Thread(
                target=lambda: claimed.extend(store.claim_due(["c"], time.time(), 1, "second")),
                daemon=True,
            )
            t.start()
            t.join(max(0.1, deadline - time.monotonic()))
            assert not t.is_alive(), "the claim is waiting behind the paused holder's row lock"
            time.sleep(0.2)
        took = time.monotonic() - started
        assert [c.epoch for c in claimed] == [paused.epoch + 1], "never taken over"
        assert took < LEASE + IDLE + 5
        holder.send_signal(signal.SIGCONT)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        said = holder.stdout.readline()
        assert said.startswith("refused:"), said
        assert "Traceback" not in said
        assert store.load("c").welcome == {}  # the paused holder's write never committed
        claims = store.claims("c")
        assert [(c.epoch, c.holder) for c in claims] == [
            (paused.epoch, "paused holder"),
            (paused.epoch + 1, "second"),
        ]
        assert claims[0].last_write_at is None or claims[0].last_write_at <= claims[1].acquired_at
    finally:
        if holder.poll() is None:
            holder.send_signal(signal.SIGCONT)
            holder.kill()
        holder.wait(10)
        store.close()


def test_claims_skip_a_lease_row_someone_is_writing(pg_dsn: str) -> None:
    """Another process's open fenced batch: a claim returns at once without it."""
    schema = fresh_schema()
    a = PgStore(Database(pg_dsn, schema, "ns"), lease_seconds=1.0)
    b = PgStore(Database(pg_dsn, schema, "ns"), lease_seconds=1.0)
    try:
        lease = a.lock("c", "a")
        time.sleep(1.2)  # expired, but a's batch has the row locked
        with a.db.transaction():
            a._lease_row("c", lock=True)
            t0 = time.monotonic()
            assert b.claim_due(["c", "d"], time.time(), 2, "b")[0].customer == "d"
            assert time.monotonic() - t0 < 2.0
        assert [x.customer for x in b.claim_due(["c"], time.time(), 1, "b")] == ["c"]
        taken = b.lease_of("c")
        assert taken is not None and taken.epoch == lease.epoch + 1
    finally:
        a.close()
        b.close()
