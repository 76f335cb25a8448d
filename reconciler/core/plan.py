"""Pure core: the plan as data (immutable changes, conflicts, per-customer status).

Renderers only turn a `Plan` into text; apply only executes one. `to_dict` /
`from_dict` give the saved-plan and JSON formats (`schemas/plan.schema.json`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.core.model import (
    Account,
    IntegrationKind,
    NewContact,
    NewPasswordEntry,
    WelcomeEmail,
)

PLAN_FORMAT = 2  # 2: CustomerPlan.skipped; format 1 (no skipped) is still read
READABLE_FORMATS = (1, 2)


class ChangeKind(StrEnum):
    ADD = "add"
    UPDATE = "update"
    REMOVE = "remove"
    LINK = "link"
    CREATE_RECORD = "create-record"
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


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    account_key: str
    label: str
    rule: str
    reason: str
    account: Account | None = None
    diffs: tuple[FieldDiff, ...] = ()
    integration: IntegrationKind | None = None
    record_id: str | None = None
    new_entry: NewPasswordEntry | None = None
    new_contact: NewContact | None = None
    email: WelcomeEmail | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind.value,
            "account_key": self.account_key,
            "label": self.label,
            "rule": self.rule,
            "reason": self.reason,
        }
        if self.account is not None:
            d["account"] = self.account.to_dict()
        if self.diffs:
            d["diffs"] = [{"field": f.name, "before": f.before, "after": f.after} for f in self.diffs]
        if self.integration is not None:
            d["integration"] = self.integration.value
        if self.record_id is not None:
            d["record_id"] = self.record_id
        # the request dataclasses' fields are the JSON names (schemas/plan.schema.json)
        for key, request in (
            ("new_entry", self.new_entry),
            ("new_contact", self.new_contact),
            ("email", self.email),
        ):
            if request is not None:
                d[key] = asdict(request)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Change:
        return cls(
            kind=ChangeKind(d["kind"]),
            account_key=d["account_key"],
            label=d["label"],
            rule=d["rule"],
            reason=d["reason"],
            account=Account.from_dict(d["account"]) if "account" in d else None,
            diffs=tuple(FieldDiff(f["field"], f["before"], f["after"]) for f in d.get("diffs", ())),
            integration=IntegrationKind(d["integration"]) if "integration" in d else None,
            record_id=d.get("record_id"),
            new_entry=NewPasswordEntry(**d["new_entry"]) if "new_entry" in d else None,
            new_contact=NewContact(**d["new_contact"]) if "new_contact" in d else None,
            email=WelcomeEmail(**d["email"]) if "email" in d else None,
        )


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

    def skipped_counts(self) -> dict[str, int]:
        """How many users were left out per reason, most first."""
        counts: dict[str, int] = {}
        for s in self.skipped:
            counts[s.reason] = counts.get(s.reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def count(self, *kinds: ChangeKind) -> int:
        return sum(1 for c in self.changes if c.kind in kinds)

    @property
    def applicable(self) -> bool:
        return self.status is Status.OK and bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "status": self.status.value,
            "serial": self.serial,
            "reason": self.reason,
            "changes": [c.to_dict() for c in self.changes],
            "conflicts": [c.to_dict() for c in self.conflicts],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "skipped": [s.to_dict() for s in self.skipped],
            "skipped_counts": self.skipped_counts(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CustomerPlan:
        return cls(
            d["customer"],
            Status(d["status"]),
            int(d["serial"]),
            tuple(Change.from_dict(c) for c in d["changes"]),
            tuple(Conflict.from_dict(c) for c in d["conflicts"]),
            tuple(d["warnings"]),
            tuple(d["notes"]),
            d.get("reason", ""),
            tuple(Skipped.from_dict(s) for s in d.get("skipped", ())),
        )


@dataclass(frozen=True)
class Summary:
    add: int = 0
    change: int = 0
    remove: int = 0
    link: int = 0
    create_record: int = 0
    welcome: int = 0
    conflicts: int = 0
    refused: int = 0
    paused: int = 0
    errors: int = 0

    @property
    def has_changes(self) -> bool:
        return any((self.add, self.change, self.remove, self.link, self.create_record, self.welcome))

    def line(self) -> str:
        if not self.has_changes and not self.conflicts:
            text = "No changes."
        else:
            text = f"Plan: {self.add} to add, {self.change} to change, {self.remove} to remove"
            extra = [
                f"{n} {word}"
                for n, word in (
                    (self.link, "to link"),
                    (self.create_record, "records to create"),
                    (self.welcome, "welcome emails"),
                )
                if n
            ]
            text += "".join(f", {e}" for e in extra)
            text += f", {self.conflicts} conflict{'s' if self.conflicts != 1 else ''}."
        tail = [
            f"{n} customer{'s' if n != 1 else ''} {word}"
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
            counts["welcome"] += cp.count(ChangeKind.SEND_WELCOME)
        return Summary(**counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "config_digest": self.config_digest,
            "created_at": self.created_at,
            "selected": list(self.selected),
            "summary": self.summary().to_dict(),
            "customers": [c.to_dict() for c in self.customers],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        if d.get("format") not in READABLE_FORMATS:
            raise ValueError(f"unsupported plan format {d.get('format')!r}; expected {PLAN_FORMAT}")
        return cls(
            d["config_digest"],
            d["created_at"],
            tuple(CustomerPlan.from_dict(c) for c in d["customers"]),
            tuple(d.get("selected", ())),
        )
