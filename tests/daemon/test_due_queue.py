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
