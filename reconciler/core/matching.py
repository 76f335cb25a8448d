"""Pure core, matching stage: accounts <-> integration records (R12-R14, R18).

For each account, in order: a pin decides (R18); else an existing link whose
record still exists is kept; else a record we created earlier for this account
(found by its marker: a rerun after a crash) is linked; else candidates are
looked up in indexes (dicts, never pairwise scans). One candidate -> link,
none -> create, several -> a Conflict naming them and the pin that resolves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import NamedTuple, TypeVar

from reconciler.config.models import Pin
from reconciler.core.model import (
    Account,
    DirSource,
    IntegrationKind,
    Link,
    PasswordEntry,
    PsaContact,
)

# R13: which password categories / types fit an account's source
AD_CATEGORIES = frozenset({"active directory"})
ENTRA_CATEGORIES = frozenset({"office 365", "microsoft 365", "azure ad", "azure active directory"})
CREATE_CATEGORY = {DirSource.AD: "Active Directory", DirSource.ENTRA: "Office 365"}


class Decision(StrEnum):
    KEEP = "keep"
    LINK = "link"
    CREATE = "create"
    CONFLICT = "conflict"
    MISSING_PIN = "missing-pin"


class Candidate(NamedTuple):
    id: str
    label: str
    detail: str


class MatchResult(NamedTuple):
    """One account's matching outcome in one integration (a tuple: cheap at 100k)."""

    account: Account
    integration: IntegrationKind
    decision: Decision
    record_id: str | None = None
    rule: str = ""
    reason: str = ""
    candidates: tuple[Candidate, ...] = ()


R = TypeVar("R", PasswordEntry, PsaContact)


BOTH_CATEGORIES = AD_CATEGORIES | ENTRA_CATEGORIES


def categories_for(account: Account) -> frozenset[str]:
    """R13: categories an account's entry may have (both sets for password-synced accounts)."""
    # membership tests, not a dict keyed by the tuple: hashing enum members is slow at 100k
    ad, entra = DirSource.AD in account.sources, DirSource.ENTRA in account.sources
    if ad and entra:
        return BOTH_CATEGORIES
    return AD_CATEGORIES if ad else ENTRA_CATEGORIES if entra else frozenset()


def match_password_entries(
    customer: str,
    accounts: Iterable[Account],
    entries: Sequence[PasswordEntry],
    links: dict[tuple[str, IntegrationKind], Link],
    pins: Sequence[Pin],
    kind: IntegrationKind,
) -> list[MatchResult]:
    """R12/R13: by username (UPN or sAMAccountName) and a category fitting the source."""
    live = [e for e in entries if not e.archived]
    # username -> [(lower-cased category, entry)]
    by_username: dict[str, list[tuple[str, PasswordEntry]]] = {}
    for e in live:
        if e.username and e.category:  # R13: uncategorised entries never match
            by_username.setdefault(e.username.lower(), []).append((e.category.lower(), e))

    def candidates(account: Account) -> list[PasswordEntry]:
        fits = categories_for(account)
        hits = by_username.get(account.upn.lower(), [])
        sam = account.sam_account_name
        if sam and sam.lower() != account.upn.lower():
            hits = hits + by_username.get(sam.lower(), [])
        return [e for category, e in hits if category in fits]

    def describe(e: PasswordEntry) -> Candidate:
        return Candidate(e.id, e.name, f"username {e.username}, category {e.category}")

    return _match(customer, accounts, live, links, pins, kind, candidates, describe, "R12", "R13")


def match_contacts(
    customer: str,
    accounts: Iterable[Account],
    contacts: Sequence[PsaContact],
    links: dict[tuple[str, IntegrationKind], Link],
    pins: Sequence[Pin],
    kind: IntegrationKind,
) -> list[MatchResult]:
    """R14: by email (any of the contact's), else first + last name; inactive never match."""
    live = [c for c in contacts if c.active]
    by_email: dict[str, list[PsaContact]] = {}
    for c in live:
        emails = c.emails if len(c.emails) < 2 else tuple(dict.fromkeys(e.lower() for e in c.emails))
        for email in emails:
            if email:
                by_email.setdefault(email.lower(), []).append(c)
    by_name: dict[tuple[str, str], list[PsaContact]] | None = None  # built on first need

    def names_index() -> dict[tuple[str, str], list[PsaContact]]:
        nonlocal by_name
        if by_name is None:
            by_name = {}
            for c in live:
                if c.first_name and c.last_name:
                    by_name.setdefault((c.first_name.lower(), c.last_name.lower()), []).append(c)
        return by_name

    def candidates(account: Account) -> list[PsaContact]:
        if account.mail:
            hits = by_email.get(account.mail.lower())
            if hits:
                return hits
        if account.given_name and account.surname:
            return names_index().get((account.given_name.lower(), account.surname.lower()), [])
        return []

    def describe(c: PsaContact) -> Candidate:
        name = f"{c.first_name or ''} {c.last_name or ''}".strip()
        return Candidate(c.id, name, f"email {', '.join(c.emails) or '-'}")

    return _match(customer, accounts, live, links, pins, kind, candidates, describe, "R14", "R14")


def _match(
    customer: str,
    accounts: Iterable[Account],
    records: Sequence[R],
    links: dict[tuple[str, IntegrationKind], Link],
    pins: Sequence[Pin],
    kind: IntegrationKind,
    candidates: Callable[[Account], list[R]],
    describe: Callable[[R], Candidate],
    rule: str,
    category_rule: str,
) -> list[MatchResult]:
    by_id = {r.id: r for r in records}
    by_marker = {r.marker: r for r in records if r.marker}
    pinned = {p.account.lower(): p.record_id for p in pins if p.integration is kind}
    out: list[MatchResult] = []
    prefix = f"{customer}/"
    for account in accounts:
        pin = None
        if pinned:
            pin = pinned.get(account.upn.lower()) or (
                pinned.get(account.sam_account_name.lower()) if account.sam_account_name else None
            )
        link = links.get((account.key, kind))
        if pin is not None:
            if pin not in by_id:
                out.append(
                    MatchResult(
                        account,
                        kind,
                        Decision.MISSING_PIN,
                        pin,
                        "R18",
                        f"pinned record {pin} does not exist (or is archived/inactive)",
                    )
                )
            elif link is not None and link.record_id == pin:
                out.append(MatchResult(account, kind, Decision.KEEP, pin))
            else:
                out.append(
                    MatchResult(account, kind, Decision.LINK, pin, "R18", "pinned in the customer's YAML")
                )
            continue
        if link is not None and link.record_id in by_id:
            out.append(MatchResult(account, kind, Decision.KEEP, link.record_id))
            continue
        lost = f"linked record {link.record_id} no longer exists; " if link is not None else ""
        own = by_marker.get(prefix + account.key) if by_marker else None
        if own is not None:
            out.append(
                MatchResult(
                    account,
                    kind,
                    Decision.LINK,
                    own.id,
                    rule,
                    lost + "record created earlier by reconciler for this account",
                )
            )
            continue
        found = candidates(account)
        if len(found) == 1:
            out.append(
                MatchResult(
                    account,
                    kind,
                    Decision.LINK,
                    found[0].id,
                    category_rule,
                    lost + "exactly one matching record",
                )
            )
        elif not found:
            out.append(MatchResult(account, kind, Decision.CREATE, None, rule, lost + "no matching record"))
        else:
            cands = tuple(sorted((describe(r) for r in found), key=lambda c: c.id))
            out.append(
                MatchResult(
                    account, kind, Decision.CONFLICT, None, "R18", f"{len(found)} records match", cands
                )
            )
    return out
