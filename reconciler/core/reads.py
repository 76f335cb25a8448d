"""Pure core, between the live and matching stages: which integrations a run must list.

Listing a customer's IT Glue / Hudu entries or PSA contacts costs requests from
MSP-wide budgets (Autotask: 10,000 an hour per database, shared with every other
tool of the MSP), so a run lists an integration in full only when its answer can
change the plan or when the links it holds must be proven again (#16):

- something needs matching: an account the option applies to has no link there
  (a new account, a link that was never made, an open conflict, a failed
  create), a pin names another record than the link, or a linked account
  changed (renames may reach the record, R25), or a linked account leaves while
  its policy says `onRemoval: archive` (R8);
- a verification is due: the last full read is `verifyLinksEveryHours` old
  (shortened per customer and integration by up to 10 %, deterministically, so a
  fleet does not verify in one burst and nothing is ever later than the period);
- there is nothing to build on: a new or empty state, no full read on record, the
  customer's integration link (organization / company id) changed, `--full-sync`.

An integration that is not listed takes no part in matching: nothing is linked,
created or re-created in it this run (a link that was not verified is never
planned as vanished). A full list that the plan accepts is a verification: every
linked record is in the answer, or the link guard (core/guards.py) refused it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.model import Account, AccountClass, IntegrationKind, ManagedState
from reconciler.core.words import count
from reconciler.integrations.kinds import OnRemoval, RecordField, Role

JITTER = 0.1  # a verification comes up to this share of the period early, never late
OPTION = {Role.VAULT: "password_entry_matching", Role.PSA: "contact_matching"}
# the fields of a record `recordFields` may give the directory (R25; core/records.py)
FIELDS = {
    Role.VAULT: (RecordField.ENTRY_NAME, RecordField.USERNAME),
    Role.PSA: (RecordField.FIRST_NAME, RecordField.LAST_NAME, RecordField.CONTACT_EMAIL),
}


def cursor_name(kind: IntegrationKind) -> str:
    """The provider cursor that remembers an integration's last full read."""
    return f"reads/{kind.value}"


@dataclass(frozen=True)
class FullRead:
    """When an integration was last listed in full by an accepted plan, for which of
    the customer's organizations / companies (`target`), and with which record fields
    the directory owned (`fields`, `record_fields()`): "" when that plan left record
    updates to make (R25), None on a cursor written before it was recorded."""

    at: float
    target: str
    fields: str | None = None

    def dump(self) -> str:
        return json.dumps({"at": self.at, "target": self.target, "fields": self.fields})

    @classmethod
    def parse(cls, text: str | None) -> FullRead | None:
        if not text:
            return None
        try:
            d = json.loads(text)
            fields = d.get("fields")
            return cls(float(d["at"]), str(d["target"]), None if fields is None else str(fields))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # unreadable: as if never read, so the next run lists in full


