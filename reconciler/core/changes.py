"""Pure core: the change kinds of a plan, a union of small immutable classes.

Each kind is one class with exactly its own fields; `kind` names it in JSON and
`_own` / `_read` turn its own fields to and from the saved-plan format of
`reconciler.core.plan` (which re-exports everything here). Split out of `plan.py`
to keep each module small.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from functools import cache
from typing import Any, ClassVar

from reconciler.core.model import (
    Account,
    IntegrationKind,
    NewContact,
    NewPasswordEntry,
    WelcomeEmail,
)
from reconciler.integrations.kinds import RecordField, Role


class ChangeKind(StrEnum):
    ADD = "add"
    UPDATE = "update"
    REMOVE = "remove"
    LINK = "link"
    CREATE_RECORD = "create-record"
    RECREATE_RECORD = "recreate-record"  # a linked record vanished: created anew, naming the old one
    SEND_WELCOME = "send-welcome"
    UPDATE_RECORD = "update-record"  # fields of a linked record the directory owns (R25)
    ARCHIVE_RECORD = "archive-record"  # a removed account's record archived / set inactive (R8)


@dataclass(frozen=True)
class FieldDiff:
    name: str
    before: Any
    after: Any


def _diffs_to_json(diffs: tuple[FieldDiff, ...]) -> list[dict[str, Any]]:
    return [{"field": f.name, "before": f.before, "after": f.after} for f in diffs]


def _diffs_from_json(raw: list[dict[str, Any]]) -> tuple[FieldDiff, ...]:
    return tuple(FieldDiff(f["field"], f["before"], f["after"]) for f in raw)


# --- the change kinds: a union of small immutable classes ---------------------------
#
# Each kind is one class with exactly its own fields; `kind` names it in JSON and
# `_own` / `_read` turn its own fields to and from the plan format. Adding a kind:
# a `ChangeKind` member, a class here, one entry in `Change` and `CHANGE_TYPES`,
# and its branch in `schemas/plan.schema.json`.


@dataclass(frozen=True)
class _Change:
    account_key: str
    label: str
    rule: str
    reason: str

    kind: ClassVar[ChangeKind]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind.value,
            "account_key": self.account_key,
            "label": self.label,
            "rule": self.rule,
            "reason": self.reason,
        }
        d.update(self._own())
        return d

    def _own(self) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def _common(d: dict[str, Any]) -> tuple[str, str, str, str]:
        return d["account_key"], d["label"], d["rule"], d["reason"]


@dataclass(frozen=True)
class AddAccount(_Change):
    account: Account
    kind: ClassVar[ChangeKind] = ChangeKind.ADD

    def _own(self) -> dict[str, Any]:
        return {"account": self.account.to_dict()}

    @classmethod
    def _read(cls, d: dict[str, Any], fmt: int) -> AddAccount:
        return cls(*cls._common(d), Account.from_dict(d["account"]))


@dataclass(frozen=True)
class UpdateAccount(_Change):
    account: Account
    diffs: tuple[FieldDiff, ...]
    kind: ClassVar[ChangeKind] = ChangeKind.UPDATE

    def _own(self) -> dict[str, Any]:
        return {"account": self.account.to_dict(), "diffs": _diffs_to_json(self.diffs)}

    @classmethod
    def _read(cls, d: dict[str, Any], fmt: int) -> UpdateAccount:
        return cls(*cls._common(d), Account.from_dict(d["account"]), _diffs_from_json(d.get("diffs", [])))


@dataclass(frozen=True)
class RemoveAccount(_Change):
    account: Account
    kind: ClassVar[ChangeKind] = ChangeKind.REMOVE

    def _own(self) -> dict[str, Any]:
        return {"account": self.account.to_dict()}

    @classmethod
    def _read(cls, d: dict[str, Any], fmt: int) -> RemoveAccount:
        return cls(*cls._common(d), Account.from_dict(d["account"]))


@dataclass(frozen=True)
class LinkRecord(_Change):
    integration: IntegrationKind
    record_id: str
    fingerprint: str = ""  # of the record's owned fields when planned (core/drift.py); "" before format 3
    kind: ClassVar[ChangeKind] = ChangeKind.LINK

    def _own(self) -> dict[str, Any]:
        return {
            "integration": self.integration.value,
            "record_id": self.record_id,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def _read(cls, d: dict[str, Any], fmt: int) -> LinkRecord:
        return cls(
            *cls._common(d), IntegrationKind(d["integration"]), d["record_id"], d.get("fingerprint", "")
        )


RecordRequest = NewPasswordEntry | NewContact


@dataclass(frozen=True)
class CreateRecord(_Change):
    """A password entry (vault kinds) or a contact (PSA kinds), by the kind's role."""

    integration: IntegrationKind
    request: RecordRequest
    kind: ClassVar[ChangeKind] = ChangeKind.CREATE_RECORD

    @property
    def marker(self) -> str:
        return self.request.marker

    def _own(self) -> dict[str, Any]:
        # the request dataclasses' fields are the JSON names (schemas/plan.schema.json)
        request = {k: v for k, v in _flat(self.request).items() if k != "lineage" or v}
        return {"integration": self.integration.value, "request": request}

    @classmethod
    def _read(cls, d: dict[str, Any], fmt: int) -> CreateRecord:
        kind = IntegrationKind(d["integration"])
        raw: dict[str, Any] = (d.get("new_entry") or d["new_contact"]) if fmt == 1 else d["request"]
        request: RecordRequest = NewPasswordEntry(**raw) if kind.role is Role.VAULT else NewContact(**raw)
        return cls(*cls._common(d), kind, request)


