"""Planning: account diffs, welcome emails (R16), pause (R10), safety guards."""

from __future__ import annotations

from reconciler.config.models import Safety
from reconciler.core.desired import LiveDirectories, desired_accounts
from reconciler.core.model import (
    DirectorySnapshot,
    IntegrationKind,
    ManagedState,
    PasswordEntry,
    WelcomeStatus,
)
from reconciler.core.plan import ChangeKind, Status
from reconciler.core.planning import CustomerLive, PlanOptions, plan_customer
from tests.core.builders import customer, entra

ENTRA = {"source": "entra"}


def live(*users: object, entries: tuple[PasswordEntry, ...] | None = None) -> CustomerLive:
    dirs = LiveDirectories(entra=DirectorySnapshot(tuple(users)))  # type: ignore[arg-type]
    return CustomerLive(dirs, entries, IntegrationKind.ITGLUE if entries is not None else None)


def managed_from(cust: object, lv: CustomerLive, **kw: object) -> ManagedState:
    accounts = desired_accounts(cust, lv.directories).accounts  # type: ignore[arg-type]
    return ManagedState(serial=3, accounts=dict(accounts), **kw)  # type: ignore[arg-type]


def kinds(plan: object) -> list[tuple[str, str]]:
    return [(c.kind.value, c.label) for c in plan.changes]  # type: ignore[attr-defined]


def test_add_update_remove_with_field_level_diffs() -> None:
    cust = customer(ENTRA)
    before = managed_from(cust, live(entra(1), entra(2), entra(3, display_name="Old")))
    plan = plan_customer(cust, live(entra(1), entra(3, display_name="New"), entra(4)), before, PlanOptions())
    assert kinds(plan) == [
        ("remove", "user2@acme.com"),
        ("update", "user3@acme.com"),
        ("add", "user4@acme.com"),
    ]
    update = plan.changes[1]
    assert [(d.name, d.before, d.after) for d in update.diffs] == [("display_name", "Old", "New")]
    assert plan.changes[0].rule == "R8" and plan.changes[2].rule == "R1"
    assert plan.serial == 3 and plan.status is Status.OK


def test_no_changes_when_state_matches() -> None:
    cust = customer(ENTRA)
    lv = live(entra(1), entra(2))
    assert plan_customer(cust, lv, managed_from(cust, lv), PlanOptions()).changes == ()


def test_r17_flag_change_is_an_update_citing_the_rule() -> None:
    lv = live(entra(1))
    before = managed_from(customer(ENTRA), lv)
    plan = plan_customer(
        customer({"source": "entra", "options": {"selfServe": True}}), lv, before, PlanOptions()
    )
    assert [(c.kind, c.rule) for c in plan.changes] == [(ChangeKind.UPDATE, "R17")]


def test_r16_welcome_once_for_new_accounts_warning_without_email() -> None:
    cust = customer({"source": "entra", "options": {"welcomeEmail": True}})
    lv = live(entra(1), entra(2, mail=None))
    plan = plan_customer(
        cust, lv, ManagedState(), PlanOptions(welcome_template="Hi {given_name} ({upn}) {nope}")
    )
    welcome = [c for c in plan.changes if c.kind is ChangeKind.SEND_WELCOME]
    assert [c.label for c in welcome] == ["user1@acme.com"]
    assert welcome[0].email is not None and welcome[0].email.body == "Hi Given1 (user1@acme.com) "
    assert any("user2@acme.com" in w and "R16" in w for w in plan.warnings)
    # once sent (or already owned without a debt) nothing more is sent
    sent = managed_from(cust, lv, welcome={a: WelcomeStatus.SENT for a in ("end-user/entra:e-1",)})
    assert not [
        c for c in plan_customer(cust, lv, sent, PlanOptions()).changes if c.kind is ChangeKind.SEND_WELCOME
    ]


