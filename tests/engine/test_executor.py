"""The apply executor: failures become outcomes, state reflects only what happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.apply.executor import apply_customer
from reconciler.core.model import (
    Account,
    AccountClass,
    DirSource,
    IntegrationKind,
    NewPasswordEntry,
    PasswordEntry,
    WelcomeEmail,
    WelcomeStatus,
)
from reconciler.core.plan import (
    AddAccount,
    Change,
    ChangeKind,
    CreateRecord,
    CustomerPlan,
    SendWelcome,
    Status,
)
from reconciler.errors import NotDelivered, ProviderError, StalePlanError
from reconciler.providers.base import CustomerProviders
from reconciler.providers.files import FileVault
from reconciler.state.store import SqliteStore


class FlakyVault:
    """A stand-in for an external password manager that refuses one username."""

    kind = IntegrationKind.HUDU

    def __init__(self, refuse: str) -> None:
        self.refuse = refuse
        self.created: list[NewPasswordEntry] = []

    def list_entries(self) -> list[PasswordEntry]:
        return []

    def create_entry(self, new: NewPasswordEntry) -> PasswordEntry:
        if new.username == self.refuse:
            raise ProviderError("acme/hudu", "POST /asset_passwords: HTTP 422: name is invalid")
        self.created.append(new)
        return PasswordEntry(self.kind, str(100 + len(self.created)), new.name, new.username, new.category)


def plan_for(n: int, serial: int = 0) -> CustomerPlan:
    changes: list[Change] = []
    for i in range(n):
        acct = Account(f"end-user/entra:{i}", AccountClass.END_USER, (DirSource.ENTRA,), f"u{i}@acme.com")
        changes.append(AddAccount(acct.key, acct.upn, "R1", "new", acct))
    for i in range(n):
        new = NewPasswordEntry(f"U{i}", f"u{i}@acme.com", "Office 365", f"acme/end-user/entra:{i}")
        changes.append(
            CreateRecord(f"end-user/entra:{i}", f"u{i}@acme.com", "R12", "none", IntegrationKind.HUDU, new)
        )
    return CustomerPlan("acme", Status.OK, serial, tuple(changes))


def test_a_failed_create_does_not_stop_the_others(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    vault = FlakyVault(refuse="u1@acme.com")
    result = apply_customer(plan_for(3), CustomerProviders(vault=vault), store, batch_size=2)
    assert [(o.change.kind.value, o.change.label, o.ok) for o in result.outcomes if not o.ok] == [
        ("create-record", "u1@acme.com", False)
    ]
    assert "HTTP 422" in result.failed[0].message
    state = store.load("acme")
    assert len(state.accounts) == 3
    assert sorted(k for k, _ in state.links) == ["end-user/entra:0", "end-user/entra:2"]
    assert [j.status for j in store.journal_pending("acme")] == []  # failed intents are closed


def test_accounts_commit_in_batches_r11(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    ticks: list[int] = []
    apply_customer(
        plan_for(5), CustomerProviders(vault=FlakyVault("")), store, batch_size=2, progress=ticks.append
    )
    assert ticks == [2, 2, 1, 2, 2, 1]  # three account batches, then three batches of creates
    assert store.serial("acme") == 3 + 3  # one bump per committed batch


def test_file_twin_records_of_a_batch_land_together_with_their_links(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    vault = FileVault(tmp_path / "live" / "hudu.json", IntegrationKind.HUDU, "acme")
    result = apply_customer(plan_for(5), CustomerProviders(vault=vault), store, batch_size=2)
    assert result.failed == []
    entries = vault.list_entries()
    assert [e.id for e in entries] == ["1001", "1002", "1003", "1004", "1005"]
    links = store.load("acme").links
    assert {links[(f"end-user/entra:{i}", IntegrationKind.HUDU)].record_id for i in range(5)} == {
        e.id for e in entries
    }
    assert store.journal_pending("acme") == []


def test_an_intent_left_open_links_the_record_it_made_instead_of_creating_again(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    vault = FileVault(tmp_path / "hudu.json", IntegrationKind.HUDU, "acme")
    made = vault.create_entry(NewPasswordEntry("U1", "u1@acme.com", "Office 365", "acme/end-user/entra:1"))
    store.journal_open("acme", "create hudu", "acme/end-user/entra:1")  # a run killed after the create
    result = apply_customer(plan_for(3), CustomerProviders(vault=vault), store)
    assert result.failed == []
    assert len(vault.list_entries()) == 3
    assert store.load("acme").links[("end-user/entra:1", IntegrationKind.HUDU)].record_id == made.id
    assert store.journal_pending("acme") == []


def test_stale_serial_is_refused_before_anything_happens(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    with store.batch():
        store.bump_serial("acme")
    vault = FlakyVault("")
    with pytest.raises(StalePlanError, match="plan again"):
        apply_customer(plan_for(2, serial=0), CustomerProviders(vault=vault), store)
    assert store.load("acme").accounts == {} and vault.created == []


class RefusingMailer:
    """A stand-in mail server: refuses the first message outright, accepts the rest."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, mail: object) -> None:
        self.calls += 1
        if self.calls == 1:
            raise NotDelivered("acme/smtp", "550 mailbox unavailable")