def record_fields(eff: EffectiveCustomer, kind: IntegrationKind) -> str:
    """Who owns each field of the customer's records in `kind`, per class and for records
    created by us or not (R25): when it changes, linked records may need updates."""
    owners = [
        f"{cls.value}:{b.settings.record_fields.owner(name, ours).value}"
        for cls, b in ((AccountClass.END_USER, eff.end_user), (AccountClass.ADMIN, eff.admin))
        if b is not None
        for name in FIELDS[kind.role]
        for ours in (True, False)
    ]
    return hashlib.sha256(",".join(owners).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class IntegrationRead:
    """What a plan says about one integration: listed this run or not, why, and
    when it was last listed in full (RFC 3339, UTC; "" = never)."""

    integration: IntegrationKind
    listed: bool
    why: str
    last_full_read: str = ""
    verify_by: str = ""  # not listed: the latest time the links are proven again

    def line(self) -> str:
        if self.listed:
            return f"{self.integration.value}: listed in full ({self.why})"
        return (
            f"{self.integration.value}: not listed ({self.why}); last full read {self.last_full_read or 'never'}, "
            f"links verified again by {self.verify_by}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "integration": self.integration.value,
            "listed": self.listed,
            "why": self.why,
            "last_full_read": self.last_full_read or None,
            "verify_by": self.verify_by or None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> IntegrationRead:
        return cls(
            IntegrationKind(str(d["integration"])),
            bool(d["listed"]),
            str(d.get("why") or ""),
            str(d.get("last_full_read") or ""),
            str(d.get("verify_by") or ""),
        )


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify_after(customer: str, kind: IntegrationKind, hours: float) -> float:
    """Seconds after a full read when the next one is due: the period shortened by a
    share in [0, JITTER) that depends only on the customer and the integration."""
    digest = hashlib.sha256(f"{customer}\0{kind.value}".encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return hours * 3600.0 * (1.0 - JITTER * share)


@dataclass(frozen=True)
class ReadInputs:
    """Everything the decision looks at, gathered by the engine."""

    customer: EffectiveCustomer
    desired: Mapping[str, Account]
    managed: ManagedState
    now: float
    verify_hours: float
    full_sync: bool = False
    import_now: bool = False  # the daemon's "import now": a person asks for a fresh look


def decide(inputs: ReadInputs, kind: IntegrationKind, target: str, last: FullRead | None) -> IntegrationRead:
    """Whether this run lists `kind` in full, and the reason the plan shows."""
    eff, managed = inputs.customer, inputs.managed
    listed = _why_list(inputs, kind, target, last)
    last_text = iso(last.at) if last is not None else ""
    if listed is not None:
        return IntegrationRead(kind, True, listed, last_text)
    assert last is not None
    due = last.at + verify_after(eff.name, kind, inputs.verify_hours)
    linked = sum(1 for link in managed.links.values() if link.integration is kind)
    why = f"{count(linked, 'linked account')} unchanged" if linked else "no account uses it"
    return IntegrationRead(kind, False, why, last_text, iso(due))


def _why_list(inputs: ReadInputs, kind: IntegrationKind, target: str, last: FullRead | None) -> str | None:
    eff, managed = inputs.customer, inputs.managed
    if inputs.full_sync:
        return "full sync"
    if inputs.import_now:
        return "import now"
    if not managed.accounts:
        return "new or empty state"
    if last is None:
        return "no full read on record"
    if last.target != target:
        return "the customer's link to it changed"
    if last.fields == "":
        return "record updates to make (R25)"
    if last.fields is not None and last.fields != record_fields(eff, kind):
        return "the record fields the directory owns changed (recordFields, R25)"
    subject = list(_subject(eff, kind, inputs.desired.values()))
    links = managed.links
    unlinked = [a for a in subject if (a.key, kind) not in links and (a.key, kind) not in managed.detached]
    if unlinked:
        return f"{count(len(unlinked), 'account')} to match (new, unlinked or in conflict)"
    pins = {p.account.lower(): p.record_id for p in eff.doc.spec.pins if p.integration is kind}
    if pins:
        for a in subject:
            pin = pins.get(a.upn.lower()) or (
                pins.get(a.sam_account_name.lower()) if a.sam_account_name else None
            )
            link = links.get((a.key, kind))
            if pin is not None and (link is None or link.record_id != pin):
                return "a pin names another record than the link"
    changed = sum(1 for a in subject if (a.key, kind) in links and managed.accounts.get(a.key) != a)
    if changed:
        return f"{count(changed, 'linked account')} changed in the directory"
    archiving = _to_archive(eff, kind, inputs.desired, managed)
    if archiving:
        return f"{count(archiving, 'removed account')} whose records are archived there (onRemoval, R8)"
    age = inputs.now - last.at
    if age < 0:  # written by a clock that ran ahead: waiting for it could take a year
        return f"last full read {iso(last.at)} is in the future (clock skew)"
    if age >= verify_after(eff.name, kind, inputs.verify_hours):
        return f"verification due (last full read {age / 3600:.1f} h ago, verifyLinksEveryHours {inputs.verify_hours:g})"
    return None


def _to_archive(
    eff: EffectiveCustomer, kind: IntegrationKind, desired: Mapping[str, Account], managed: ManagedState
) -> int:
    """Linked accounts that leave now and whose class says `onRemoval: archive`."""
    archive = {
        cls
        for cls, b in ((AccountClass.END_USER, eff.end_user), (AccountClass.ADMIN, eff.admin))
        if b is not None and b.settings.on_removal is OnRemoval.ARCHIVE
    }
    if not archive:
        return 0
    return sum(
        1
        for (key, k) in managed.links
        if k is kind and key not in desired and (a := managed.accounts.get(key)) is not None
        and a.account_class in archive
    )  # fmt: skip


def _subject(eff: EffectiveCustomer, kind: IntegrationKind, accounts: Iterable[Account]) -> Iterable[Account]:
    """Accounts whose class has the matching option of `kind`'s role on."""
    option = OPTION[kind.role]
    classes = {
        cls
        for cls, b in ((AccountClass.END_USER, eff.end_user), (AccountClass.ADMIN, eff.admin))
        if b is not None and getattr(b.settings.options, option)
    }
    if not classes:
        return ()
    return (a for a in accounts if a.account_class in classes)
