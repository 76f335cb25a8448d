"""The link guard (#12): vanishing linked records are a removal too (R12, R14, R18)."""

from __future__ import annotations

from reconciler.config.models import Safety
from reconciler.core.guards import link_guard, recreate_guard
from reconciler.core.model import IntegrationKind, Link, ManagedState, PasswordEntry, PsaContact
from reconciler.core.plan import ChangeKind, RecreateRecord, Status
from reconciler.core.planning import PlanOptions, plan_customer
from tests.core.builders import customer, entra
from tests.core.test_planning import live, managed_from

ITG = IntegrationKind.ITGLUE
OPTS = {"source": "entra", "options": {"passwordEntryMatching": True}}


def entry(n: int, **kw: object) -> PasswordEntry:
    return PasswordEntry(ITG, str(100 + n), f"User {n}", f"user{n}@acme.com", "Office 365", **kw)  # type: ignore[arg-type]


def linked_state(cust: object, n: int) -> ManagedState:
    users = [entra(i) for i in range(n)]
    base = managed_from(cust, live(*users))
    links = {(k, ITG): Link(k, ITG, str(100 + i)) for i, k in enumerate(sorted(base.accounts, key=_num))}
    return ManagedState(base.serial, base.accounts, links, base.welcome)


def _num(key: str) -> int:
    return int(key.rsplit("-", 1)[1])


def test_an_empty_list_with_links_is_a_failed_read_whatever_the_floor() -> None:
    cust = customer(OPTS)
    state = linked_state(cust, 2)  # far below minExistingAccounts
    plan = plan_customer(cust, live(entra(0), entra(1), entries=()), state, PlanOptions())
    assert plan.status is Status.REFUSED
    assert "IT Glue answered with no records while 2 accounts are linked" in plan.reason
    assert "nothing created" in plan.reason and "--allow-mass-removal" in plan.reason
    # the plan shows what the override would do: re-create both, naming the old ids
    recreated = [(c.old_record_id, c.label) for c in plan.changes if isinstance(c, RecreateRecord)]
    assert recreated == [("100", "user0@acme.com"), ("101", "user1@acme.com")]
    assert not [c for c in plan.changes if c.kind is ChangeKind.CREATE_RECORD]


def test_mass_vanishing_is_refused_above_the_threshold_and_floor() -> None:
    cust = customer(OPTS)
    state = linked_state(cust, 10)
    users = [entra(i) for i in range(10)]
    seven = tuple(entry(i) for i in range(7))  # 3 of 10 vanish: 30%, not more
    assert plan_customer(cust, live(*users, entries=seven), state, PlanOptions()).status is Status.OK
    six = tuple(entry(i) for i in range(6))  # 4 of 10: 40% > 30%
    refused = plan_customer(cust, live(*users, entries=six), state, PlanOptions())
    assert refused.status is Status.REFUSED
    assert "IT Glue: 4 of 10 linked records are missing from the answer (40% > 30% limit)" in refused.reason
    forced = plan_customer(cust, live(*users, entries=six), state, PlanOptions(allow_mass_removal=True))
    assert forced.status is Status.OK
    assert forced.count(ChangeKind.RECREATE_RECORD) == 4 and forced.count(ChangeKind.CREATE_RECORD) == 0


def test_one_really_deleted_record_is_a_recreate_record_change() -> None:
    cust = customer(OPTS)
    state = linked_state(cust, 3)
    users = [entra(i) for i in range(3)]
    plan = plan_customer(cust, live(*users, entries=(entry(0), entry(2))), state, PlanOptions())
    assert plan.status is Status.OK
    (change,) = plan.changes
    assert isinstance(change, RecreateRecord)
    assert (change.kind, change.old_record_id, change.label) == (
        ChangeKind.RECREATE_RECORD,
        "101",
        "user1@acme.com",
    )
    assert "linked record 101 no longer exists" in change.reason


def test_archived_and_inactive_records_count_as_vanished_and_every_link_gone_is_refused() -> None:
    links = [Link(f"k{i}", ITG, str(100 + i)) for i in range(3)]
    archived = [entry(i, archived=True) for i in range(3)]
    assert "all 3 linked records are missing" in (link_guard(Safety(), ITG, links, archived) or "")
    cw = IntegrationKind.CONNECTWISE
    contacts = [PsaContact(cw, "7", "A", "B", active=False), PsaContact(cw, "8", "C", "D")]
    one = [Link("k", cw, "7")]
    assert link_guard(Safety(), cw, one, contacts) is None  # one of one: a real deletion may happen
    assert link_guard(Safety(), cw, one, []) is not None  # but an empty answer never passes


def test_links_of_other_integrations_are_not_counted() -> None:
    hudu = [Link(f"k{i}", IntegrationKind.HUDU, str(i)) for i in range(5)]
    assert link_guard(Safety(), ITG, hudu, []) is None


def test_recreate_guard_counts_a_saved_plans_recreates_against_state() -> None:
    safety = Safety(max_removal_percent=30, min_existing_accounts=4)
    assert recreate_guard(safety, {ITG: 10}, {ITG: 3}) is None
    refusal = recreate_guard(safety, {ITG: 10}, {ITG: 4})
    assert refusal is not None and refusal.startswith("IT Glue: would re-create records: 4 of 10")
    assert recreate_guard(safety, {}, {ITG: 1}) is not None


def test_no_links_no_guard_and_plain_creates_stay_create_record() -> None:
    cust = customer(OPTS)
    plan = plan_customer(cust, live(entra(1), entries=()), ManagedState(), PlanOptions())
    assert plan.status is Status.OK
    assert [c.kind for c in plan.changes] == [ChangeKind.ADD, ChangeKind.CREATE_RECORD]