def test_r16_a_refused_welcome_stays_owed_and_an_accepted_one_is_sent(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    changes = []
    for i in range(2):
        acct = Account(f"end-user/entra:{i}", AccountClass.END_USER, (DirSource.ENTRA,), f"u{i}@acme.com")
        changes.append(AddAccount(acct.key, acct.upn, "R1", "new", acct))
    for i in range(2):
        mail = WelcomeEmail(f"u{i}@acme.com", "Welcome", "Hi", f"acme/end-user/entra:{i}")
        changes.append(SendWelcome(f"end-user/entra:{i}", f"u{i}@acme.com", "R16", "new", mail))
    mailer = RefusingMailer()
    result = apply_customer(
        CustomerPlan("acme", Status.OK, 0, tuple(changes)), CustomerProviders(mailer=mailer), store
    )
    assert [o.ok for o in result.outcomes if o.change.kind is ChangeKind.SEND_WELCOME] == [False, True]
    assert store.load("acme").welcome == {
        "end-user/entra:0": WelcomeStatus.DUE,
        "end-user/entra:1": WelcomeStatus.SENT,
    }


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a SQLite pragma
def test_welcome_pending_and_sent_commit_with_synchronous_full(quickstart: Path) -> None:
    """#12: the commits that record a welcome email's `pending` and `sent` run with
    synchronous=FULL (SQLite fsyncs the WAL before COMMIT returns); the others keep
    NORMAL. Seen through SQLite's own statement trace of the real apply."""
    from reconciler.config import load_valid_config
    from reconciler.engine import Engine

    engine = Engine.open(load_valid_config(quickstart))
    trace: list[str] = []
    engine.store._db.set_trace_callback(trace.append)
    plan = engine.plan(["contoso"])
    assert plan.customers[0].count(ChangeKind.SEND_WELCOME) == 5
    engine.apply(plan)
    engine.store._db.set_trace_callback(None)

    mode = "NORMAL"
    welcome_writes: list[tuple[str, str]] = []
    for statement in trace:
        if statement.startswith("PRAGMA synchronous="):
            mode = statement.split("=", 1)[1]
        elif statement.startswith("INSERT INTO welcome"):
            welcome_writes.append((statement.split("'")[5], mode))
    assert sorted(set(welcome_writes)) == [("due", "NORMAL"), ("pending", "FULL"), ("sent", "FULL")]
    assert len([w for w in welcome_writes if w[0] == "sent"]) == 5
    assert engine.store._one("PRAGMA synchronous")[0] == 1  # NORMAL again afterwards


def test_lineage_is_added_to_every_field_of_a_create_request() -> None:
    """#12 / #16: the executor's field-by-field copy keeps every field `replace` keeps
    (a field added to a request class and not copied fails here)."""
    from dataclasses import fields, replace

    from reconciler.apply.executor import _with_lineage
    from reconciler.core.model import NewContact, NewPasswordEntry

    for cls in (NewPasswordEntry, NewContact):
        request = cls(**{f.name: f"value of {f.name}" for f in fields(cls)})
        assert _with_lineage(request, "lineage-1") == replace(request, lineage="lineage-1")
