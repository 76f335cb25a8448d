"""The `StateStore` and `DaemonStore` contracts (reconciler/state/api.py), method by
method, on both backends: a real SQLite file and a real PostgreSQL cluster. Each
method is called and what it wrote is read back through a second store on the
same state (another process's view), so a method that exists on one backend only,
or behaves differently on the other, fails here. The last test checks that this
file calls every member of both protocols; mypy --strict proves the classes
satisfy them (reconciler/state/backend.py)."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.core.model import Account, AccountClass, DirSource, IntegrationKind, Link, WelcomeStatus
from reconciler.errors import LeaseLostError, LockHeldError, StateError
from reconciler.state.api import LEADER, CustomerRecord, DaemonStore, Replica, StateStore
from tests.state.conftest import Open

HUDU, ITGLUE = IntegrationKind.HUDU, IntegrationKind.ITGLUE


def _account(n: int, cls: AccountClass = AccountClass.END_USER) -> Account:
    return Account(f"{cls.value}/entra:{n}", cls, (DirSource.ENTRA,), f"u{n}@x.com", mail=f"u{n}@x.com")


A1, A2 = _account(1), _account(2)


def test_accounts_links_welcome_fingerprints_detached(open_state: Open) -> None:
    store, other = open_state().store, open_state().store
    assert store.load("c").serial == 0 and store.customers() == []
    with store.batch():
        store.put_account("c", A1)
        store.put_account("c", A2)
        store.put_link("c", Link(A1.key, HUDU, "h1"))
        store.put_link("c", Link(A1.key, ITGLUE, "i1"))
        store.put_fingerprint("c", A1.key, HUDU, "fp-h1")
        store.set_welcome("c", A1.key, WelcomeStatus.SENT)
        store.set_detached("c", A2.key, HUDU, "h-old")
        assert store.bump_serial("c") == 1
    seen = other.load("c")
    assert seen.serial == 1 and other.serial("c") == 1 and other.count_accounts("c") == 2
    assert seen.accounts == {A1.key: A1, A2.key: A2}
    assert {k: link.record_id for k, link in seen.links.items()} == {
        (A1.key, HUDU): "h1",
        (A1.key, ITGLUE): "i1",
    }
    assert seen.fingerprints == {(A1.key, HUDU): "fp-h1"}
    assert seen.welcome == {A1.key: WelcomeStatus.SENT}
    assert seen.detached == {(A2.key, HUDU): "h-old"}
    assert other.customers() == ["c"]
    with store.batch():
        store.put_link("c", Link(A1.key, HUDU, "h2"))  # an upsert, not a second row
        store.put_fingerprint("c", A1.key, HUDU, "fp-h2")
        store.set_detached("c", A2.key, HUDU, None)
        store.remove_link("c", A1.key, ITGLUE)
    seen = other.load("c")
    assert {k: link.record_id for k, link in seen.links.items()} == {(A1.key, HUDU): "h2"}
    assert seen.fingerprints == {(A1.key, HUDU): "fp-h2"} and seen.detached == {}
    with store.batch():
        store.remove_link("c", A1.key, HUDU)  # its fingerprint goes with it
    assert other.load("c").fingerprints == {}
    with store.batch():
        store.put_link("c", Link(A1.key, HUDU, "h3"))
        store.put_fingerprint("c", A1.key, HUDU, "fp-h3")
        store.remove_account("c", A1.key)
    seen = other.load("c")
    assert set(seen.accounts) == {A2.key} and seen.links == {} and seen.fingerprints == {}
    assert seen.welcome == {A1.key: WelcomeStatus.SENT}  # R16: never welcomed twice
    with store.batch():
        store.forget_welcome("c", A1.key)  # `state rm --forget-welcome`
    assert other.load("c").welcome == {}


def test_move_account_takes_links_welcome_fingerprints_and_detached_along(open_state: Open) -> None:
    """A class change (end user -> admin): same account, new key; nothing is created
    or welcomed again. A welcome record already under the new key is kept."""
    store, other = open_state().store, open_state().store
    admin = Account(f"admin/entra:{1}", AccountClass.ADMIN, (DirSource.ENTRA,), "u1@x.com", mail="u1@x.com")
    with store.batch():
        store.put_account("c", A1)
        store.put_link("c", Link(A1.key, HUDU, "h1"))
        store.put_link("c", Link(admin.key, HUDU, "stale"))  # replaced by the moved link
        store.put_fingerprint("c", A1.key, HUDU, "fp")
        store.set_detached("c", A1.key, ITGLUE, "i-old")
        store.set_welcome("c", A1.key, WelcomeStatus.SENT)
        store.set_welcome("c", A2.key, WelcomeStatus.SENT)
        store.put_account("c", A2)
    with store.batch():
        store.move_account("c", A1.key, admin)
    seen = other.load("c")
    assert set(seen.accounts) == {admin.key, A2.key}
    assert {k: link.record_id for k, link in seen.links.items()} == {(admin.key, HUDU): "h1"}
    assert seen.fingerprints == {(admin.key, HUDU): "fp"}
    assert seen.detached == {(admin.key, ITGLUE): "i-old"}
    assert seen.welcome == {admin.key: WelcomeStatus.SENT, A2.key: WelcomeStatus.SENT}
    back = _account(2, AccountClass.ADMIN)
    with store.batch():
        store.set_welcome("c", back.key, WelcomeStatus.DUE)
        store.move_account("c", A2.key, back)
    assert other.load("c").welcome[back.key] is WelcomeStatus.DUE  # the one under the new key stays


def test_many_row_writes_links_fingerprints_and_journal(open_state: Open) -> None:
    store, other = open_state().store, open_state().store
    with store.batch():
        store.put_account("c", A1)
        store.put_links("c", [Link(A1.key, HUDU, "h1"), Link(A1.key, ITGLUE, "i1")])
        store.put_fingerprints("c", [(A1.key, HUDU, "fp-h"), (A1.key, ITGLUE, "fp-i")])
    seen = other.load("c")
    assert {k: link.record_id for k, link in seen.links.items()} == {
        (A1.key, HUDU): "h1",
        (A1.key, ITGLUE): "i1",
    }
    assert seen.fingerprints == {(A1.key, HUDU): "fp-h", (A1.key, ITGLUE): "fp-i"}
    renamed = replace(A1, upn="renamed@acme.example")
    with store.batch():  # many accounts in one write; an existing key is updated, not doubled
        store.put_accounts("c", [A2, renamed])
        store.put_accounts("c", [])
    assert other.load("c").accounts == {A1.key: renamed, A2.key: A2}
    ids = store.journal_open_many("c", [("create hudu", "c/k1"), ("create itglue", "c/k2")])
    assert len(set(ids)) == 2
    assert [(j.id, j.op, j.marker) for j in other.journal_pending("c")] == [
        (ids[0], "create hudu", "c/k1"),
        (ids[1], "create itglue", "c/k2"),
    ]
    with store.batch():
        store.journal_close_many([(ids[0], "done", "h9"), (ids[1], "failed", "HTTP 500")])
    assert other.journal_pending("c") == []
    lease = store.lock("c", "holder")
    store.break_lock("c", force=True)
    with pytest.raises(LeaseLostError):
        store.journal_open_many("c", [("create hudu", "c/k3")], fence=lease)
    assert other.journal_pending("c") == []


def test_lineage_and_adopted_lineages(open_state: Open) -> None:
    store, other = open_state().store, open_state().store
    lineage = store.lineage()
    assert lineage and other.lineage() == lineage  # one per state (namespace), created once
    assert store.adopted_lineages("c") == frozenset()
    with store.batch():
        store.adopt_lineages("c", frozenset({"old-1", lineage}))  # our own is never "adopted"
    with store.batch():
        store.adopt_lineages("c", frozenset({"old-2"}))  # merged, not replaced
    assert other.adopted_lineages("c") == frozenset({"old-1", "old-2"})
    assert other.load("c").adopted == frozenset({"old-1", "old-2"}) and other.load("c").lineage == lineage
    assert other.adopted_lineages("d") == frozenset()


def test_a_failed_batch_writes_nothing_and_durable_batches_commit(open_state: Open) -> None:
    store, other = open_state().store, open_state().store
    with pytest.raises(RuntimeError), store.batch():
        store.put_account("c", A1)
        store.set_welcome("c", A1.key, WelcomeStatus.PENDING)
        store.bump_serial("c")
        raise RuntimeError("boom")
    assert other.load("c").accounts == {} and other.serial("c") == 0
    with store.batch(durable=True):
        store.set_welcome("c", A1.key, WelcomeStatus.PENDING)
    assert other.load("c").welcome == {A1.key: WelcomeStatus.PENDING}


def test_cursors_journal_and_runs(open_state: Open) -> None:
    store, other = open_state().store, open_state().store
    assert store.get_cursor("c", "graph.delta") is None
    store.put_cursor("c", "graph.delta", "token-1")
    store.put_cursor("c", "graph.delta", "token-2")
    assert other.get_cursor("c", "graph.delta") == "token-2"
    store.put_cursor("c", "graph.delta", None)
    assert other.get_cursor("c", "graph.delta") is None
    j1 = store.journal_open("c", "create hudu", "c/k1")
    j2 = store.journal_open("c", "create hudu", "c/k2")
    assert [(j.id, j.marker, j.status) for j in other.journal_pending("c")] == [
        (j1, "c/k1", "open"),
        (j2, "c/k2", "open"),
    ]
    with store.batch():
        store.journal_close(j1, "done", "h1")
    store.journal_close(j2, "failed", "HTTP 500")  # outside a batch too
    assert other.journal_pending("c") == []
    assert store.last_run("c") is None and store.last_runs() == {}
    for n in range(3):
        store.record_run("c", float(n), "applied", {"applied": n})
    store.record_run("d", 9.0, "failed", {"error": "x"})
    last = other.last_run("c")
    assert last is not None and last[0] == 2.0 and last[2] == "applied" and last[3] == {"applied": 2}
    everyone = other.last_runs()  # one query for the fleet
    assert {k: (v[0], v[2], v[3]) for k, v in everyone.items()} == {
        "c": (2.0, "applied", {"applied": 2}),
        "d": (9.0, "failed", {"error": "x"}),
    }
    assert store.prune_runs(1) == 2
    assert other.last_run("c") is not None and store.prune_runs(1) == 0


def test_leases_renew_release_unlock_break_and_claims(open_state: Open) -> None:
    store, other = open_state(leaseSeconds=15).store, open_state(leaseSeconds=15).store
    assert store.lease_seconds == 15
    lease = store.lock("c", "apply one")
    with pytest.raises(LockHeldError, match="apply one"):
        other.lock("c", "apply two")
    seen = other.lease_of("c")
    assert seen is not None and (seen.holder, seen.epoch) == ("apply one", lease.epoch)
    assert [x.customer for x in other.locks()] == ["c"]
    renewed = store.renew(lease)
    assert renewed.epoch == lease.epoch and renewed.expires_at >= lease.expires_at
    store.release(renewed)
    assert other.lease_of("c") is None and other.locks() == []
    second = other.lock("c", "apply two")
    assert second.epoch == lease.epoch + 1
    with pytest.raises(LeaseLostError):
        store.renew(lease)
    other.unlock("c")  # whatever this process holds on c
    assert store.lease_of("c") is None
    third = store.lock("c", "stuck")
    with pytest.raises(LockHeldError, match="--force"):
        other.break_lock("c")
    broken = other.break_lock("c", force=True)
    assert broken is not None and broken.holder == "stuck"
    with pytest.raises(LeaseLostError), store.batch(fence=third):
        store.bump_serial("c")
    assert other.break_lock("c") is None
    claims = other.claims("c")
    assert [c.epoch for c in claims] == [lease.epoch, second.epoch, third.epoch]
    assert claims[0].released_at is not None and claims[1].released_at is not None
    leader = store.lock(LEADER, "daemon")  # the daemon's own leases are not customers'
    assert other.locks() == [] and other.lease_of(LEADER) == leader


def test_claim_due_takes_only_due_unleased_customers_up_to_the_limit(open_state: Open) -> None:
    b = open_state(leaseSeconds=15)
    store, daemon = b.store, b.daemon
    other = open_state(leaseSeconds=15).store
    now = time.time()
    daemon.set_next_run("later", now + 3600)
    daemon.set_next_run("due-1", now - 10)
    daemon.set_next_run("due-2", now - 5)
    held = store.lock("held", "a person's apply")
    got = other.claim_due(["due-1", "later", "held", "new", "due-2"], now, 2, "reconciler daemon")
    assert [x.customer for x in got] == ["due-1", "new"]  # in their order; "new" has no row yet: due
    assert all(x.holder == "reconciler daemon" for x in got)
    assert [x.customer for x in store.claim_due(["due-1", "due-2", "held"], now, 5, "d")] == ["due-2"]
    assert store.claim_due([], now, 5, "d") == [] and store.claim_due(["later"], now, 0, "d") == []
    assert store.lease_of("held") == held


def test_daemon_records_schedules_overrides_and_briefs(open_state: Open) -> None:
    daemon, other = open_state().daemon, open_state().daemon
    assert daemon.get("c") is None and daemon.all() == {} and daemon.briefs() == []
    rec = CustomerRecord(
        "c",
        next_run_at=50.0,
        last_started_at=10.0,
        last_finished_at=11.0,
        last_result="blocked",
        last_message="mass removal",
        last_commit="abc",
        changes_pending=3,
        conflicts=({"label": "x", "integration": "hudu", "cause": "two", "candidates": []},),
        failures=1,
        blocked_reason="would remove 3 of 4 accounts",
        blocked_since=11.0,
        blocked_removals=("a", "b", "c"),
    )
    daemon.save_run(rec)
    assert other.get("c") == rec and other.all() == {"c": rec}
    assert other.schedule()["c"].next_run_at == 50.0 and other.schedule()["c"].failures == 1
    daemon.set_next_run("c", 60.0)
    assert other.schedule()["c"].next_run_at == 60.0
    asked = other.request_override("c", 70.0, "cli on host")
    assert asked.override_at == 70.0 and asked.override_removals == ("a", "b", "c")
    daemon.save_run(CustomerRecord("c", **{**_run_fields(rec), "last_message": "again"}))
    kept = other.get("c")
    assert (
        kept is not None and kept.override_at == 70.0 and kept.override_by == "cli on host"
    )  # not overwritten
    (brief,) = other.briefs()
    assert (brief.customer, brief.conflicts, brief.blocked_removals, brief.override_pending) == (
        "c",
        1,
        3,
        True,
    )
    daemon.clear_override("c", 69.0)  # not the override it used: kept
    assert other.get("c").override_at == 70.0  # type: ignore[union-attr]
    daemon.clear_override("c", 70.0)
    assert other.get("c").override_at is None  # type: ignore[union-attr]
    with pytest.raises(StateError, match="not blocked"):
        daemon.request_override("unknown", 1.0, "cli")


def _run_fields(rec: CustomerRecord) -> dict[str, object]:
    out = rec.to_dict()
    out.pop("customer")
    for name in ("conflicts", "blocked_removals", "override_removals"):
        out[name] = tuple(out[name])
    return out


def test_daemon_meta_replicas_history_and_records(open_state: Open) -> None:
    daemon, other = open_state().daemon, open_state().daemon
    daemon.put_meta("config_commit", "abc")
    daemon.put_meta("daemon", {"pid": 1})
    daemon.put_meta("config_commit", "def")
    assert other.meta() == {"config_commit": "def", "daemon": {"pid": 1}}
    r = Replica("h:1", "h", 1, "0.1", 1.0, 2.0, ("c",))
    daemon.beat(r)
    daemon.beat(Replica("h:1", "h", 1, "0.1", 1.0, 3.0, ()))
    daemon.beat(Replica("h:2", "h", 2, "0.1", 1.0, 3.0, (), stopped_at=4.0))
    assert sorted((x.id, x.heartbeat, x.current, x.stopped_at) for x in other.replicas()) == [
        ("h:1", 3.0, (), None),
        ("h:2", 3.0, (), 4.0),
    ]
    for n in range(5):
        daemon.add_history("c", {"n": n}, keep=3)
    daemon.add_history("d", {"n": 9})
    assert [e["n"] for e in other.history("c")] == [4, 3, 2]  # newest first, the oldest dropped
    assert [e["n"] for e in other.history("c", 1)] == [4]
    assert other.latest_history() == {"c": {"n": 4}, "d": {"n": 9}}  # one query for the fleet
    assert daemon.get_record("alert", "c|x") is None
    assert daemon.add_record("alert", "c|x", {"since": 1}) is True
    assert other.add_record("alert", "c|x", {"since": 2}) is False  # one claimer wins
    daemon.put_record("alert", "c|x", {"since": 3})
    daemon.put_record("plan", "c", {"changes": 1})
    assert other.get_record("alert", "c|x") == {"since": 3}
    assert other.records("alert") == {"c|x": {"since": 3}} and other.records("plan") == {"c": {"changes": 1}}
    # compare and set: only while the record still is what the writer read
    assert other.replace_record("alert", "c|x", {"since": 3}, {"since": 4}) is True
    assert daemon.replace_record("alert", "c|x", {"since": 3}, {"since": 5}) is False
    assert other.get_record("alert", "c|x") == {"since": 4}
    daemon.put_record("alert", "c|x", None)
    assert other.records("alert") == {}


def test_close_releases_the_backend(open_state: Open, tmp_path: Path) -> None:
    b = open_state()
    b.store.close()
    b.daemon.close()
    again = open_state()
    assert again.store.serial("c") == 0 and again.daemon.meta() == {}


def _members(protocol: type) -> set[str]:
    own = {n for n in vars(protocol) if not n.startswith("_")}
    return own | set(getattr(protocol, "__annotations__", {}))


def test_this_file_calls_every_protocol_member() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    called = set(re.findall(r"\.(\w+)\b", source))
    missing = sorted((_members(StateStore) | _members(DaemonStore)) - called)
    assert missing == [], f"protocol members with no contract test: {missing}"
