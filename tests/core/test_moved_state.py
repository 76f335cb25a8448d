"""A class move (end user <-> admin, R7) carries the whole managed state to the new key.

`moved()` rebuilt the ManagedState from accounts, links and welcome status only, so
the planner lost the state's lineage, adopted lineages, detached links and
fingerprints whenever someone moved class: the identity guard (#12) then saw every
one of our records as carrying a foreign lineage and refused the plan on every run
while the move was pending, and the read decision (#16, core/reads.py) counted
detached accounts as unlinked.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.apply.executor import apply_customer
from reconciler.core.desired import LiveDirectories
from reconciler.core.model import (
    Account,
    AccountClass,
    DirectoryRole,
    DirectorySnapshot,
    DirSource,
    IntegrationKind,
    ManagedState,
    NewPasswordEntry,
    PasswordEntry,
    RoleHolder,
)
from reconciler.core.plan import ChangeKind, Status
from reconciler.core.planning import CustomerLive, PlanOptions, moved, plan_customer
from reconciler.providers.base import CustomerProviders
from reconciler.state.store import SqliteStore
from tests.core.builders import customer, entra

GA = "62e90394-69f5-4237-9190-012177145e10"
OPTIONS = {"passwordEntryMatching": True}


class Vault:
    kind = IntegrationKind.ITGLUE

    def __init__(self) -> None:
        self.entries: list[PasswordEntry] = []

    def list_entries(self) -> list[PasswordEntry]:
        return list(self.entries)

    def create_entry(self, new: NewPasswordEntry) -> PasswordEntry:
        entry = PasswordEntry(
            self.kind,
            str(500 + len(self.entries)),
            new.name,
            new.username,
            new.category,
            marker=new.marker,
            lineage=new.lineage,
        )
        self.entries.append(entry)
        return entry


def test_a_class_move_keeps_the_state_lineage_so_the_identity_guard_passes(tmp_path: Path) -> None:
    """#12 identity guard + R7: records carrying this state's lineage are ours after a move too."""
    cust = customer(
        {"source": "entra", "options": OPTIONS},
        admin={"source": "entra", "selection": {"roles": ["Global Administrator"]}, "options": OPTIONS},
    )
    store = SqliteStore(tmp_path / "state.db")
    vault = Vault()
    users = (entra(1), entra(2))

    def plan(roles: tuple[DirectoryRole, ...]):  # type: ignore[no-untyped-def]
        snap = DirectorySnapshot(users, roles=roles)
        live = CustomerLive(LiveDirectories(entra=snap), tuple(vault.entries), IntegrationKind.ITGLUE)
        return plan_customer(cust, live, store.load("acme"), PlanOptions())

    first = plan(())
    assert not apply_customer(first, CustomerProviders(vault=vault), store).failed
    lineage = store.load("acme").lineage
    assert lineage and all(e.lineage == lineage for e in vault.entries)

    promoted = plan((DirectoryRole(GA, "Global Administrator", (RoleHolder("e-1", "user"),)),))
    assert promoted.status is Status.OK, promoted.reason
    assert [(c.kind, c.label) for c in promoted.changes] == [(ChangeKind.UPDATE, "user1@acme.com")]


def test_moved_carries_lineage_adoptions_detached_links_and_fingerprints() -> None:
    old, new = "end-user/entra:e-1", "admin/entra:e-1"
    account = Account(old, AccountClass.END_USER, (DirSource.ENTRA,), "user1@acme.com")
    managed = ManagedState(
        7,
        {old: account},
        lineage="abcdef0123456789",
        adopted=frozenset({"0123456789abcdef"}),
        detached={(old, IntegrationKind.HUDU): "h-9"},
        fingerprints={(old, IntegrationKind.ITGLUE): "fp"},
    )
    after = moved(managed, {new: replace(account, key=new, account_class=AccountClass.ADMIN)})
    assert set(after.accounts) == {new} and after.serial == 7
    assert after.lineage == "abcdef0123456789" and after.adopted == frozenset({"0123456789abcdef"})
    assert after.detached == {(new, IntegrationKind.HUDU): "h-9"}
    assert after.fingerprints == {(new, IntegrationKind.ITGLUE): "fp"}
