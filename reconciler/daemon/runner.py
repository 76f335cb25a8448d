"""Daemon stage: one customer's reconcile, turned into a `RunReport` (errors as values).

plan_one -> paused (R10: planned, never applied) | refused by a safety guard
(blocked, with the removals it would make) | held by the fleet breaker
(daemon/fleet.py: blocked the same way) | no changes | apply. A one-time
override approves exactly the removals that blocked the customer: if the plan
now removes accounts the person did not see, it stays blocked (Entra Connect's
deletion threshold, made precise).

Shutdown: a run that has not started applying when the daemon stops does not
start; one that is applying is told to stop at the next change boundary (the
executor commits each batch and journals each external create, so state stays
consistent) once the grace period is over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from reconciler.apply.executor import ApplyOutcome, CustomerResult
from reconciler.apply.lease import HeldLease
from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.plan import (
    Change,
    Conflict,
    CustomerPlan,
    Plan,
    RecreateRecord,
    RemoveAccount,
    Status,
    UpdateRecord,
)
from reconciler.core.words import count
from reconciler.daemon.clock import Clock
from reconciler.daemon.logs import event
from reconciler.engine import Engine
from reconciler.errors import LockHeldError, StalePlanError
from reconciler.state.api import CustomerRecord

DAEMON_HOLDER = "reconciler daemon"  # lock holder and run-history author
PLAN_CHANGES_KEPT = 500  # changes of the last plan kept for the status page (counts cover all)


class RunResult(StrEnum):
    APPLIED = "applied"
    IN_SYNC = "in-sync"
    PAUSED = "paused"
    BLOCKED = "blocked"
    ERROR = "error"
    BUSY = "busy"  # locked by another apply, or state moved under the plan: retried soon
    ABANDONED = "abandoned"  # stopped by shutdown; runs again at the next start
    # quiet hours close a write of the plan, or the MSP-wide request budget (#16) cannot
    # cover the run: it runs again when they open / when the budget covers it (`retry_at`)
    DEFERRED = "deferred"

    @property
    def succeeded(self) -> bool:
        return self in (RunResult.APPLIED, RunResult.IN_SYNC)

    @property
    def planned(self) -> bool:
        """The run produced a plan worth remembering (conflicts, pending changes)."""
        return self in (
            RunResult.APPLIED,
            RunResult.IN_SYNC,
            RunResult.PAUSED,
            RunResult.BLOCKED,
            RunResult.DEFERRED,
        )


@dataclass(frozen=True)
class RunContext:
    engine: Engine
    customer: EffectiveCustomer
    record: CustomerRecord | None
    clock: Clock
    stopping: threading.Event
    abandon: threading.Event
    holder: str = DAEMON_HOLDER
    held: HeldLease | None = None  # the customer's lease, claimed before planning
    import_now: bool = False  # re-read Entra roles and groups (they have no delta / a nested lag)
    # the fleet breaker (daemon/fleet.py): None to apply, ("wait"|"held", why) otherwise
    fleet: Callable[[CustomerPlan], tuple[str, str] | None] | None = None


@dataclass(frozen=True)
class RunReport:
    customer: str
    result: RunResult
    message: str
    started: float
    finished: float
    duration: float
    applied: dict[str, int] = field(default_factory=dict)  # change kind -> count
    failed: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    conflicts: tuple[Conflict, ...] = ()
    removals: tuple[str, ...] = ()
    used_override: float | None = None
    plan: dict[str, Any] | None = None  # plan_summary() of the plan this run made, if any
    retry_at: float | None = None  # DEFERRED: when the quiet hours end / the budget covers it

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "result": self.result.value,
            "message": self.message,
            "started": self.started,
            "finished": self.finished,
            "duration": round(self.duration, 3),
            "applied": dict(self.applied),
            "failed": dict(self.failed),
            "pending": self.pending,
            "conflicts": [c.to_dict() for c in self.conflicts],
        }


def reconcile(ctx: RunContext) -> RunReport:
    clock, eff = ctx.clock, ctx.customer
    started, t0 = clock.now(), clock.monotonic()

    def done(result: RunResult, message: str, **kw: Any) -> RunReport:
        return RunReport(eff.name, result, message, started, clock.now(), clock.monotonic() - t0, **kw)

    rec = ctx.record
    override_at = rec.override_at if rec is not None else None
    engine = ctx.engine
    refusal(engine, eff.name)  # a refusal of an earlier run is not this one's
    # a blocked customer reads its directories in full (#12): the refused answer was never
    # cached, and a full read is what lets the block lift by itself once they are healthy
    full = rec is not None and rec.blocked
    cplan = engine.plan_one(
        eff,
        engine.plan_options(
            allow_mass_removal=override_at is not None, allow_mass_update=override_at is not None
        ),
        full,
        refresh_selection=ctx.import_now,
    )
    removals = removal_keys(cplan)
    planned: dict[str, Any] = {"conflicts": cplan.conflicts, "plan": plan_summary(cplan)}

    if cplan.status is Status.ERROR:
        until = refusal(engine, eff.name)
        if until is not None:  # the budget could not cover its reads: nothing was read of it
            return done(RunResult.DEFERRED, cplan.reason, retry_at=until)
        return done(RunResult.ERROR, cplan.reason)
    if eff.paused or cplan.status is Status.PAUSED:
        return done(
            RunResult.PAUSED,
            f"{_changes(len(cplan.changes))} planned, not applied (R10)",
            pending=len(cplan.changes),
            **planned,
        )
    if cplan.status is Status.REFUSED:
        return done(RunResult.BLOCKED, cplan.reason, pending=len(cplan.changes), removals=removals, **planned)
    if override_at is not None:
        planned["used_override"] = override_at
        approved = set(rec.override_removals if rec is not None else ())
        unseen = [c.label for c in cplan.changes if (k := _removal_key(c)) is not None and k not in approved]
        if unseen:
            return done(
                RunResult.BLOCKED,
                f"the plan now removes {count(len(unseen), 'account')} (or re-creates vanished records, "
                "or updates records) "
                "the override did not approve "
                f"(first: {unseen[0]}); review the plan and override again",
                pending=len(cplan.changes),
                removals=removals,
                **planned,
            )
    elif ctx.fleet is not None and (verdict := ctx.fleet(cplan)) is not None:
        if verdict[0] == "wait":  # the leader's check of this config has not decided yet
            return done(RunResult.BUSY, verdict[1], pending=len(cplan.changes))
        return done(RunResult.BLOCKED, verdict[1], pending=len(cplan.changes), removals=removals, **planned)
    if not cplan.changes:
        return done(RunResult.IN_SYNC, "no changes", **planned)
    if ctx.stopping.is_set():
        return done(
            RunResult.ABANDONED, "the daemon is stopping; nothing applied", pending=len(cplan.changes)
        )
    return _apply(ctx, cplan, done, planned)


def plan_summary(cplan: CustomerPlan) -> dict[str, Any]:
    """What the status page and the API show of a run's plan: counts by kind, the
    first PLAN_CHANGES_KEPT changes, every conflict (with its pin), warnings."""
    return {
        "status": cplan.status.value,
        "reason": cplan.reason,
        "serial": cplan.serial,
        "counts": dict(Counter(c.kind.value for c in cplan.changes)),
        "changes_total": len(cplan.changes),
        "changes": [c.to_dict() for c in cplan.changes[:PLAN_CHANGES_KEPT]],
        "conflicts": [c.to_dict() for c in cplan.conflicts],
        "warnings": list(cplan.warnings),
        "notes": list(cplan.notes),
    }


def history_entry(report: RunReport, rec: CustomerRecord, commit: str) -> dict[str, Any]:
    """One line of a customer's run history: what ran, how long, and where (replica)."""
    return {
        "started": report.started,
        "finished": report.finished,
        "duration": round(report.duration, 3),
        "result": report.result.value,
        "message": report.message,
        "applied": sum(report.applied.values()),
        "failed": sum(report.failed.values()),
        "pending": report.pending,
        "conflicts": len(report.conflicts),
        "commit": commit,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "quarantined": rec.quarantined,
    }


