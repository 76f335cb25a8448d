"""Pure core, planning stage: linked records kept up to date (R25) and what becomes
of a removed account's records (R8 `onRemoval`).

For every account kept or linked in an integration, the fields of its record that
the directory owns (`recordFields`, config/records.py) are compared with what the
directory says now; an `update-record` change is planned only for fields that
differ, each with its before and after. A blank directory value never overwrites
a filled field. Only those fields are ever written: a record's marker and lineage
tag (in its notes) are not a field here, so no update can rewrite them.

When an account is removed and its import settings say `onRemoval: archive`, each
record linked to it that is still live is archived (a password entry) or set
inactive (a PSA contact) by an `archive-record` change; never deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from reconciler.config.records import RecordFields
from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.desired import person
from reconciler.core.drift import owned_fingerprint
from reconciler.core.model import (
    Account,
    AccountClass,
    IntegrationKind,
    Link,
    PasswordEntry,
    PsaContact,
)
from reconciler.core.plan import ArchiveRecord, FieldDiff, RemoveAccount, UpdateRecord
from reconciler.integrations.kinds import OnRemoval, Ownership, RecordField

Record = PasswordEntry | PsaContact

VAULT_FIELDS = (RecordField.ENTRY_NAME, RecordField.USERNAME)
PSA_FIELDS = (RecordField.FIRST_NAME, RecordField.LAST_NAME, RecordField.CONTACT_EMAIL)
# compared without case: vendors and people change the case of these freely
_CASELESS = frozenset({RecordField.USERNAME, RecordField.CONTACT_EMAIL})


def record_fields_of(customer: EffectiveCustomer) -> dict[AccountClass, RecordFields]:
    return {
        cls: b.settings.record_fields
        for cls, b in ((AccountClass.END_USER, customer.end_user), (AccountClass.ADMIN, customer.admin))
        if b is not None
    }


def created_by_us(customer: str, account: Account, record: Record) -> bool:
    """The record carries reconciler's marker for this person (of either class)."""
    marker = record.marker or ""
    prefix = f"{customer}/"
    return marker.startswith(prefix) and person(marker[len(prefix) :]) == person(account.key)


def directory_values(account: Account) -> dict[RecordField, str | None]:
    """What the directory says each field should be (as a record is created)."""
    return {
        RecordField.ENTRY_NAME: account.display_name or account.upn,
        RecordField.USERNAME: account.upn,
        RecordField.FIRST_NAME: account.given_name,
        RecordField.LAST_NAME: account.surname,
        RecordField.CONTACT_EMAIL: account.mail,
    }


def record_values(record: Record) -> dict[RecordField, str | None]:
    if isinstance(record, PasswordEntry):
        return {RecordField.ENTRY_NAME: record.name, RecordField.USERNAME: record.username}
    return {
        RecordField.FIRST_NAME: record.first_name,
        RecordField.LAST_NAME: record.last_name,
        RecordField.CONTACT_EMAIL: record.emails[0] if record.emails else None,
    }


def field_diffs(
    customer: str, account: Account, record: Record, fields: RecordFields
) -> tuple[FieldDiff, ...]:
    """The owned fields of `record` that differ from the directory, in field order."""
    ours = created_by_us(customer, account, record)
    want = directory_values(account)
    have = record_values(record)
    out: list[FieldDiff] = []
    for name in VAULT_FIELDS if isinstance(record, PasswordEntry) else PSA_FIELDS:
        if fields.owner(name, ours) is not Ownership.DIRECTORY:
            continue
        after, before = want[name], have[name]
        if not after:  # a blank directory value never overwrites a filled field
            continue
        if name is RecordField.CONTACT_EMAIL and isinstance(record, PsaContact):
            if after.lower() in {e.lower() for e in record.emails}:
                continue  # already one of the contact's addresses: nothing to write
        elif before is not None and (
            before.lower() == after.lower() if name in _CASELESS else before == after
        ):
            continue
        out.append(FieldDiff(name.value, before, after))
    return tuple(out)


def updated(record: Record, diffs: Iterable[FieldDiff]) -> Record:
    """The record as it is once `diffs` are written (for its fingerprint)."""
    values = {RecordField(d.name): str(d.after) for d in diffs}
    if isinstance(record, PasswordEntry):
        return replace(
            record,
            name=values.get(RecordField.ENTRY_NAME, record.name),
            username=values.get(RecordField.USERNAME, record.username),
        )
    emails = record.emails
    if RecordField.CONTACT_EMAIL in values:
        emails = (values[RecordField.CONTACT_EMAIL], *emails[1:])
    return replace(
        record,
        first_name=values.get(RecordField.FIRST_NAME, record.first_name),
        last_name=values.get(RecordField.LAST_NAME, record.last_name),
        emails=emails,
    )


def record_updates(
    customer: str,
    linked: Iterable[tuple[Account, str]],
    kind: IntegrationKind,
    record_of: Callable[[str], Record | None],
    fields: Mapping[AccountClass, RecordFields],
) -> list[UpdateRecord]:
    """R25: one `update-record` per linked record whose owned fields differ."""
    out: list[UpdateRecord] = []
    for account, record_id in linked:
        owned = fields.get(account.account_class)
        record = record_of(record_id)
        if owned is None or record is None:
            continue
        diffs = field_diffs(customer, account, record, owned)
        if diffs:
            names = ", ".join(d.name for d in diffs)
            out.append(
                UpdateRecord(
                    account.key,
                    account.upn,
                    "R25",
                    f"changed in the directory, which owns {names}",
                    kind,
                    record_id,
                    diffs,
                    owned_fingerprint(updated(record, diffs)),
                )
            )
    return out


def record_archives(
    customer: EffectiveCustomer,
    removed: Iterable[RemoveAccount],
    links: Mapping[tuple[str, IntegrationKind], Link],
    records: Mapping[IntegrationKind, Callable[[str], Record | None]],
) -> list[ArchiveRecord]:
    """R8 `onRemoval: archive`: each live record linked to a removed account.
    Integrations not read this run (`records` has no entry) are left alone."""
    policy = {
        cls: b.settings.on_removal
        for cls, b in ((AccountClass.END_USER, customer.end_user), (AccountClass.ADMIN, customer.admin))
        if b is not None
    }
    out: list[ArchiveRecord] = []
    for change in removed:
        account = change.account
        if policy.get(account.account_class, OnRemoval.KEEP) is not OnRemoval.ARCHIVE:
            continue
        for kind in sorted(records):
            link = links.get((account.key, kind))
            record = records[kind](link.record_id) if link is not None else None
            if link is None or record is None or not _live(record):
                continue  # gone already, or archived / inactive already: nothing to write
            what = "archived" if isinstance(record, PasswordEntry) else "set inactive"
            out.append(
                ArchiveRecord(
                    account.key,
                    account.upn,
                    "R8",
                    f"account removed; onRemoval: archive ({what}, never deleted)",
                    kind,
                    link.record_id,
                )
            )
    return out


def _live(record: Record) -> bool:
    return not record.archived if isinstance(record, PasswordEntry) else record.active