@dataclass(frozen=True)
class RecreateRecord(CreateRecord):
    """A linked record vanished from the integration and is created anew (the link
    guard's own kind of change, #12): `old_record_id` is the record it replaces.
    Executed exactly like a `CreateRecord`; counted apart by the guards."""

    old_record_id: str = ""
    kind: ClassVar[ChangeKind] = ChangeKind.RECREATE_RECORD

    def _own(self) -> dict[str, Any]:
        return {**super()._own(), "record_id": self.old_record_id}

    @classmethod
    def _read(cls, d: dict[str, Any], fmt: int) -> RecreateRecord:
        created = CreateRecord._read(d, fmt)
        return cls(*cls._common(d), created.integration, created.request, d["record_id"])


@dataclass(frozen=True)
class UpdateRecord(_Change):
    """R25: the fields of a linked record that the directory owns and that differ,
    each with its value before and after (`FieldDiff.name` is a `RecordField`).
    Only those fields are written: never the marker or lineage tag, never a field the
    integration owns. `fingerprint`: the owned fields once updated (core/drift.py)."""

    integration: IntegrationKind
    record_id: str
    diffs: tuple[FieldDiff, ...]
    fingerprint: str = ""
    kind: ClassVar[ChangeKind] = ChangeKind.UPDATE_RECORD

    def values(self) -> dict[RecordField, str]:
        return {RecordField(d.name): str(d.after) for d in self.diffs}

    def _own(self) -> dict[str, Any]:
        return {
            "integration": self.integration.value,
            "record_id": self.record_id,
            "diffs": _diffs_to_json(self.diffs),
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def _read(cls, d: dict[str, Any], fmt: int) -> UpdateRecord:
        return cls(
            *cls._common(d),
            IntegrationKind(d["integration"]),
            d["record_id"],
            _diffs_from_json(d["diffs"]),
            d.get("fingerprint", ""),
        )


@dataclass(frozen=True)
class ArchiveRecord(_Change):
    """R8 with `onRemoval: archive`: the linked record of a removed account is archived
    (a password entry) or set inactive (a PSA contact); never deleted. Applied before
    the account is forgotten, so a crash in between archives it on the next run."""

    integration: IntegrationKind
    record_id: str
    kind: ClassVar[ChangeKind] = ChangeKind.ARCHIVE_RECORD

    def _own(self) -> dict[str, Any]:
        return {"integration": self.integration.value, "record_id": self.record_id}

    @classmethod
    def _read(cls, d: dict[str, Any], fmt: int) -> ArchiveRecord:
        return cls(*cls._common(d), IntegrationKind(d["integration"]), d["record_id"])


@dataclass(frozen=True)
class SendWelcome(_Change):
    email: WelcomeEmail
    kind: ClassVar[ChangeKind] = ChangeKind.SEND_WELCOME

    def _own(self) -> dict[str, Any]:
        return {"email": _flat(self.email)}

    @classmethod
    def _read(cls, d: dict[str, Any], fmt: int) -> SendWelcome:
        return cls(*cls._common(d), WelcomeEmail(**d["email"]))


def _flat(request: Any) -> dict[str, Any]:
    """A request dataclass (flat: text fields only) as its JSON object; `asdict`
    deep-copies every value, a third of saving a 100,000-change plan."""
    return {name: getattr(request, name) for name in _field_names(request.__class__)}


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


Change = (
    AddAccount
    | UpdateAccount
    | RemoveAccount
    | LinkRecord
    | CreateRecord
    | RecreateRecord
    | UpdateRecord
    | ArchiveRecord
    | SendWelcome
)
AccountChange = AddAccount | UpdateAccount | RemoveAccount

CHANGE_TYPES: dict[ChangeKind, Any] = {
    t.kind: t
    for t in (
        AddAccount,
        UpdateAccount,
        RemoveAccount,
        LinkRecord,
        CreateRecord,
        RecreateRecord,
        UpdateRecord,
        ArchiveRecord,
        SendWelcome,
    )
}


def change_from_dict(d: dict[str, Any], fmt: int) -> Change:
    """One change of a saved plan of format `fmt` (any of READABLE_FORMATS)."""
    change: Change = CHANGE_TYPES[ChangeKind(d["kind"])]._read(d, fmt)
    return change
