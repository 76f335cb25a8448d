"""Daemon stage (notifications): problems and the events they become (schema version 1,
`schemas/notification-event.schema.json`).

A problem is something true of a customer (or of the fleet) after a run:
failing runs, quarantine, a safety block with its exact removals, each conflict
with its candidates and pin, each welcome email that could not be sent. While
it lasts it has one cause key; its event type names how it opened, and the
resolved event how it ended (run.failed -> run.recovered, conflict.opened ->
conflict.resolved; the others resolve under their own type).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.fleet import FleetHold
from reconciler.state.api import CustomerRecord

SCHEMA_VERSION = 1
SEVERITIES = ("info", "warning", "error")
RESOLVED_TYPE = {"run.failed": "run.recovered", "conflict.opened": "conflict.resolved"}
FLEET = ""  # the "customer" of fleet-wide problems (config.invalid, fleet.held)


@dataclass(frozen=True)
class Problem:
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


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def event(customer: str, problem: Problem, status: str, now: float, since: float) -> dict[str, Any]:
    """The wire form of one notification (version 1)."""
    kind = RESOLVED_TYPE.get(problem.type, problem.type) if status == "resolved" else problem.type
    return {
        "version": SCHEMA_VERSION,
        "id": f"msg_{uuid.uuid4().hex}",
        "type": kind,
        "status": status,
        "severity": "info" if status == "resolved" else problem.severity,
        "time": _iso(now),
        "since": _iso(since),
        "customer": customer or None,
        "cause": problem.cause,
        "summary": problem.summary if status != "resolved" else f"resolved: {problem.summary}",
        "data": problem.data,
    }


def customer_problems(rec: CustomerRecord, warnings: list[str] | None) -> list[Problem]:
    """What is wrong with `rec`'s customer now. `warnings`: the run's plan warnings (None
    when the run made no plan: welcome problems are then left as they were)."""
    name = rec.customer
    out: list[Problem] = []
    if rec.failures:
        out.append(
            Problem(
                "run.failed", "run", "error", f"{name}: {rec.failures} run(s) failed in a row: {rec.last_message}",
                {"message": rec.last_message, "failures": rec.failures, "commit": rec.last_commit},
            )
        )  # fmt: skip
    if rec.quarantined:
        out.append(
            Problem(
                "customer.quarantined", "quarantine", "error",
                f"{name}: quarantined after {rec.failures} failures; retried slowly",
                {"failures": rec.failures, "message": rec.last_message},
            )
        )  # fmt: skip
    if rec.blocked:
        out.append(
            Problem(
                "customer.blocked", "blocked", "warning",
                f"{name}: blocked by the safety guard: {rec.blocked_reason}",
                {"reason": rec.blocked_reason, "removals": list(rec.blocked_removals)},
            )
        )  # fmt: skip
    for c in rec.conflicts:
        out.append(
            Problem(
                "conflict.opened", f"conflict:{c.get('integration')}:{c.get('account_key')}", "warning",
                f"{name}: {c.get('label')} in {c.get('integration')}: {c.get('cause')}",
                {k: c.get(k) for k in ("account_key", "label", "integration", "cause", "candidates", "pin")},
            )
        )  # fmt: skip
    for w in warnings or ():
        if w.endswith("(R16)"):
            account = w.split(":", 1)[0]
            data = {"account": account, "reason": w}
            out.append(Problem("welcome.unsent", f"welcome:{account}", "warning", f"{name}: {w}", data))
    return out


def families(planned: bool) -> frozenset[str]:
    """Causes one run decides on: welcome ones only when it made a plan."""
    base = {"run", "quarantine", "blocked", "conflict"}
    return frozenset(base | {"welcome"}) if planned else frozenset(base)


def fleet_problem(hold: FleetHold) -> Problem:
    """A fleet breaker hold in force (#12): its digest is what `reconciler override --fleet`
    takes, so each hold is its own cause (a new hold opens anew, the old one resolves)."""
    return Problem(
        "fleet.held", f"fleet:{hold.short}", "warning",
        f"{hold.reason}: {', '.join(sorted(hold.customers))}; to release it: reconciler override --fleet {hold.short}",
        {"digest": hold.short, "customers": sorted(hold.customers), "limit": hold.limit, "fleet": hold.fleet,
         "removals": sorted(f"{c}/{k}" for c, keys in hold.customers.items() for k in keys),
         "config_digest": hold.config_digest},
    )  # fmt: skip


def config_problem(error: str) -> Problem:
    return Problem(
        "config.invalid", "config", "error", f"config on disk is invalid: {error}", {"error": error}
    )
