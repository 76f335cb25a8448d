"""Notification events as typed values (schema version 1, `schemas/notification-event.schema.json`).

Anything in the daemon that notices a problem says so with one call on the
`EventSink` it was given, with one of these events:

    events.emit(BudgetExhausted("autotask", used=3000, limit=3000, window_seconds=3600))
    events.emit(FleetHeld(hold.short, hold.customers, hold.limit, hold.fleet))
    events.resolve(FleetHeld())          # it is over: one "resolved" to whoever was told

`emit` means "this is true now": the first emit of a (customer, cause) opens it
and tells every target that wants it; later emits only update what it says, and
a target hears it again at most every `remindEveryHours`. `resolve` ends it. The
sink does the dedup (kept in the daemon store, so restarts and replicas agree),
the queueing and the delivery: emitting never blocks on the network. The fields
an event is keyed by (`customer`, and what `cause` is made of) are the only ones
`resolve` needs; the others have defaults so a resolve can be written short.

Pure data: no clock, no I/O (the sink adds the time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from reconciler.config.models import NOTIFICATION_EVENTS
from reconciler.core.words import count

SCHEMA_VERSION = 1
SEVERITIES = ("info", "warning", "error")
FLEET = ""  # the "customer" of fleet-wide problems (config.invalid, fleet.held, MSP-wide budgets)
EVENT_TYPES = NOTIFICATION_EVENTS  # one list: Settings checks the targets' `events` against it
RESOLVED_TYPE = {"run.failed": "run.recovered", "conflict.opened": "conflict.resolved"}


@dataclass(frozen=True)
class Problem:
    """What the dedup store keeps of an open cause (the untyped form of an `Event`)."""

    type: str
    cause: str
    severity: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return family(self.cause)


def family(cause: str) -> str:
    return cause.split(":", 1)[0]


class Event:
    """One kind of problem. Subclasses are frozen dataclasses naming their `type`,
    `severity`, the `customer` they concern (FLEET for fleet-wide) and their cause key."""

    type: ClassVar[str]
    severity: ClassVar[str]
    customer: str

    @property
    def cause(self) -> str:
        raise NotImplementedError

    @property
    def summary(self) -> str:
        raise NotImplementedError

    def data(self) -> dict[str, Any]:
        raise NotImplementedError

    def problem(self) -> Problem:
        return Problem(self.type, self.cause, self.severity, self.summary, self.data())


class EventSink(Protocol):
    def emit(self, event: Event) -> None:
        """`event` is true now: open its cause, or keep it open with what it says now."""
        ...

    def resolve(self, event: Event) -> None:
        """`event`'s cause (customer + cause key) is over."""
        ...


class NoEvents:
    """The sink when nothing listens (CLI runs, a daemon without notification targets)."""

    def emit(self, event: Event) -> None:
        pass

    def resolve(self, event: Event) -> None:
        pass


NO_EVENTS: EventSink = NoEvents()


def _who(customer: str) -> str:
    return customer or "fleet"


@dataclass(frozen=True)
class RunFailed(Event):
    """Runs failing in a row; resolves as `run.recovered`."""

    type: ClassVar[str] = "run.failed"
    severity: ClassVar[str] = "error"
    customer: str
    failures: int = 0
    message: str = ""
    commit: str = ""

    @property
    def cause(self) -> str:
        return "run"

    @property
    def summary(self) -> str:
        return f"{self.customer}: {count(self.failures, 'run')} failed in a row: {self.message}"

    def data(self) -> dict[str, Any]:
        return {"message": self.message, "failures": self.failures, "commit": self.commit}


@dataclass(frozen=True)
class CustomerQuarantined(Event):
    type: ClassVar[str] = "customer.quarantined"
    severity: ClassVar[str] = "error"
    customer: str
    failures: int = 0
    message: str = ""

    @property
    def cause(self) -> str:
        return "quarantine"

    @property
    def summary(self) -> str:
        return f"{self.customer}: quarantined after {self.failures} failures; retried slowly"

    def data(self) -> dict[str, Any]:
        return {"failures": self.failures, "message": self.message}


@dataclass(frozen=True)
class CustomerBlocked(Event):
    """The safety guard holds the customer's removals (the exact account keys) for approval."""

    type: ClassVar[str] = "customer.blocked"
    severity: ClassVar[str] = "warning"
    customer: str
    reason: str = ""
    removals: Sequence[str] = ()

    @property
    def cause(self) -> str:
        return "blocked"

    @property
    def summary(self) -> str:
        return f"{self.customer}: blocked by the safety guard: {self.reason}"

    def data(self) -> dict[str, Any]:
        return {"reason": self.reason, "removals": list(self.removals)}


