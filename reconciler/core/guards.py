"""Pure core, planning stage: the guards that keep one bad answer from duplicating
records (the link guard) or rewriting them (the update guard, R25). The removal
guard for accounts lives in `planning`.

Vanishing links are a removal too: when an integration answers without records
that our accounts are linked to, matching would create a second record for each
of them. So an integration answer is treated as a failed read, and the
customer's plan is refused, when

- it holds no record at all while the customer has at least one link to that
  integration (whatever `minExistingAccounts` says, like the empty-directory rule);
- more than `maxRemovalPercent` of the customer's links to it vanish at once,
  once it has at least `minExistingAccounts` links; or every one of at least two
  links vanishes (like "would remove all accounts").

A record a person really deleted is re-created only through a `recreate-record`
change that names the old record id; those changes count toward the same
threshold when a saved plan is applied (`recreate_guard`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reconciler.config.models import Safety
from reconciler.core.model import IntegrationKind, Link, ManagedState, PasswordEntry, PsaContact
from reconciler.core.words import count

LABELS = {
    IntegrationKind.ITGLUE: "IT Glue",
    IntegrationKind.HUDU: "Hudu",
    IntegrationKind.CONNECTWISE: "ConnectWise",
    IntegrationKind.AUTOTASK: "Autotask",
    IntegrationKind.HALO: "Halo PSA",
}
OVERRIDE = "use --allow-mass-removal (or the daemon's override) if this is intended"


def label(kind: IntegrationKind) -> str:
    return LABELS.get(kind, kind.value)


def live_ids(records: Sequence[PasswordEntry | PsaContact]) -> set[str]:
    """Ids a link may point to: archived entries and inactive contacts never match."""
    out: set[str] = set()
    for r in records:
        if isinstance(r, PasswordEntry) and r.archived:
            continue
        if isinstance(r, PsaContact) and not r.active:
            continue
        out.add(r.id)
    return out


def vanished_links(
    links: Iterable[Link], kind: IntegrationKind, records: Sequence[PasswordEntry | PsaContact]
) -> tuple[list[Link], list[Link]]:
    """(every link to `kind`, the ones whose record is not in the answer)."""
    mine = [link for link in links if link.integration is kind]
    ids = live_ids(records)
    return mine, [link for link in mine if link.record_id not in ids]


def link_guard(
    safety: Safety,
    kind: IntegrationKind,
    links: Iterable[Link],
    records: Sequence[PasswordEntry | PsaContact],
) -> str | None:
    """Why this integration answer must not be believed, or None."""
    mine, gone = vanished_links(links, kind, records)
    what = label(kind)
    if mine and not records:
        return (
            f"{what} answered with no records while {count(len(mine), 'account')} {'is' if len(mine) == 1 else 'are'} linked to records there; "
            f"treated as a failed read, nothing created ({OVERRIDE})"
        )
    refusal = vanish_threshold(safety, len(mine), len(gone))
    if refusal:
        return f"{what}: {refusal}; treated as a failed read, nothing created ({OVERRIDE})"
    return None


def vanish_threshold(safety: Safety, linked: int, vanished: int) -> str | None:
    if not vanished:
        return None
    if vanished > linked:
        return f"{vanished} linked records are missing but only {linked} are linked"
    if vanished >= linked >= 2:
        return f"all {linked} linked records are missing from the answer"
    percent = 100.0 * vanished / linked
    if linked >= safety.min_existing_accounts and percent > safety.max_removal_percent:
        return (
            f"{vanished} of {linked} linked records are missing from the answer "
            f"({percent:.0f}% > {safety.max_removal_percent:g}% limit)"
        )
    return None


def recreate_guard(
    safety: Safety, linked: dict[IntegrationKind, int], recreating: dict[IntegrationKind, int]
) -> str | None:
    """At apply time: a saved plan's `recreate-record` changes against the links in state."""
    for kind in sorted(recreating):
        refusal = vanish_threshold(safety, linked.get(kind, 0), recreating[kind])
        if refusal:
            return f"{label(kind)}: would re-create records: {refusal}; {OVERRIDE}"
    return None


UPDATE_OVERRIDE = "use --allow-mass-update (or the daemon's override) if this is intended"


def update_guard(safety: Safety, linked: int, updating: int) -> str | None:
    """R25: why updating `updating` of a customer's `linked` records needs an override.

    Like the removal guard: more than `maxRemovalPercent` of the linked records at
    once, once there are at least `minExistingAccounts` of them (a renamed domain or
    a wrong `recordFields` would otherwise rewrite every entry in one run)."""
    if not updating or not linked:
        return None
    percent = 100.0 * updating / linked
    if linked >= safety.min_existing_accounts and percent > safety.max_removal_percent:
        return (
            f"would update {updating} of {linked} linked records ({percent:.0f}% > "
            f"{safety.max_removal_percent:g}% limit); {UPDATE_OVERRIDE}"
        )
    return None


# --- state identity (lineage) --------------------------------------------------------
#
# Records we create carry our marker (`customer/account`) and the lineage of the state
# that created them. A state that holds no accounts for a customer whose records carry
# our marker was lost or replaced (a 0-byte or deleted file): planning from it would
# treat every account as new and welcome everyone again (R16). A state whose lineage
# differs from the markers' is not the one that created them (a restored old backup,
# a copied repository). Both are refused whatever the override says; `reconciler
# state rebuild` re-adopts the accounts from the markers without welcoming anyone.


def identity_guard(
    customer: str,
    managed: ManagedState,
    records: Iterable[tuple[IntegrationKind, PasswordEntry | PsaContact]],
) -> str | None:
    prefix = f"{customer}/"
    ours = [(kind, r) for kind, r in records if r.marker and r.marker.startswith(prefix)]
    if not ours:
        return None
    where = ", ".join(sorted({label(kind) for kind, _ in ours}))
    rebuild = f"`reconciler state rebuild --customer {customer}` re-adopts them without welcoming anyone"
    if not managed.accounts:
        lineages = sorted({r.lineage for _, r in ours if r.lineage})
        of = f" (lineage {', '.join(lineages)})" if lineages else ""
        return (
            f"the state holds no accounts for {customer} but {count(len(ours), 'record')} in {where} {'carries' if len(ours) == 1 else 'carry'} "
            f"reconciler's marker for it{of}: the state was lost or replaced; refusing to treat every "
            f"account as new; {rebuild}"
        )
    known = {managed.lineage, *managed.adopted}
    foreign = sorted({r.lineage for _, r in ours if r.lineage and r.lineage not in known})
    if foreign:
        n = sum(1 for _, r in ours if r.lineage in foreign)
        return (
            f"state lineage {managed.lineage} differs from lineage {', '.join(foreign)} carried by "
            f"{count(n, 'record')} in {where}: this state did not create them (a restored old backup or a copied "
            f"repository?); {rebuild}"
        )
    return None