def removal_keys(cplan: CustomerPlan) -> tuple[str, ...]:
    """What an override approves: removed accounts, vanished records to re-create (#12)
    and records to update (R25: the update guard is overridden the same way)."""
    return tuple(sorted(k for k in map(_removal_key, cplan.changes) if k is not None))


def _removal_key(change: Change) -> str | None:
    if isinstance(change, RemoveAccount):
        return change.account_key
    if isinstance(change, RecreateRecord):
        return f"recreate {change.integration.value} {change.old_record_id} {change.account_key}"
    if isinstance(change, UpdateRecord):
        return f"update {change.integration.value} {change.record_id} {change.account_key}"
    return None


def _apply(
    ctx: RunContext, cplan: CustomerPlan, done: Callable[..., RunReport], planned: dict[str, Any]
) -> RunReport:
    engine = ctx.engine
    created = datetime.fromtimestamp(ctx.clock.now(), UTC).isoformat(timespec="seconds")
    plan = Plan(engine.config.digest, created, (cplan,), (cplan.customer,))
    try:
        results = engine.apply(
            plan,
            holder=ctx.holder,
            held=ctx.held,
            allow_mass_removal="used_override" in planned,
            allow_mass_update="used_override" in planned,
            stop=ctx.abandon,
        )
    except (StalePlanError, LockHeldError) as exc:  # the config or the state moved since plan_one
        return done(RunResult.BUSY, str(exc), pending=len(cplan.changes))
    result = results[0] if results else CustomerResult(cplan.customer)
    if result.outcome is ApplyOutcome.DEFERRED:  # quiet hours: plans again when they open
        return done(
            RunResult.DEFERRED, result.error, pending=len(cplan.changes), retry_at=result.retry_at, **planned
        )
    if result.outcome is ApplyOutcome.BUSY:  # a person's `reconciler apply`, another replica
        return done(RunResult.BUSY, result.error, pending=len(cplan.changes))
    applied = dict(Counter(o.change.kind.value for o in result.succeeded))
    failed = dict(Counter(o.change.kind.value for o in result.failed))
    counts = {"applied": applied, "failed": failed}
    total = sum(applied.values())
    if result.stopped:
        return done(
            RunResult.ABANDONED,
            f"stopped by shutdown: {_changes(total)} of {len(cplan.changes)} applied"
            f"{_by_kind(applied)}; the rest runs at the next start",
            **counts,
        )
    if result.outcome is ApplyOutcome.TAKEN_OVER:  # another holder has the customer now: not a failure
        return done(RunResult.BUSY, f"{result.error} ({_changes(total)} applied first)", **counts)
    until = refusal(engine, cplan.customer)
    if until is not None and (result.error or result.failed):  # the budget ran out part way
        why = result.error or result.failed[0].message
        return done(
            RunResult.DEFERRED,
            f"{why} ({_changes(total)} of {len(cplan.changes)} applied first)",
            retry_at=until,
            **counts,
        )
    if result.error:
        return done(RunResult.ERROR, f"{result.error} ({_changes(total)} applied first)", **counts, **planned)
    if result.failed:
        first = result.failed[0]
        return done(
            RunResult.ERROR,
            f"{len(result.failed)} of {len(cplan.changes)} changes failed "
            f"(first: {first.change.kind.value} {first.change.label}: {first.message})",
            **counts,
            **planned,
        )
    return done(RunResult.APPLIED, f"{_changes(total)} applied", **counts, **planned)


