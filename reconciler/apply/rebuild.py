"""Apply stage: `reconciler state rebuild`, the way back from a lost or foreign state (#12).

Records we create carry our marker (`customer/account`). When the state lost a
customer's accounts (a 0-byte or deleted file) or is of another lineage (a
restored backup, a copied repository), planning refuses: every account would be
new, and everyone would be welcomed again (R16). Rebuild reads the directories and
the integrations afresh and, for every account the import settings select whose
record carries our marker, records the account and its links, with its welcome
email as "unknown, not resent": it was handled before, so it is never sent again.
Directory users without a marker are left to the next plan, which adds and
welcomes them normally. The lineages found on the markers are adopted for the
customer, so the identity guard recognises those records from then on.

Everything one customer's rebuild records commits in one transaction: killed
half-way, it leaves the state as it was, and running it again is the same.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.desired import desired_accounts
from reconciler.core.model import IntegrationKind, Link, PasswordEntry, PsaContact, WelcomeStatus
from reconciler.core.planning import CustomerLive
from reconciler.state.api import StateStore


@dataclass
class RebuildReport:
    customer: str
    accounts: int = 0  # re-adopted from markers, welcome "unknown, not resent"
    links: int = 0
    kept: int = 0  # already in state: left as they were, links added
    unselected: int = 0  # marked records whose account the settings no longer select
    unmarked: int = 0  # selected directory users without a marker: planned normally
    lineages: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        parts = [
            f"{self.customer}: re-adopted {self.accounts} account(s) from markers "
            f"(welcome: unknown, not resent), {self.links} link(s)",
        ]
        if self.kept:
            parts.append(f"{self.kept} already in state")
        if self.unselected:
            parts.append(f"{self.unselected} marked record(s) of accounts no longer selected, ignored")
        if self.unmarked:
            parts.append(f"{self.unmarked} directory user(s) without a marker left to the next plan")
        if self.lineages:
            parts.append(f"adopted lineage {', '.join(self.lineages)}")
        return "; ".join(parts)


def rebuild_customer(eff: EffectiveCustomer, live: CustomerLive, store: StateStore) -> RebuildReport:
    """Re-adopt one customer's accounts and links from markers; one transaction."""
    name = eff.name
    report = RebuildReport(name)
    desired = desired_accounts(eff, live.directories).accounts
    prefix = f"{name}/"
    marked: dict[str, dict[IntegrationKind, list[str]]] = defaultdict(lambda: defaultdict(list))
    lineages: set[str] = set()
    records: list[PasswordEntry | PsaContact] = [*(live.entries or ()), *(live.contacts or ())]
    for record in records:
        if record.marker and record.marker.startswith(prefix):
            marked[record.marker[len(prefix) :]][record.integration].append(record.id)
            if record.lineage:
                lineages.add(record.lineage)
    report.unselected = sum(1 for key in marked if key not in desired)
    report.unmarked = sum(1 for key in desired if key not in marked)
    managed = store.load(name)
    with store.batch():
        for key in sorted(k for k in marked if k in desired):
            if key in managed.accounts:
                report.kept += 1
            else:
                store.put_account(name, desired[key])
                report.accounts += 1
            if key not in managed.welcome:
                store.set_welcome(name, key, WelcomeStatus.UNKNOWN)
            for kind, ids in sorted(marked[key].items()):
                chosen = sorted(ids, key=lambda i: (len(i), i))[0]
                if len(ids) > 1:
                    report.warnings.append(
                        f"{desired[key].upn}: {len(ids)} records in {kind.value} carry its marker "
                        f"({', '.join(sorted(ids))}); linked {chosen}, delete the others (R18)"
                    )
                if managed.links.get((key, kind)) != Link(key, kind, chosen):
                    store.put_link(name, Link(key, kind, chosen))
                    report.links += 1
        adopted = frozenset(lineages - {store.lineage()})
        if adopted:
            store.adopt_lineages(name, adopted)
        report.lineages = tuple(sorted(adopted))
        store.bump_serial(name)
    return report
