"""Apply stage: `reconciler state rebuild`, the way back from a lost or foreign state (#12).

Records we create carry our marker (`customer/account`). When the state lost a
customer's accounts (a 0-byte or deleted file) or is of another lineage (a
restored backup, a copied repository), planning refuses: every account would be
new, and everyone would be welcomed again (R16). Rebuild reads the directories and
the integrations afresh and, for every account the import settings select whose
record carries our marker, records the account and its links, with its welcome
email as "unknown, not resent": it was handled before, so it is never sent again.
A selected directory user without a marker whose username or email matches a record
that exists (R12-R14: one match, or several in conflict) is taken as handled
before too: records we only linked never carried our marker, and welcoming those
people again is the costly mistake (R16). Its account is recorded with its welcome
"unknown, not resent"; the next plan links it under the policy's usual rules. Only directory users no
record matches are left to the next plan, which adds and welcomes them normally.
The lineages found on the markers are adopted for the
customer, so the identity guard recognises those records from then on.

Everything one customer's rebuild records commits in one transaction: killed
half-way, it leaves the state as it was, and running it again is the same.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.desired import desired_accounts
from reconciler.core.matching import Decision, match_contacts, match_password_entries
from reconciler.core.model import Account, IntegrationKind, Link, PasswordEntry, PsaContact, WelcomeStatus
from reconciler.core.planning import CustomerLive
from reconciler.core.words import count
from reconciler.state.api import StateStore


@dataclass
class RebuildReport:
    customer: str
    accounts: int = 0  # re-adopted from markers, welcome "unknown, not resent"
    links: int = 0
    kept: int = 0  # already in state: left as they were, links added
    unselected: int = 0  # marked records whose account the settings no longer select
    matched: int = 0  # unmarked, but an existing record matches: welcome "unknown, not resent"
    unmarked: int = 0  # selected directory users no record matches: planned normally
    lineages: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        parts = [
            f"{self.customer}: re-adopted {count(self.accounts, 'account')} from markers "
            f"(welcome: unknown, not resent), {count(self.links, 'link')}",
        ]
        if self.kept:
            parts.append(f"{self.kept} already in state")
        if self.unselected:
            parts.append(f"{count(self.unselected, 'marked record')} of accounts no longer selected, ignored")
        if self.matched:
            parts.append(
                f"{count(self.matched, 'account')} without a marker whose existing records match "
                "(welcome: unknown, not resent)"
            )
        if self.unmarked:
            parts.append(f"{count(self.unmarked, 'directory user')} no record matches left to the next plan")
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
    managed = store.load(name)
    unmarked = [a for key, a in sorted(desired.items()) if key not in marked and key not in managed.accounts]
    matched = _matched_unmarked(eff, live, unmarked)
    report.unmarked = len(unmarked) - len(matched)
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
        for key in sorted(matched):
            store.put_account(name, desired[key])
            report.matched += 1
            if key not in managed.welcome:
                store.set_welcome(name, key, WelcomeStatus.UNKNOWN)
        adopted = frozenset(lineages - {store.lineage()})
        if adopted:
            store.adopt_lineages(name, adopted)
        report.lineages = tuple(sorted(adopted))
        store.bump_serial(name)
    return report


def _matched_unmarked(eff: EffectiveCustomer, live: CustomerLive, accounts: list[Account]) -> set[str]:
    """Keys of the unmarked accounts some existing record matches (R12-R14: one
    match or several in conflict): evidence that they were handled before."""
    if not accounts:
        return set()
    pins = eff.doc.spec.pins
    results = []
    if live.entries is not None and live.vault_kind is not None:
        results += match_password_entries(eff.name, accounts, live.entries, {}, pins, live.vault_kind)
    if live.contacts is not None and live.contacts_kind is not None:
        results += match_contacts(eff.name, accounts, live.contacts, {}, pins, live.contacts_kind)
    evidence = (Decision.LINK, Decision.KEEP, Decision.CONFLICT)
    return {r.account.key for r in results if r.decision in evidence}
