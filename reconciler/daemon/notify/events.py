"""Daemon stage (notifications): what is wrong with a customer after a run, as typed
events (`reconciler.core.events`, schema version 1), and their wire form.

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
from typing import Any

from reconciler.core.events import (
    FLEET,
    RESOLVED_TYPE,
    SCHEMA_VERSION,
    SEVERITIES,
    ConfigInvalid,
    ConflictOpened,
    CustomerBlocked,
    CustomerQuarantined,
    Event,
    Problem,
    RunFailed,
    WelcomeUnsent,
    family,
)
from reconciler.state.api import CustomerRecord

__all__ = ["FLEET", "SEVERITIES", "Problem", "customer_events", "customer_problems", "event", "family"]


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


def customer_events(rec: CustomerRecord, warnings: list[str] | None) -> list[Event]:
    """What is wrong with `rec`'s customer now. `warnings`: the run's plan warnings (None
    when the run made no plan: welcome problems are then left as they were)."""
    name = rec.customer
    out: list[Event] = []
    if rec.failures:
        out.append(RunFailed(name, rec.failures, rec.last_message or "", rec.last_commit or ""))
    if rec.quarantined:
        out.append(CustomerQuarantined(name, rec.failures, rec.last_message or ""))
    if rec.blocked:
        out.append(CustomerBlocked(name, rec.blocked_reason or "", tuple(rec.blocked_removals)))
    for c in rec.conflicts:
        out.append(
            ConflictOpened(
                name, str(c.get("integration")), str(c.get("account_key")), str(c.get("label") or ""),
                str(c.get("cause") or ""), tuple(c.get("candidates") or ()), str(c.get("pin") or ""),
            )
        )  # fmt: skip
    for w in warnings or ():
        if w.endswith("(R16)"):
            out.append(WelcomeUnsent(name, w.split(":", 1)[0], w))
    return out


def customer_problems(rec: CustomerRecord, warnings: list[str] | None) -> list[Problem]:
    return [e.problem() for e in customer_events(rec, warnings)]


def families(planned: bool) -> frozenset[str]:
    """Causes one run decides on: welcome ones only when it made a plan."""
    base = {"run", "quarantine", "blocked", "conflict"}
    return frozenset(base | {"welcome"}) if planned else frozenset(base)


def config_problem(error: str) -> Problem:
    return ConfigInvalid(error).problem()
