"""The SQLite state store: what only SQLite does (a real file); the contract both
backends share is in test_backends.py."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import Account, AccountClass, DirSource, IntegrationKind, Link, WelcomeStatus
from reconciler.errors import LockHeldError
from reconciler.state import store as store_module
from reconciler.state.api import Lease
from reconciler.state.store import SqliteStore


def account(n: int) -> Account:
    return Account(
        f"end-user/entra:{n}", AccountClass.END_USER, (DirSource.ENTRA,), f"u{n}@x.com", mail=f"u{n}@x.com"
    )


def test_round_trip_and_serial(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    with store.batch():
        store.put_account("c", account(1))
        store.put_link("c", Link(account(1).key, IntegrationKind.HUDU, "9"))
        store.set_welcome("c", account(1).key, WelcomeStatus.DUE)
        assert store.bump_serial("c") == 1
    again = SqliteStore(tmp_path / "s.db").load("c")
    assert again.serial == 1
    assert again.accounts == {account(1).key: account(1)}
    assert again.links[(account(1).key, IntegrationKind.HUDU)].record_id == "9"
    assert again.welcome == {account(1).key: WelcomeStatus.DUE}


def test_a_failed_batch_leaves_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    with pytest.raises(RuntimeError), store.batch():
        store.put_account("c", account(1))
        store.bump_serial("c")
        raise RuntimeError("boom")
    assert store.load("c").accounts == {} and store.serial("c") == 0


def test_remove_account_forgets_links_but_keeps_the_welcome_record(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    with store.batch():
        store.put_account("c", account(1))
        store.put_link("c", Link(account(1).key, IntegrationKind.HUDU, "9"))
        store.set_welcome("c", account(1).key, WelcomeStatus.SENT)
    with store.batch():
        store.remove_account("c", account(1).key)
    state = store.load("c")
    assert not state.accounts and not state.links
    assert state.welcome == {account(1).key: WelcomeStatus.SENT}  # R16: never welcomed twice


HOLD = """
import sys, time
from pathlib import Path
from reconciler.state import store as store_module
from reconciler.state.store import SqliteStore
store = SqliteStore(Path(sys.argv[1]))
store.lock("acme", "reconciler apply (test holder)")
print("locked", flush=True)
time.sleep(60)
"""


def test_second_locker_fails_at_once_naming_the_holder_then_a_dead_holder_is_taken_over(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        store = SqliteStore(db)
        started = time.monotonic()
        with pytest.raises(LockHeldError) as err:
            store.lock("acme", "second")
        assert time.monotonic() - started < 2
        assert f"pid {holder.pid}" in str(err.value) and "test holder" in str(err.value)
        assert "process is gone" not in str(err.value)
        with pytest.raises(LockHeldError, match="still running"):
            store.break_lock("acme")
    finally:
        holder.kill()
        holder.wait()
    # one machine: a holder whose process is gone is certainly gone, so its lease is taken over
    lease = store.lock("acme", "third")
    assert lease.epoch == 2 and lease.pid == os.getpid()
    assert [c.epoch for c in store.claims("acme")] == [1, 2]
    store.unlock("acme")
    assert store.locks() == []


def test_journal_and_cursors(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    jid = store.journal_open("c", "create itglue", "c/k1")
    assert [j.marker for j in SqliteStore(tmp_path / "s.db").journal_pending("c")] == ["c/k1"]
    with store.batch():
        store.journal_close(jid, "done", "42")
    assert store.journal_pending("c") == []
    store.put_cursor("c", "graph.delta", "https://x/delta?token=1")
    assert SqliteStore(tmp_path / "s.db").get_cursor("c", "graph.delta") == "https://x/delta?token=1"
    store.put_cursor("c", "graph.delta", None)
    assert store.get_cursor("c", "graph.delta") is None


def test_a_read_in_one_thread_never_breaks_a_write_in_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's and the daemon's threads share the store's connection. A read
    left stepping in one thread pins an old WAL snapshot; once another connection
    (the daemon's state, a person's CLI) commits, a `BEGIN IMMEDIATE` on the
    shared connection fails at once with "database is locked" - and when that is
    `unlock`, the customer stays locked."""
    store = SqliteStore(tmp_path / "s.db")
    for customer in ("fabrikam", "northwind"):
        store.lock(customer, "a run already going")
    other = sqlite3.connect(str(tmp_path / "s.db"), isolation_level=None)
    paused, resume = threading.Event(), threading.Event()
    make_info = store_module.Lease

    def slow_info(*row: Any) -> Lease:  # the reader stops between two rows
        if not paused.is_set():
            paused.set()
            resume.wait(10)
        return make_info(*row)

    monkeypatch.setattr(store_module, "Lease", slow_info)
    reader = threading.Thread(target=store.locks)
    reader.start()
    errors: list[BaseException] = []
    try:
        assert paused.wait(10), "the reader did not start"
        other.execute("INSERT INTO meta VALUES ('elsewhere', 'x')")  # another connection commits

        def lock() -> None:
            try:
                store.lock("acme", "writer")
            except BaseException as exc:
                errors.append(exc)

        writer = threading.Thread(target=lock)
        writer.start()
        writer.join(1)  # if it must wait for the read, the read goes on below
    finally:
        resume.set()
        reader.join()
    writer.join()
    monkeypatch.undo()
    assert errors == []
    assert [lk.customer for lk in store.locks()] == ["acme", "fabrikam", "northwind"]
    other.close()
    store.close()
