"""Pure core, planning stage: the guards that keep one bad answer from duplicating
records (the link guard). The removal guard for accounts lives in `planning`.

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
from reconciler.core.model import IntegrationKind, Link, PasswordEntry, PsaContact

LABELS = {
    IntegrationKind.ITGLUE: "IT Glue",
    IntegrationKind.HUDU: "Hudu",
    IntegrationKind.CONNECTWISE: "ConnectWise",
    IntegrationKind.AUTOTASK: "Autotask",
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
            f"{what} answered with no records while {len(mine)} account(s) are linked to records there; "
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
