"""The state contract, on both backends: a real SQLite file and a real PostgreSQL
cluster (started by the pg_server fixture). Serials, batches, welcome records
(R16), journal, cursors, leases with epochs and fencing, namespaces, migrations."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from reconciler.core.model import Account, AccountClass, DirSource, IntegrationKind, Link, WelcomeStatus
from reconciler.errors import LeaseLostError, LockHeldError, StateError
from tests.state.conftest import Open


def account(n: int) -> Account:
    return Account(
        f"end-user/entra:{n}", AccountClass.END_USER, (DirSource.ENTRA,), f"u{n}@x.com", mail=f"u{n}@x.com"
    )


def test_round_trip_serial_and_a_failed_batch(open_state: Open) -> None:
    store = open_state().store
    with store.batch():
        store.put_account("c", account(1))
        store.put_link("c", Link(account(1).key, IntegrationKind.HUDU, "9"))
        store.set_welcome("c", account(1).key, WelcomeStatus.DUE)
        assert store.bump_serial("c") == 1
    again = open_state().store.load("c")
    assert again.serial == 1 and again.accounts == {account(1).key: account(1)}
    assert again.links[(account(1).key, IntegrationKind.HUDU)].record_id == "9"
    assert again.welcome == {account(1).key: WelcomeStatus.DUE}
    with pytest.raises(RuntimeError), store.batch():
        store.put_account("c", account(2))
        store.bump_serial("c")
        raise RuntimeError("boom")
    assert set(store.load("c").accounts) == {account(1).key} and store.serial("c") == 1
    with store.batch():
        store.remove_account("c", account(1).key)
    state = store.load("c")
    assert not state.accounts and not state.links
    assert state.welcome == {account(1).key: WelcomeStatus.DUE}  # R16: never welcomed twice
    assert store.customers() == ["c"]


def test_many_writes_in_one_batch_all_land(open_state: Open) -> None:
    store = open_state().store
    with store.batch():
        for n in range(2000):
            store.put_account("big", account(n))
            store.set_welcome("big", account(n).key, WelcomeStatus.DUE)
        store.bump_serial("big")
    assert store.count_accounts("big") == 2000 and len(store.load("big").welcome) == 2000


def test_journal_cursors_and_runs(open_state: Open) -> None:
    store = open_state().store
    jid = store.journal_open("c", "create itglue", "c/k1")
    assert [j.marker for j in open_state().store.journal_pending("c")] == ["c/k1"]
    with store.batch():
        store.journal_close(jid, "done", "42")
    assert store.journal_pending("c") == []
    store.put_cursor("c", "graph.delta", "https://x/delta?token=1")
    assert open_state().store.get_cursor("c", "graph.delta") == "https://x/delta?token=1"
    store.put_cursor("c", "graph.delta", None)
    assert store.get_cursor("c", "graph.delta") is None
    store.record_run("c", 1.0, "applied", {"applied": 3, "replica": "host:1"})
    last = store.last_run("c")
    assert last is not None and last[2] == "applied" and last[3]["replica"] == "host:1"


def test_namespaces_never_see_or_lock_each_other(open_state: Open, backend: str) -> None:
    """PostgreSQL: two config repositories on one database (hashicorp/terraform#29034);
    SQLite: each repository has its own file."""
    files = backend == "sqlite"
    a = open_state("msp-a", **({"path": "a.db"} if files else {})).store
    b = open_state("msp-b", **({"path": "b.db"} if files else {})).store
    with a.batch():
        a.put_account("contoso", account(1))
        a.bump_serial("contoso")
    a.lock("contoso", "apply in a")
    assert b.load("contoso").accounts == {} and b.serial("contoso") == 0
    lease = b.lock("contoso", "apply in b")  # same customer name, other repository: no conflict
    assert lease.epoch == 1 and [x.holder for x in b.locks()] == ["apply in b"]


def test_a_live_lease_refuses_a_second_holder_then_expires_and_is_taken_over(open_state: Open) -> None:
    first = open_state(leaseSeconds=15).store
    second = open_state(leaseSeconds=15).store
    lease = first.lock("acme", "reconciler apply (first)")
    with pytest.raises(LockHeldError) as err:
        second.lock("acme", "reconciler daemon")
    assert "reconciler apply (first)" in str(err.value) and f"pid {lease.pid}" in str(err.value)
    assert "expires in" in str(err.value)
    _expire(first, lease.customer)
    taken = second.lock("acme", "reconciler daemon")
    assert taken.epoch == lease.epoch + 1
    # the old holder is fenced: no batch, no journal row, no renewal after the takeover
    with pytest.raises(LeaseLostError, match="lost its lease"), first.batch(fence=lease):
        first.bump_serial("acme")
    with pytest.raises(LeaseLostError):
        first.journal_open("acme", "create hudu", "acme/k", fence=lease)
    with pytest.raises(LeaseLostError, match="taken over by reconciler daemon"):
        first.renew(lease)
    assert first.serial("acme") == 0 and first.journal_pending("acme") == []
    with second.batch(fence=taken):
        second.bump_serial("acme")
    claims = second.claims("acme")
    assert [c.epoch for c in claims] == [1, 2] and claims[1].last_write_at is not None
    assert claims[0].last_write_at is None


def test_renewal_keeps_a_lease_and_release_lets_the_next_one_in(open_state: Open) -> None:
    store = open_state(leaseSeconds=15).store
    lease = store.lock("acme", "holder")
    renewed = store.renew(lease)
    assert renewed.epoch == lease.epoch and renewed.expires_at >= lease.expires_at
    store.release(renewed)
    assert store.locks() == []
    nxt = store.lock("acme", "next")
    assert nxt.epoch == lease.epoch + 1
    claims = store.claims("acme")
    assert claims[0].released_at is not None and claims[1].released_at is None


def test_break_lock_fences_the_broken_holder(open_state: Open) -> None:
    store = open_state().store
    lease = store.lock("acme", "stuck apply")
    with pytest.raises(LockHeldError, match="--force"):
        store.break_lock("acme")
    broken = store.break_lock("acme", force=True)
    assert broken is not None and broken.holder == "stuck apply"
    with pytest.raises(LeaseLostError, match="broken"), store.batch(fence=lease):
        store.bump_serial("acme")
    assert store.break_lock("acme") is None


def test_a_fenced_batch_and_a_takeover_never_interleave(open_state: Open, backend: str) -> None:
    """The fence check and the commit are one transaction: a takeover that starts
    while a fenced batch runs waits for it (PostgreSQL row lock; SQLite's one
    writer) and then gets the next epoch; the batch commits under its own."""
    holder = open_state(leaseSeconds=15).store
    other = open_state(leaseSeconds=15).store
    lease = holder.lock("acme", "holder")
    _expire(holder, "acme")
    inside, took = threading.Event(), threading.Event()
    result: list[int] = []

    def takeover() -> None:
        inside.wait(10)
        result.append(other.lock("acme", "taker").epoch)
        took.set()

    t = threading.Thread(target=takeover)
    t.start()
    with holder.batch(fence=lease):
        holder.bump_serial("acme")
        inside.set()
        assert not took.wait(0.5), "the takeover did not wait for the fenced batch"
    t.join(10)
    assert result == [lease.epoch + 1] and holder.serial("acme") == 1
    claims = holder.claims("acme")
    assert claims[0].last_write_at is not None and claims[0].last_write_at <= claims[1].acquired_at


def test_daemon_store_round_trip(open_state: Open) -> None:
    daemon = open_state().daemon
    daemon.set_next_run("contoso", 100.0)
    assert daemon.schedule()["contoso"].next_run_at == 100.0
    daemon.put_meta("daemon", {"pid": 1})
    assert daemon.meta() == {"daemon": {"pid": 1}}
    with pytest.raises(StateError, match="not blocked"):
        daemon.request_override("contoso", 5.0, "cli")


def _expire(store: object, customer: str) -> None:
    """Make `customer`'s lease look expired, as if its holder stopped renewing."""
    from reconciler.state.pgstore import PgStore
    from reconciler.state.store import SqliteStore

    past = time.time() - 3600
    if isinstance(store, PgStore):
        store.db.write(
            "UPDATE {s}.leases SET expires_at=%s WHERE ns=%s AND customer=%s", (past, store.ns, customer)
        )
    else:
        assert isinstance(store, SqliteStore)
        with store.batch():
            store._run("UPDATE leases SET expires_at=? WHERE customer=?", (past, customer))


def test_a_newer_schema_is_refused(open_state: Open, backend: str) -> None:
    first = open_state()
    if backend == "postgres":
        from reconciler.state.pgstore import PgStore

        assert isinstance(first.store, PgStore)
        first.store.db.write("UPDATE {s}.schema_version SET version = 99", ())
    else:
        from reconciler.state.store import SqliteStore

        assert isinstance(first.store, SqliteStore)
        with first.store.batch():
            first.store._run("UPDATE meta SET value='99' WHERE key='schema'")
    with pytest.raises(StateError, match="schema 99 is newer than this reconciler understands"):
        open_state()


def test_a_version_1_sqlite_file_is_migrated_keeping_its_data_and_locks(tmp_path: Path) -> None:
    import sqlite3

    from reconciler.state.sqlite_schema import MIGRATIONS
    from reconciler.state.store import SqliteStore

    path = tmp_path / "old.db"
    db = sqlite3.connect(str(path), isolation_level=None)
    for statement in MIGRATIONS[0].statements:
        db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute("INSERT INTO serials VALUES ('acme', 7)")
    db.execute("INSERT INTO locks VALUES ('acme', 1, 'elsewhere', 'old apply', 100.0)")
    db.close()
    store = SqliteStore(path)
    assert store.serial("acme") == 7
    (lease,) = store.locks()
    assert (lease.holder, lease.host, lease.epoch, lease.expires_at) == ("old apply", "elsewhere", 1, 160.0)
    assert sqlite3.connect(str(path)).execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (
        str(len(MIGRATIONS)),
    )
