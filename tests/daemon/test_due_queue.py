"""The scheduler's due queue: a cycle takes only the due customers, once each."""

from __future__ import annotations

from reconciler.daemon.duequeue import POLL_SECONDS, DueQueue


def test_only_due_customers_come_out_earliest_first() -> None:
    q = DueQueue()
    q.rebuild([(30.0, "c"), (10.0, "a"), (20.0, "b")], "digest", 0.0)
    assert q.pop_due(20.0) == [(10.0, "a"), (20.0, "b")]
    assert q.pop_due(25.0) == []
    assert q.first(default=99.0) == 30.0


def test_a_rescheduled_customer_counts_once_at_its_new_time() -> None:
    q = DueQueue()
    q.rebuild([(10.0, "a")], "digest", 0.0)
    q.push(50.0, "a")  # its run moved it later: the old entry is stale
    assert q.pop_due(40.0) == []
    assert q.first(default=99.0) == 50.0
    assert q.pop_due(50.0) == [(50.0, "a")]
    assert q.first(default=99.0) == 99.0


def test_rebuilt_on_a_new_config_and_every_poll() -> None:
    q = DueQueue()
    assert q.stale("d1", 0.0)
    q.rebuild([], "d1", 0.0)
    assert not q.stale("d1", POLL_SECONDS - 0.1)
    assert q.stale("d2", 1.0)
    assert q.stale("d1", POLL_SECONDS)


def test_a_cycle_takes_no_more_due_customers_than_it_asks_for() -> None:
    """With thousands due (after an outage, a verification round, #16) a cycle takes off
    the heap only what its free slots can start; the rest stay, in overdue order."""
    q = DueQueue()
    q.rebuild([(float(i), f"c{i:04d}") for i in range(1000)], "digest", 0.0)
    assert q.pop_due(5000.0, limit=3) == [(0.0, "c0000"), (1.0, "c0001"), (2.0, "c0002")]
    assert q.pop_due(5000.0, limit=0) == []
    assert q.first(default=-1.0) == 3.0
    rest = q.pop_due(5000.0)
    assert len(rest) == 997 and rest[0] == (3.0, "c0003")
