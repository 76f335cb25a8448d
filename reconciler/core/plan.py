"""Pure core: the plan as data (immutable changes, conflicts, per-customer status).

The change kinds live in `core/changes.py` and are re-exported here.
Renderers only turn a `Plan` into text; apply only executes one. `to_dict` /
`from_dict` give the saved-plan and JSON formats (`schemas/plan.schema.json`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from reconciler.core.changes import (
    CHANGE_TYPES,
    AccountChange,
    AddAccount,
    ArchiveRecord,
    Change,
    ChangeKind,
    CreateRecord,
    FieldDiff,
    LinkRecord,
    RecordRequest,
    RecreateRecord,
    RemoveAccount,
    SendWelcome,
    UpdateAccount,
    UpdateRecord,
    change_from_dict,
)
from reconciler.core.model import (
    IntegrationKind,
)
from reconciler.core.reads import IntegrationRead
from reconciler.core.words import count

__all__ = [  # the change kinds are re-exported: callers name them from here
    "CHANGE_TYPES",
    "PLAN_FORMAT",
    "READABLE_FORMATS",
    "AccountChange",
    "AddAccount",
    "ArchiveRecord",
    "Change",
    "ChangeKind",
    "Conflict",
    "CreateRecord",
    "CustomerPlan",
    "FieldDiff",
    "LinkRecord",
    "Plan",
    "RecordRequest",
    "RecreateRecord",
    "RemoveAccount",
    "SendWelcome",
    "Skipped",
    "Status",
    "Summary",
    "UpdateAccount",
    "UpdateRecord",
    "change_from_dict",
]

PLAN_FORMAT = 6
# format 1: create-record carried `new_entry` / `new_contact`; format 2 added recreate-record
# (a vanished linked record, #12) and its summary count; format 3: link carries `fingerprint`
# (the owned fields, for drift); format 4 adds `skipped` users; format 5 adds `reads` (which
# integrations were listed in full, and when last, #16); format 6 adds update-record (R25) and
# archive-record (R8 onRemoval) and their summary counts, and `config_parts` (a digest per
# config document and template, so a stale plan names what changed, #12)
READABLE_FORMATS = (1, 2, 3, 4, 5, 6)


class Status(StrEnum):
    OK = "ok"
    PAUSED = "paused"
    REFUSED = "refused"
    ERROR = "error"


def _change_dict(change: Change) -> dict[str, Any]:
    return change.to_dict()


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
    update_record: int = 0
    archive_record: int = 0
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
                self.update_record,
                self.archive_record,
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
                    (self.update_record, count(self.update_record, "record") + " to update"),
                    (self.archive_record, count(self.archive_record, "record") + " to archive"),
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
    config_parts: Mapping[str, str] = field(default_factory=dict)  # "Customer contoso" -> digest

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
            counts["update_record"] += cp.count(ChangeKind.UPDATE_RECORD)
            counts["archive_record"] += cp.count(ChangeKind.ARCHIVE_RECORD)
            counts["welcome"] += cp.count(ChangeKind.SEND_WELCOME)
        return Summary(**counts)

    def to_dict(self, change: Callable[[Change], Any] = _change_dict) -> dict[str, Any]:
        return {
            "format": self.format,
            "config_digest": self.config_digest,
            "config_parts": dict(sorted(self.config_parts.items())),
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
            config_parts={str(k): str(v) for k, v in dict(d.get("config_parts") or {}).items()},
        )
