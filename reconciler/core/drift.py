"""Pure core: what changed outside since the last apply (`plan --refresh-only`).

Terraform's drift view, proposing nothing:

- directory changes not applied yet: the account changes a plan would make;
- linked records that no longer exist in their integration;
- linked records whose fields this tool owns were edited: a fingerprint of those
  fields is kept when a record is linked or created (`owned_fingerprint`) and
  compared with the record as it is now. Owned fields: a password entry's name,
  username and category; a contact's first and last name and emails.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from reconciler.core.model import (
    IntegrationKind,
    ManagedState,
    NewContact,
    NewPasswordEntry,
    PasswordEntry,
    PsaContact,
)
from reconciler.core.plan import ChangeKind, CustomerPlan

Record = PasswordEntry | PsaContact


def _digest(parts: tuple[str, ...]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def owned_fingerprint(record: Record) -> str:
    if isinstance(record, PasswordEntry):
        return _digest(("entry", record.name or "", record.username or "", record.category or ""))
    emails = ",".join(sorted({e.lower() for e in record.emails if e}))
    return _digest(("contact", record.first_name or "", record.last_name or "", emails))


def request_fingerprint(request: NewPasswordEntry | NewContact) -> str:
    """The fingerprint the record made from `request` has."""
    if isinstance(request, NewPasswordEntry):
        return _digest(("entry", request.name, request.username, request.category))
    return _digest(("contact", request.first_name, request.last_name, (request.email or "").lower()))


@dataclass(frozen=True)
class Drift:
    kind: str  # "directory", "deleted", "edited"
    label: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "label": self.label, "detail": self.detail}


@dataclass(frozen=True)
class CustomerDrift:
    customer: str
    items: tuple[Drift, ...] = ()
    error: str = ""
    untracked: int = 0  # linked records without a fingerprint (linked before fingerprints existed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "error": self.error,
            "drift": [d.to_dict() for d in self.items],
            "links_without_fingerprint": self.untracked,
        }


def customer_drift(
    cplan: CustomerPlan,
    managed: ManagedState,
    records: dict[IntegrationKind, tuple[Record, ...]],
) -> CustomerDrift:
    """Drift of one customer from its (full-read) plan, its state and the records read."""
    if cplan.reason and not cplan.changes and cplan.status.value == "error":
        return CustomerDrift(cplan.customer, error=cplan.reason)
    out: list[Drift] = []
    for c in cplan.changes:
        if c.kind in (ChangeKind.ADD, ChangeKind.UPDATE, ChangeKind.REMOVE):
            out.append(Drift("directory", c.label, f"{c.kind.value} not applied yet ({c.rule}: {c.reason})"))
    upn = {k: a.upn for k, a in managed.accounts.items()}
    by_id = {kind: {r.id: r for r in recs} for kind, recs in records.items()}
    untracked = 0
    for (key, kind), link in sorted(managed.links.items()):
        if kind not in by_id:
            continue  # this integration was not read for the customer
        label = upn.get(key, key)
        record = by_id[kind].get(link.record_id)
        if record is None:
            out.append(Drift("deleted", label, f"{kind.value} record {link.record_id} no longer exists"))
            continue
        kept = managed.fingerprints.get((key, kind))
        if kept is None:
            untracked += 1
        elif kept != owned_fingerprint(record):
            out.append(Drift("edited", label, f"{kind.value} record {link.record_id}: {_owned_now(record)}"))
    return CustomerDrift(cplan.customer, tuple(out), untracked=untracked)


def _owned_now(record: Record) -> str:
    if isinstance(record, PasswordEntry):
        return (
            f"fields this tool owns were edited outside (now: name {record.name!r}, "
            f"username {record.username!r}, category {record.category!r})"
        )
    return (
        f"fields this tool owns were edited outside (now: {record.first_name or ''} {record.last_name or ''}, "
        f"emails {', '.join(record.emails) or '-'})"
    )
