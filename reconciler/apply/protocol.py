"""Apply: the per-customer apply protocol, in one place.

    lease -> fresh? -> guards again -> batches (fenced) -> release -> run record

1. Take the customer's lease first, so a second apply is told who holds it
   (holder, pid, host, age), never merely "plan again".
2. Under the lease, check the plan is still fresh (the state serial it was made
   from) and re-check pause (R10), the removal guard and the update guard (R25)
   against the config and state as they are now: a saved plan is data from outside.
3. Execute (executor.py) through a `FencedStore`: every batch and journal row
   commits only under our epoch; the lease is renewed meanwhile and checked
   again before each external create and send.
4. Release the lease (unless it was lost: then it is someone else's) and
   record the run, naming the holder and the replica (host:pid).

The result's `outcome` says how it ended (applied / refused / busy / failed /
taken over / stopped); nothing here raises for one customer's trouble.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.apply.executor import ApplyOutcome, CustomerResult, apply_customer
from reconciler.apply.lease import FencedStore, HeldLease
from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.fleet import SETTINGS_CURSOR, settings_digest
from reconciler.core.guards import recreate_guard, update_guard
from reconciler.core.plan import ChangeKind, CustomerPlan, RecreateRecord
from reconciler.core.planning import removal_guard
from reconciler.errors import LockHeldError, ReconcilerError
from reconciler.providers.base import CustomerProviders
from reconciler.state.api import StateStore

log = logging.getLogger("reconciler.apply")

Progress = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class ApplyContext:
    """What every customer's apply of one run shares."""

    store: StateStore
    open_providers: Callable[[EffectiveCustomer], CustomerProviders]
    holder: str = "reconciler apply"
    batch_size: int = 500
    allow_mass_removal: bool = False
    progress: Progress | None = None
    stop: threading.Event | None = None
    held: HeldLease | None = None  # a lease the caller holds already (a daemon run: from its claim)
    allow_mass_update: bool = False  # R25: record updates beyond the safety threshold


def replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def apply_one(ctx: ApplyContext, cp: CustomerPlan, eff: EffectiveCustomer | None) -> CustomerResult:
    """Apply one customer's planned changes; every way it can end is an outcome."""
    name = cp.customer
    if ctx.stop is not None and ctx.stop.is_set():
        return CustomerResult(name, outcome=ApplyOutcome.STOPPED)
    started = time.time()
    own = ctx.held is None or ctx.held.customer != name
    if not own:
        assert ctx.held is not None
        held = ctx.held
    else:
        try:
            lease = ctx.store.lock(name, ctx.holder)
        except LockHeldError as exc:  # another apply or a daemon replica owns this customer
            return CustomerResult(name, error=str(exc), outcome=ApplyOutcome.BUSY)
        except ReconcilerError as exc:  # the state database is away
            return CustomerResult(name, error=str(exc), outcome=ApplyOutcome.FAILED)
        held = HeldLease(ctx.store, lease)
    try:
        result = _under_lease(ctx, cp, eff, FencedStore(ctx.store, held))
    finally:
        if own:
            held.close()
    if result.outcome not in (ApplyOutcome.BUSY, ApplyOutcome.REFUSED):  # nothing was attempted
        _record(ctx, cp, result, started, held)
    if result.outcome is ApplyOutcome.APPLIED and not result.failed and eff is not None:
        try:  # the fleet breaker's baseline: these settings were applied
            ctx.store.put_cursor(name, SETTINGS_CURSOR, settings_digest(eff))
        except ReconcilerError as exc:
            log.warning("%s: could not record the applied settings: %s", name, exc)
    return result


def _under_lease(
    ctx: ApplyContext, cp: CustomerPlan, eff: EffectiveCustomer | None, store: FencedStore
) -> CustomerResult:
    name = cp.customer
    try:
        current = store.serial(name)
        if current != cp.serial:  # another apply committed since this plan was made
            return CustomerResult(
                name,
                error=f"{name}: state changed since this plan was made (serial {cp.serial} -> {current}); plan again",
                outcome=ApplyOutcome.BUSY,
            )
        refusal = _recheck(ctx, cp, eff, store)
        if refusal is not None:
            return CustomerResult(name, error=refusal, outcome=ApplyOutcome.REFUSED)
        assert eff is not None
        tick = ctx.progress(name, len(cp.changes)) if ctx.progress else None
        providers = ctx.open_providers(eff)
        try:
            result = apply_customer(cp, providers, store, ctx.batch_size, tick, ctx.stop)
        finally:
            providers.close()
    except ReconcilerError as exc:
        return CustomerResult(name, error=str(exc), outcome=ApplyOutcome.FAILED)
    except Exception as exc:  # state stays consistent: every batch commits or not at all
        log.debug("%s: unexpected error while applying", name, exc_info=True)
        return CustomerResult(name, error=unexpected(exc), outcome=ApplyOutcome.FAILED)
    return result


def _recheck(
    ctx: ApplyContext, cp: CustomerPlan, eff: EffectiveCustomer | None, store: FencedStore
) -> str | None:
    if eff is None:
        return f"customer {cp.customer!r} is no longer in the config"
    if eff.paused:
        return "the customer is paused (R10)"
    updating = cp.count(ChangeKind.UPDATE_RECORD)
    if updating and not ctx.allow_mass_update:  # R25: a saved plan's updates against the links now
        refusal = update_guard(eff.safety, len(store.load(cp.customer).links), updating)
        if refusal is not None:
            return refusal
    if ctx.allow_mass_removal:
        return None
    refusal = removal_guard(eff.safety, store.count_accounts(cp.customer), cp.count(ChangeKind.REMOVE))
    recreating = Counter(c.integration for c in cp.changes if isinstance(c, RecreateRecord))
    if refusal is None and recreating:
        linked = Counter(kind for _key, kind in store.load(cp.customer).links)
        refusal = recreate_guard(eff.safety, dict(linked), dict(recreating))
    return refusal


def _record(
    ctx: ApplyContext, cp: CustomerPlan, result: CustomerResult, started: float, held: HeldLease
) -> None:
    kind = {
        ApplyOutcome.APPLIED: "error" if result.failed else "applied",
        ApplyOutcome.STOPPED: "stopped",
        ApplyOutcome.TAKEN_OVER: "taken-over",
    }.get(result.outcome, "error")
    detail = {
        "applied": len(result.succeeded),
        "failed": len(result.failed),
        "error": result.error,
        "holder": ctx.holder,
        "planned": len(cp.changes),
        "replica": replica_id(),
        "epoch": held.lease.epoch,
    }
    try:
        ctx.store.record_run(cp.customer, started, kind, detail)
    except ReconcilerError as exc:  # the run happened; only its history line is missing
        log.warning("%s: could not record the run: %s", cp.customer, exc)


def unexpected(exc: Exception) -> str:
    """A one-line description of a bug or bad data, without the exception's text
    (which may quote data, e.g. a character of a password)."""
    return f"unexpected {type(exc).__name__} (a bug or malformed data); rerun with -vv for the traceback"