def test_r16_a_due_welcome_is_sent_and_an_interrupted_one_is_not_resent() -> None:
    cust = customer({"source": "entra", "options": {"welcomeEmail": True}})
    lv = live(entra(1), entra(2))
    state = managed_from(
        cust,
        lv,
        welcome={"end-user/entra:e-1": WelcomeStatus.DUE, "end-user/entra:e-2": WelcomeStatus.PENDING},
    )
    plan = plan_customer(cust, lv, state, PlanOptions())
    assert [c.label for c in plan.changes if c.kind is ChangeKind.SEND_WELCOME] == ["user1@acme.com"]
    assert any("user2@acme.com" in w and "not resent" in w for w in plan.warnings)


def test_r10_paused_customer_is_planned_but_not_applicable() -> None:
    plan = plan_customer(customer(ENTRA, paused=True), live(entra(1)), ManagedState(), PlanOptions())
    assert plan.status is Status.PAUSED and plan.changes and not plan.applicable


def test_mass_removal_guard_threshold_and_floor() -> None:
    cust = customer(ENTRA, safety=Safety(max_removal_percent=30, min_existing_accounts=10))
    users = [entra(i) for i in range(20)]
    state = managed_from(cust, live(*users))
    # 6 of 20 = 30%: allowed; 7 of 20 = 35%: refused
    assert plan_customer(cust, live(*users[6:]), state, PlanOptions()).status is Status.OK
    refused = plan_customer(cust, live(*users[7:]), state, PlanOptions())
    assert refused.status is Status.REFUSED and "7 of 20" in refused.reason
    assert (
        plan_customer(cust, live(*users[7:]), state, PlanOptions(allow_mass_removal=True)).status is Status.OK
    )
    # below the floor of 10 existing accounts, removing most of them is allowed
    small = managed_from(cust, live(*users[:5]))
    assert plan_customer(cust, live(users[0]), small, PlanOptions()).status is Status.OK


def test_a_directory_answering_with_no_users_removes_nothing() -> None:
    cust = customer(ENTRA)
    state = managed_from(cust, live(entra(1), entra(2)))
    plan = plan_customer(cust, live(), state, PlanOptions())
    assert plan.status is Status.REFUSED and "returned no users" in plan.reason


def test_conflict_names_candidates_and_the_pin() -> None:
    cust = customer({"source": "entra", "options": {"passwordEntryMatching": True}})
    entries = (
        PasswordEntry(IntegrationKind.ITGLUE, "10", "a", "user1@acme.com", "Office 365"),
        PasswordEntry(IntegrationKind.ITGLUE, "11", "b", "user1@acme.com", "Azure AD"),
    )
    plan = plan_customer(cust, live(entra(1), entries=entries), ManagedState(), PlanOptions())
    (conflict,) = plan.conflicts
    assert [c[0] for c in conflict.candidates] == ["10", "11"]
    assert conflict.pin == '{account: user1@acme.com, integration: itglue, recordId: "<one of: 10, 11>"}'
    assert not [c for c in plan.changes if c.kind in (ChangeKind.LINK, ChangeKind.CREATE_RECORD)]


def test_removing_every_account_is_refused_whatever_the_count() -> None:
    """Fewer accounts than the percentage floor, but the directory still answers and
    selects nobody (licenses dropped, group renamed): nothing is removed."""
    cust = customer(ENTRA)
    state = managed_from(cust, live(entra(1), entra(2), entra(3)))
    plan = plan_customer(cust, live(entra(1, licensed=False), entra(2, licensed=False)), state, PlanOptions())
    assert plan.status is Status.REFUSED and "all 3 accounts" in plan.reason
    assert plan_customer(cust, live(entra(1)), state, PlanOptions()).status is Status.OK


def test_r16_a_returning_account_is_not_welcomed_twice() -> None:
    cust = customer({"source": "entra", "options": {"welcomeEmail": True}})
    state = ManagedState(welcome={"end-user/entra:e-1": WelcomeStatus.SENT})
    plan = plan_customer(cust, live(entra(1)), state, PlanOptions())
    assert [c.kind for c in plan.changes] == [ChangeKind.ADD]
