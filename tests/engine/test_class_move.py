"""A person who moves between end user and admin keeps their account's links and
welcome status: one update, no new record, no second welcome (R7, R16)."""

from __future__ import annotations

from pathlib import Path

from reconciler.apply.executor import apply_customer
from reconciler.core.desired import LiveDirectories
from reconciler.core.model import (
    DirectoryRole,
    DirectorySnapshot,
    IntegrationKind,
    Link,
    PasswordEntry,
    RoleHolder,
    WelcomeEmail,
    WelcomeStatus,
)
from reconciler.core.plan import ChangeKind
from reconciler.core.planning import CustomerLive, PlanOptions, plan_customer
from reconciler.providers.base import CustomerProviders
from reconciler.state.store import SqliteStore
from tests.core.builders import customer, entra

GA = "62e90394-69f5-4237-9190-012177145e10"
OPTIONS = {"passwordEntryMatching": True, "welcomeEmail": True}


class Outbox:
    def __init__(self) -> None:
        self.sent: list[WelcomeEmail] = []

    def send(self, mail: WelcomeEmail) -> None:
        self.sent.append(mail)


class Vault:
    kind = IntegrationKind.ITGLUE

    def __init__(self) -> None:
        self.entries: list[PasswordEntry] = []

    def list_entries(self) -> list[PasswordEntry]:
        return list(self.entries)

    def create_entry(self, new):  # type: ignore[no-untyped-def]
        entry = PasswordEntry(
            self.kind, str(500 + len(self.entries)), new.name, new.username, new.category, marker=new.marker
        )
        self.entries.append(entry)
        return entry


def test_end_user_becoming_admin_and_back_is_a_move(tmp_path: Path) -> None:
    cust = customer(
        {"source": "entra", "options": OPTIONS},
        admin={"source": "entra", "selection": {"roles": ["Global Administrator"]}, "options": OPTIONS},
    )
    store = SqliteStore(tmp_path / "state.db")
    vault, outbox = Vault(), Outbox()
    providers = CustomerProviders(vault=vault, mailer=outbox)
    users = (entra(1), entra(2))

    def cycle(roles: tuple[DirectoryRole, ...]):  # type: ignore[no-untyped-def]
        snap = DirectorySnapshot(users, roles=roles)
        lv = CustomerLive(LiveDirectories(entra=snap), tuple(vault.entries), IntegrationKind.ITGLUE)
        cplan = plan_customer(cust, lv, store.load("acme"), PlanOptions())
        if cplan.changes:
            result = apply_customer(cplan, providers, store)
            assert not result.failed
        return cplan

    first = cycle(())
    assert first.count(ChangeKind.ADD) == 2 and len(outbox.sent) == 2 and len(vault.entries) == 2
    before = store.load("acme")
    link = before.links[("end-user/entra:e-1", IntegrationKind.ITGLUE)]

    promoted = cycle((DirectoryRole(GA, "Global Administrator", (RoleHolder("e-1", "user"),)),))
    assert [(c.kind, c.label) for c in promoted.changes] == [(ChangeKind.UPDATE, "user1@acme.com")]
    move = promoted.changes[0]
    assert move.rule == "R7" and move.diffs[0].name == "account_class"
    assert (move.diffs[0].before, move.diffs[0].after) == ("end-user", "admin")
    after = store.load("acme")
    assert set(after.accounts) == {"admin/entra:e-1", "end-user/entra:e-2"}
    assert after.links[("admin/entra:e-1", IntegrationKind.ITGLUE)] == Link(
        "admin/entra:e-1", IntegrationKind.ITGLUE, link.record_id
    )
    assert after.welcome["admin/entra:e-1"] is WelcomeStatus.SENT
    assert len(outbox.sent) == 2 and len(vault.entries) == 2  # no second welcome, no new record
    assert any(s.reason == "admin-overlap" for s in promoted.skipped)

    again = cycle((DirectoryRole(GA, "Global Administrator", (RoleHolder("e-1", "user"),)),))
    assert again.changes == ()

    demoted = cycle(())
    assert [(c.kind, c.diffs[0].after) for c in demoted.changes] == [(ChangeKind.UPDATE, "end-user")]
    final = store.load("acme")
    assert set(final.accounts) == {"end-user/entra:e-1", "end-user/entra:e-2"}
    assert final.links[("end-user/entra:e-1", IntegrationKind.ITGLUE)].record_id == link.record_id
    assert len(outbox.sent) == 2 and len(vault.entries) == 2
    assert cycle(()).changes == ()