def refusal(engine: Engine, customer: str) -> float | None:
    """Until when the budget refused the customer's last request, if it did (once)."""
    return engine.budgets.take_refusal(customer) if engine.budgets is not None else None


def _changes(n: int) -> str:
    return f"{n} change{'' if n == 1 else 's'}"


def _by_kind(applied: dict[str, int]) -> str:
    if not applied:
        return ""
    return " (" + ", ".join(f"{n} {kind}" for kind, n in sorted(applied.items())) + ")"


@dataclass(frozen=True)
class Bookkeeping:
    """What the scheduler knows when a run ends, besides the report."""

    next_run_at: float
    quarantined: bool
    failures: int
    commit: str
    digest: str


def record_after(prev: CustomerRecord | None, report: RunReport, book: Bookkeeping) -> CustomerRecord:
    """The customer's daemon record after `report` (override columns untouched)."""
    base = prev or CustomerRecord(report.customer)
    r = report.result
    rec = replace(
        base,
        next_run_at=book.next_run_at,
        last_started_at=report.started,
        last_finished_at=report.finished,
        last_result=r.value,
        last_message=report.message,
        last_commit=book.commit or base.last_commit,
        last_config_digest=book.digest,
        changes_applied=sum(report.applied.values()),
        failures=book.failures,
        quarantined=book.quarantined,
    )
    if r.succeeded:
        rec = replace(rec, last_success_at=report.finished)
    if r.planned:
        rec = replace(
            rec,
            conflicts=tuple(c.to_dict() for c in report.conflicts),
            changes_pending=report.pending,
        )
    if r is RunResult.BLOCKED:
        rec = replace(
            rec,
            blocked_reason=report.message,
            blocked_since=base.blocked_since if base.blocked else report.finished,
            blocked_removals=report.removals,
        )
    elif r.succeeded:
        rec = replace(rec, blocked_reason="", blocked_since=None, blocked_removals=())
    return rec


def log_report(report: RunReport, rec: CustomerRecord) -> None:
    """The one log line of a finished run."""
    r = report.result
    level = {
        RunResult.ERROR: logging.ERROR,
        RunResult.BLOCKED: logging.WARNING,
        RunResult.ABANDONED: logging.WARNING,
        RunResult.BUSY: logging.WARNING,
    }.get(r, logging.INFO)
    extra = " (quarantined)" if rec.quarantined else ""
    event(
        level,
        f"reconcile.{r.value}",
        f"{report.customer}: {r.value}: {report.message}{extra}",
        customer=report.customer,
        result=r.value,
        duration=f"{report.duration:.3f}",
        applied=sum(report.applied.values()) or None,
        conflicts=len(report.conflicts) or None,
        failures=rec.failures or None,
        next_run=_iso(rec.next_run_at),
    )


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
