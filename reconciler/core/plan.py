"""Pure core: the plan as data (immutable changes, conflicts, per-customer status).

Renderers only turn a `Plan` into text; apply only executes one. `to_dict` /
`from_dict` give the saved-plan and JSON formats (`schemas/plan.schema.json`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from functools import cache, cached_property
from typing import Any, ClassVar

from reconciler.core.model import (
    Account,
    IntegrationKind,
    NewContact,
    NewPasswordEntry,
    WelcomeEmail,
)
from reconciler.core.reads import IntegrationRead
from reconciler.core.words import count
from reconciler.integrations.kinds import Role

PLAN_FORMAT = 5
# format 1: create-record carried `new_entry` / `new_contact`; format 2 added recreate-record
# (a vanished linked record, #12) and its summary count; format 3: link carries `fingerprint`
# (the owned fields, for drift); format 4 adds `skipped` users; format 5 adds `reads` (which
# integrations were listed in full, and when last, #16)
READABLE_FORMATS = (1, 2, 3, 4, 5)


class ChangeKind(StrEnum):
    ADD = "add"
    UPDATE = "update"
    REMOVE = "remove"
    LINK = "link"
    CREATE_RECORD = "create-record"
    RECREATE_RECORD = "recreate-record"  # a linked record vanished: created anew, naming the old one
    SEND_WELCOME = "send-welcome"


class Status(StrEnum):
    OK = "ok"
    PAUSED = "paused"
    REFUSED = "refused"
    ERROR = "error"


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


Change = AddAccount | UpdateAccount | RemoveAccount | LinkRecord | CreateRecord | RecreateRecord | SendWelcome
AccountChange = AddAccount | UpdateAccount | RemoveAccount

CHANGE_TYPES: dict[ChangeKind, Any] = {
    t.kind: t
    for t in (AddAccount, UpdateAccount, RemoveAccount, LinkRecord, CreateRecord, RecreateRecord, SendWelcome)
}


def _change_dict(change: Change) -> dict[str, Any]:
    return change.to_dict()


def change_from_dict(d: dict[str, Any], fmt: int = PLAN_FORMAT) -> Change:
    """One change of a saved plan of format `fmt` (any of READABLE_FORMATS)."""
    change: Change = CHANGE_TYPES[ChangeKind(d["kind"])]._read(d, fmt)
    return change


@dataclass(frozen=True)
class Conflict:
    """R18: several records match one account; nothing is linked or created."""

    account_key: str
    label: str
    integration: IntegrationKind
    cause: str
    candidates: tuple[tuple[str, str, str], ...]  # (id, name, detail)
    pin: str  # the YAML that resolves it, for the customer's spec.pins

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_key": self.account_key,
            "label": self.label,
            "integration": self.integration.value,
            "cause": self.cause,
            "candidates": [{"id": i, "name": n, "detail": d} for i, n, d in self.candidates],
            "pin": self.pin,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Conflict:
        return cls(
            d["account_key"],
            d["label"],
            IntegrationKind(d["integration"]),
            d["cause"],
            tuple((c["id"], c["name"], c["detail"]) for c in d["candidates"]),
            d["pin"],
        )


@dataclass(frozen=True)
class Skipped:
    """A directory user the selection saw but did not import, and why (R19)."""

    account_class: str
    user: str
    reason: str  # a `core.notes.Reason` value
    rule: str
    message: str
    user_id: str = ""

    def line(self) -> str:
        return f"{self.account_class} {self.user}: {self.message} ({self.rule})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Skipped:
        return cls(d["account_class"], d["user"], d["reason"], d["rule"], d["message"], d.get("user_id", ""))


@dataclass(frozen=True)
class CustomerPlan:
    customer: str
    status: Status
    serial: int
    changes: tuple[Change, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    reason: str = ""  # why refused / paused / error
    skipped: tuple[Skipped, ...] = ()
    reads: tuple[IntegrationRead, ...] = ()  # which integrations were listed, and when last in full

    def skipped_counts(self) -> dict[str, int]:
        """How many users were left out per reason, most first."""
        counts: dict[str, int] = {}
        for s in self.skipped:
            counts[s.reason] = counts.get(s.reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def count(self, *kinds: ChangeKind) -> int:
        counted: int = sum(n for t, n in self._by_type.items() if t.kind in kinds)
        return counted

    @cached_property
    def _by_type(self) -> Counter[Any]:
        """Changes per class, counted once (a summary counts seven kinds, and the text
        and the saved plan each make one): keyed by class, whose hash is C code."""
        return Counter(map(type, self.changes))

    @property
    def applicable(self) -> bool:
        return self.status is Status.OK and bool(self.changes)

    def to_dict(self, change: Callable[[Change], Any] = _change_dict) -> dict[str, Any]:
        """`change` turns each change into its JSON value (the saved plan passes
        pre-encoded text, core/planfile.py)."""
        return {
            "customer": self.customer,
            "status": self.status.value,
            "serial": self.serial,
            "reason": self.reason,
            "changes": [change(c) for c in self.changes],
            "conflicts": [c.to_dict() for c in self.conflicts],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "skipped": [s.to_dict() for s in self.skipped],
            "skipped_counts": self.skipped_counts(),
            "reads": [r.to_dict() for r in self.reads],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], fmt: int = PLAN_FORMAT) -> CustomerPlan:
        return cls(
            d["customer"],
            Status(d["status"]),
            int(d["serial"]),
            tuple(change_from_dict(c, fmt) for c in d["changes"]),
            tuple(Conflict.from_dict(c) for c in d["conflicts"]),
            tuple(d["warnings"]),
            tuple(d["notes"]),
            d.get("reason", ""),
            tuple(Skipped.from_dict(s) for s in d.get("skipped", ())),
            tuple(IntegrationRead.from_dict(r) for r in d.get("reads", ())),
        )


@dataclass(frozen=True)
class Summary:
    add: int = 0
    change: int = 0
    remove: int = 0
    link: int = 0
    create_record: int = 0
    recreate_record: int = 0
    welcome: int = 0
    conflicts: int = 0
    refused: int = 0
    paused: int = 0
    errors: int = 0

    @property
    def has_changes(self) -> bool:
        return any(
            (
                self.add,
                self.change,
                self.remove,
                self.link,
                self.create_record,
                self.recreate_record,
                self.welcome,
            )
        )

    def line(self) -> str:
        if not self.has_changes and not self.conflicts:
            text = "No changes."
        else:
            text = f"Plan: {self.add} to add, {self.change} to change, {self.remove} to remove"
            extra = [
                phrase
                for n, phrase in (
                    (self.link, f"{self.link} to link"),
                    (self.create_record, count(self.create_record, "record") + " to create"),
                    (self.recreate_record, count(self.recreate_record, "vanished record") + " to re-create"),
                    (self.welcome, count(self.welcome, "welcome email")),
                )
                if n
            ]
            text += "".join(f", {e}" for e in extra)
            text += f", {count(self.conflicts, 'conflict')}."
        tail = [
            f"{count(n, 'customer')} {word}"
            for n, word in ((self.refused, "refused"), (self.paused, "paused"), (self.errors, "failed"))
            if n
        ]
        return text + (" " + "; ".join(tail) + "." if tail else "")

    def to_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Plan:
    config_digest: str
    created_at: str
    customers: tuple[CustomerPlan, ...] = ()
    selected: tuple[str, ...] = ()  # --customer filter it was made with (empty = all)
    format: int = PLAN_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> Summary:
        counts: dict[str, int] = dict.fromkeys(Summary.__dataclass_fields__, 0)
        for cp in self.customers:
            counts["conflicts"] += len(cp.conflicts)
            if cp.status is Status.REFUSED:
                counts["refused"] += 1
            elif cp.status is Status.PAUSED:
                counts["paused"] += 1
            elif cp.status is Status.ERROR:
                counts["errors"] += 1
            if cp.status is not Status.OK:
                continue
            counts["add"] += cp.count(ChangeKind.ADD)
            counts["change"] += cp.count(ChangeKind.UPDATE)
            counts["remove"] += cp.count(ChangeKind.REMOVE)
            counts["link"] += cp.count(ChangeKind.LINK)
            counts["create_record"] += cp.count(ChangeKind.CREATE_RECORD)
            counts["recreate_record"] += cp.count(ChangeKind.RECREATE_RECORD)
            counts["welcome"] += cp.count(ChangeKind.SEND_WELCOME)
        return Summary(**counts)

    def to_dict(self, change: Callable[[Change], Any] = _change_dict) -> dict[str, Any]:
        return {
            "format": self.format,
            "config_digest": self.config_digest,
            "created_at": self.created_at,
            "selected": list(self.selected),
            "summary": self.summary().to_dict(),
            "customers": [c.to_dict(change) for c in self.customers],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        fmt = d.get("format")
        if fmt not in READABLE_FORMATS:
            raise ValueError(
                f"unsupported plan format {fmt!r}; this version reads {', '.join(map(str, READABLE_FORMATS))}"
            )
        assert isinstance(fmt, int)
        return cls(
            d["config_digest"],
            d["created_at"],
            tuple(CustomerPlan.from_dict(c, fmt) for c in d["customers"]),
            tuple(d.get("selected", ())),
        )