@dataclass(frozen=True)
class ConflictOpened(Event):
    """A record the matcher cannot decide (R13/R14), with its candidates and the pin that
    decides it; resolves as `conflict.resolved`."""

    type: ClassVar[str] = "conflict.opened"
    severity: ClassVar[str] = "warning"
    customer: str
    integration: str
    account_key: str
    label: str = ""
    why: str = ""
    candidates: Sequence[Mapping[str, Any]] = ()
    pin: str = ""

    @property
    def cause(self) -> str:
        return f"conflict:{self.integration}:{self.account_key}"

    @property
    def summary(self) -> str:
        return f"{self.customer}: {self.label} in {self.integration}: {self.why}"

    def data(self) -> dict[str, Any]:
        return {
            "account_key": self.account_key,
            "label": self.label,
            "integration": self.integration,
            "cause": self.why,
            "candidates": [dict(c) for c in self.candidates],
            "pin": self.pin,
        }


@dataclass(frozen=True)
class WelcomeUnsent(Event):
    """A welcome email that could not be sent (R16)."""

    type: ClassVar[str] = "welcome.unsent"
    severity: ClassVar[str] = "warning"
    customer: str
    account: str
    reason: str = ""

    @property
    def cause(self) -> str:
        return f"welcome:{self.account}"

    @property
    def summary(self) -> str:
        return f"{self.customer}: {self.reason}"

    def data(self) -> dict[str, Any]:
        return {"account": self.account, "reason": self.reason}


@dataclass(frozen=True)
class BudgetExhausted(Event):
    """An integration's request budget is used up until `until` (Unix seconds, if known);
    MSP-wide budgets have no customer (FLEET)."""

    type: ClassVar[str] = "budget.exhausted"
    severity: ClassVar[str] = "warning"
    integration: str
    customer: str = FLEET
    used: int = 0
    limit: int = 0
    window_seconds: float = 0.0
    until: float | None = None
    deferred: Sequence[str] = ()  # customers whose runs wait for the budget

    @property
    def cause(self) -> str:
        return f"budget:{self.integration}"

    @property
    def summary(self) -> str:
        spent = f" ({self.used} of {self.limit} requests per {self.window_seconds:g}s)" if self.limit else ""
        waiting = f"; {count(len(self.deferred), 'customer')} deferred" if self.deferred else ""
        return f"{_who(self.customer)}: {self.integration} request budget exhausted{spent}{waiting}"

    def data(self) -> dict[str, Any]:
        return {
            "integration": self.integration,
            "used": self.used,
            "limit": self.limit,
            "window_seconds": self.window_seconds,
            "until": self.until,
            "deferred": list(self.deferred),
        }


@dataclass(frozen=True)
class ConfigInvalid(Event):
    """The config on disk does not load; the daemon keeps running the last good one."""

    type: ClassVar[str] = "config.invalid"
    severity: ClassVar[str] = "error"
    error: str = ""
    customer: str = FLEET

    @property
    def cause(self) -> str:
        return "config"

    @property
    def summary(self) -> str:
        return f"config on disk is invalid: {self.error}"

    def data(self) -> dict[str, Any]:
        return {"error": self.error}


@dataclass(frozen=True)
class FleetHeld(Event):
    """The fleet breaker holds customers whose settings changed and would remove accounts;
    `reconciler override --fleet <digest>` releases exactly these removals."""

    type: ClassVar[str] = "fleet.held"
    severity: ClassVar[str] = "error"
    digest: str = ""
    customers: Mapping[str, Sequence[str]] = field(default_factory=dict)  # customer -> removals
    limit: int = 0
    fleet: int = 0
    customer: str = FLEET

    @property
    def cause(self) -> str:
        return "fleet"

    @property
    def summary(self) -> str:
        return (
            f"fleet breaker {self.digest} holds {len(self.customers)} customers whose settings changed "
            f"and would remove accounts (limit {self.limit} of a fleet of {self.fleet}); "
            f"`reconciler override --fleet {self.digest}` releases them"
        )

    def data(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "customers": {c: list(r) for c, r in sorted(self.customers.items())},
            "limit": self.limit,
            "fleet": self.fleet,
            "removals": [f"{c}: {r}" for c, rs in sorted(self.customers.items()) for r in rs],
        }
