"""Daemon stage: which customers run now, a bounded number at a time.

`cycle()` is one pass: pick up config edits (at most every
`configCheckSeconds`), collect finished runs, start due customers (import-now requests first, then the most overdue) up to
`maxInFlight`, and say how long to sleep. Each run is a thread of its own, so a
customer stuck on a slow directory only holds its own slot; failures back off
per customer (schedule.py). `run_forever()` is cycle + a stop-interruptible wait.

Schedules live in the daemon state (`next_run_at`), so a restart keeps them and
`reconciler status` can show them. A cycle costs O(due customers): they come off
a heap (`DueQueue`) filled from every schedule row on a new config and every
`POLL_SECONDS` (what other processes wrote: a CLI override), and fed by each
finished run.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from reconciler.apply.lease import HeldLease
from reconciler.config.models import DaemonSettings
from reconciler.config.resolve import EffectiveCustomer, effective_customers
from reconciler.core.events import NO_EVENTS, EventSink
from reconciler.daemon.budgets import DaemonBudgets
from reconciler.daemon.clock import Clock
from reconciler.daemon.configsource import ConfigSource, GitFollow
from reconciler.daemon.duequeue import POLL_SECONDS, DueQueue
from reconciler.daemon.fleet import FleetGuard
from reconciler.daemon.logs import event
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.notify.outbox import Notifier
from reconciler.daemon.replicas import ReplicaRole
from reconciler.daemon.runner import (
    DAEMON_HOLDER,
    Bookkeeping,
    RunContext,
    RunReport,
    RunResult,
    history_entry,
    log_report,
    reconcile,
    record_after,
)
from reconciler.daemon.schedule import RetryRules, after_run, first_due, interval_seconds, shortened
from reconciler.engine import Engine
from reconciler.providers import clientpool
from reconciler.providers.clientpool import ClientPool
from reconciler.state.api import CustomerRecord, DaemonStore, Lease, Slot, StateStore
from reconciler.state.leasetext import held_message

CLAIM_POLL_SECONDS = 5.0  # a due customer leased elsewhere is tried again this soon
HEARTBEAT_SECONDS = 10.0


class Stopping(Exception):
    """The daemon is shutting down and takes no new work."""


@dataclass
class Request:
    """An import-now request; `done` is set when its run ends (report) or is dropped (None)."""

    customer: str
    by: str
    at: float = 0.0  # when it was asked (the scheduler's clock)
    done: threading.Event = field(default_factory=threading.Event)
    report: RunReport | None = None
    elsewhere: dict[str, Any] | None = None  # the run another replica made (its history entry)


@dataclass
class _Job:
    customer: str
    request: Request | None
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    held: HeldLease | None = None
    next_at: float | None = None  # when the finished run scheduled the next one


class Scheduler:
    def __init__(
        self,
        source: ConfigSource,
        store: StateStore,
        state: DaemonStore,
        clock: Clock,
        metrics: DaemonMetrics,
        rng: random.Random | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.source, self.store, self.state = source, store, state
        self.clock, self.metrics = clock, metrics
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.notifier = notifier
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.abandon = threading.Event()
        self.heartbeat = clock.monotonic()
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._requests: dict[str, Request] = {}
        self._effs: tuple[str, dict[str, EffectiveCustomer]] = ("", {})
        self._beat_written = float("-inf")
        self._commit_written: str | None = None
        self._error_written: str | None = None
        self._started_at = clock.now()
        self.role = ReplicaRole(store, state, clock)
        if source.git is not None:  # replicas: the leader pulls, the others follow its commit
            source.coordinate(GitFollow(state, lambda: self.role.is_leader))
        self._config_checked = float("-inf")
        self._check_config = False
        self._queue = DueQueue()
        self.budgets = DaemonBudgets(store, state, clock, metrics, self.stopping)
        # vendor connections kept across runs (#16); closed when the config changes and at shutdown
        self.clients = ClientPool()
        self._clients_digest = source.config.digest
        self.fleet = FleetGuard(store, state, clock, self.wake.set, lambda: self.events, metrics)
        for rec in state.all().values():
            metrics.record(rec)
        metrics.config_valid.set(1)

    # --- the loop -----------------------------------------------------------------------------
    def run_forever(self) -> None:
        previous = clientpool.use(self.clients)
        try:
            while not self.stopping.is_set():
                self.wake.clear()
                delay = self.cycle()
                self.clock.wait(self.wake, delay)
        finally:
            clientpool.use(previous)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def cycle(self) -> float:
        """One pass; returns the seconds until something is due."""
        self.heartbeat = self.clock.monotonic()
        self._reap()
        if self.stopping.is_set():
            return 0.0
        self.role.tick(self.in_flight())
        mono = self.clock.monotonic()
        if self._check_config or mono - self._config_checked >= self.settings.config_check_seconds:
            # file stats at most every configCheckSeconds; an import-now request runs
            # against the config as it is on disk, so it checks at once
            self._config_checked, self._check_config = mono, False
            self._refresh_config()
        self._write_heartbeat()
        now = self.clock.now()
        effs = self.customers()
        settings = self.settings
        self.fleet.tick(self.source.config, effs, self.role.is_leader, settings.max_in_flight)
        checked = self.fleet.waiting(self.source.config.digest)  # changed customers wait for the check
        rules = RetryRules.from_settings(settings)
        with self._lock:
            requested = [n for n in self._requests if n not in self._jobs]
            busy = set(self._jobs)
        self._drop_unknown_requests(effs)
        if self._queue.stale(self._effs[0], mono):
            # every schedule row, at most every POLL_SECONDS or on a new config: picks up
            # what other processes wrote (a CLI override, another replica's runs)
            slots = self.state.schedule()
            self._queue.rebuild(
                ((self._next_run(n, e, slots.get(n), rules, now), n) for n, e in effs.items()),
                self._effs[0],
                mono,
            )
        due: list[tuple[float, str]] = [
            (float("-inf"), n) for n in requested if n in effs and n not in checked
        ]
        capacity = max(0, settings.max_in_flight - len(busy))
        for when, name in self._queue.pop_due(now):  # only the due customers: O(due log n)
            if name in checked:
                self._queue.push(when, name)
            elif name in effs and name not in busy and name not in requested:
                due.append((when, name))
        due.sort()
        for name in requested:  # due now in the shared schedule, whichever replica claims it
            self.state.set_next_run(name, now)
        self.budgets.refresh(self.source.config)
        self.budgets.tick(self.events)
        names, deferred = self.budgets.defer([n for _, n in due], effs, self.source.config)
        for when, name in deferred:  # the budget cannot cover them now: due when it can
            self._queue.push(when, name)
        due = [d for d in due if d[1] in names]
        # claims: due, not leased by anyone, taken with the lease (StateStore.claim_due)
        leases = self.store.claim_due(names, now, capacity, DAEMON_HOLDER) if names and capacity else []
        for lease in leases:
            self._start(lease.customer, effs[lease.customer], rules, lease)
        claimed = {lease.customer for lease in leases}
        for when, name in due:  # no slot, or leased elsewhere: still due next cycle
            if name not in claimed and when != float("-inf"):
                self._queue.push(when, name)
        unclaimed = [n for n in names[: capacity + len(requested)] if n not in claimed]
        if unclaimed:  # held elsewhere: ask again soon, a dead holder's lease expires
            self._unclaimed(unclaimed, effs, rules)
        self.metrics.in_flight.set(len(self._jobs))
        nxt = self._queue.first(default=now + POLL_SECONDS)
        # due but no free slot: the end of a run wakes the loop (or the poll does)
        wake_at = now + POLL_SECONDS if nxt <= now else min(now + POLL_SECONDS, nxt)
        if unclaimed:
            wake_at = min(wake_at, now + CLAIM_POLL_SECONDS)
        return max(0.0, wake_at - now)

    def _next_run(
        self, name: str, eff: EffectiveCustomer, rec: Slot | None, rules: RetryRules, now: float
    ) -> float:
        interval = interval_seconds(eff)
        if rec is None or rec.next_run_at is None:
            when = first_due(now, interval, rules, self.rng)
            self.state.set_next_run(name, when)
            return when
        if rec.failures == 0:
            earlier = shortened(rec.next_run_at, rec.last_started_at, interval, rules, now, self.rng)
            if earlier is not None:
                self.state.set_next_run(name, earlier)
                return earlier
        return rec.next_run_at

    # --- config ---------------------------------------------------------------------------------
    @property
    def settings(self) -> DaemonSettings:
        return self.source.config.settings_doc.spec.daemon

    def customers(self) -> dict[str, EffectiveCustomer]:
        config = self.source.config
        if self._effs[0] != config.digest:
            self._effs = (config.digest, effective_customers(config))
            self.metrics.retain(self._effs[1])
        return self._effs[1]

    def _refresh_config(self) -> None:
        before = self.source.error
        self.source.refresh()
        if self.source.config.digest != self._clients_digest:  # credentials, CAs, URLs may differ
            self._clients_digest = self.source.config.digest
            self.clients.clear()
        self.metrics.config_valid.set(0 if self.source.error else 1)
        if self.source.error and self.source.error != before:
            self.metrics.config_reload_errors.inc()
        if not self.role.is_leader:  # the fleet's config facts are the leader's chore
            return
        if self.source.error != self._error_written:
            self._error_written = self.source.error
            self.state.put_meta("config_error", self.source.error or None)
            if self.notifier is not None:
                self.notifier.config_state(self.source.error or "")
        if self.source.commit != self._commit_written:
            self._commit_written = self.source.commit
            self.state.put_meta("config_commit", self.source.commit or None)

    def _write_heartbeat(self) -> None:
        mono = self.clock.monotonic()
        if mono - self._beat_written < HEARTBEAT_SECONDS:
            return
        self._beat_written = mono
        self.state.put_meta(
            "daemon",
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started_at": self._started_at,
                "heartbeat": self.clock.now(),
                "config_digest": self.source.config.digest,
            },
        )

    # --- import now ------------------------------------------------------------------------------
    def request(self, customer: str, by: str) -> Request:
        """Run `customer` at once (after its current run, if one is going on)."""
        if self.stopping.is_set():
            raise Stopping("the daemon is stopping")
        if customer not in self.customers():
            raise KeyError(customer)
        with self._lock:
            req = self._requests.get(customer)
            if req is None:
                req = self._requests[customer] = Request(customer, by, self.clock.now())
            self._check_config = True
        event(
            logging.INFO, "reconcile.requested", f"{customer}: import now requested", customer=customer, by=by
        )
        self.wake.set()
        return req

    def override(self, customer: str, by: str) -> Request:
        """One-time override of the safety block: approve its removals and run now."""
        if customer not in self.customers():
            raise KeyError(customer)
        rec = self.state.request_override(customer, self.clock.now(), by)
        event(
            logging.WARNING,
            "override.requested",
            f"{customer}: one-time override of the safety block ({len(rec.override_removals)} removals approved)",
            customer=customer,
            by=by,
        )
        return self.request(customer, by)

    def _drop_unknown_requests(self, effs: dict[str, EffectiveCustomer]) -> None:
        with self._lock:
            gone = [n for n in self._requests if n not in effs]
            dropped = [self._requests.pop(n) for n in gone]
        for req in dropped:
            req.done.set()

    @property
    def events(self) -> EventSink:
        """Where anything in the daemon emits a typed event (`reconciler.core.events`)."""
        return self.notifier if self.notifier is not None else NO_EVENTS

    # --- runs ------------------------------------------------------------------------------------
    def _start(self, name: str, eff: EffectiveCustomer, rules: RetryRules, lease: Lease) -> None:
        engine = Engine(
            self.source.config,
            self.store,
            events=self.events,
            clock=self.clock.now,
            budgets=self.budgets.refresh(self.source.config),
        )
        held = HeldLease(self.store, lease)  # renewed until the run's bookkeeping is written
        try:
            rec = self.state.get(name)
        except Exception:
            held.close()
            raise
        commit, digest = self.source.commit, self.source.config.digest
        with self._lock:  # a request arriving from now on waits for this run to end
            job = self._jobs[name] = _Job(name, self._requests.pop(name, None), held=held)
        # import now re-reads Entra role assignments and groups (no delta for roles, R23);
        # an override must plan exactly what it approved, so it does not
        now = job.request is not None and (rec is None or rec.override_at is None)
        gate = partial(self.fleet.gate, digest, eff)
        ctx = RunContext(
            engine, eff, rec, self.clock, self.stopping, self.abandon, held=held, import_now=now, fleet=gate
        )
        job.thread = threading.Thread(
            target=self._run, args=(job, ctx, rules, commit, digest), name=f"reconcile {name}", daemon=True
        )
        job.thread.start()

    def _run(self, job: _Job, ctx: RunContext, rules: RetryRules, commit: str, digest: str) -> None:
        try:
            report = self._reconcile(ctx)
            if ctx.held is not None and ctx.held.lost:  # the customer is another holder's now
                log_report(report, CustomerRecord(job.customer))
                if job.request is not None:
                    job.request.report = report
                return
            job.next_at = self._book_run(job.request, report, ctx.customer, rules, commit, digest)
        finally:
            if ctx.held is not None:
                ctx.held.close()  # after the bookkeeping: a claim elsewhere sees the next run time
            if job.request is not None:
                job.request.done.set()
            job.done.set()
            self.wake.set()

    def _book_run(
        self, request: Request | None, report: RunReport, eff: EffectiveCustomer, rules: RetryRules,
        commit: str, digest: str,
    ) -> float | None:  # fmt: skip
        """Write a run's bookkeeping; returns its next run time (None if that failed)."""
        name = eff.name
        try:
            prev = self.state.get(name)
            rec = record_after(prev, report, self._book(report, prev, eff, rules, commit, digest))
            self.state.save_run(rec)
            self.state.add_history(name, history_entry(report, rec, commit))
            if report.plan is not None:
                self.state.put_record("plan", name, {"at": report.finished, "commit": commit, **report.plan})
            self._notify(report, rec)
            if report.used_override is not None:
                self.state.clear_override(name, report.used_override)
            self.metrics.observe_run(report.result.value, report.duration, report.applied, report.failed)
            self.metrics.record(rec)
            log_report(report, rec)
            if request is not None:
                request.report = report
        except Exception:  # bookkeeping failed (state store): say so, keep the daemon alive
            logging.getLogger("reconciler.daemon").exception("%s: run bookkeeping failed", name)
            return None
        return rec.next_run_at

    def _unclaimed(self, names: list[str], effs: dict[str, EffectiveCustomer], rules: RetryRules) -> None:
        """Due customers this replica could not claim. Held by a person's apply (or CI):
        a BUSY run, retried soon, as before replicas. Held by another replica, or run
        meanwhile: theirs; a waiting import-now request gets that run's result."""
        leases = {lease.customer: lease for lease in self.store.locks()}
        now = self.clock.now()
        for name in names:
            lease = leases.get(name)
            with self._lock:
                req = self._requests.get(name)
            if lease is not None and lease.holder != DAEMON_HOLDER:
                if req is not None:
                    with self._lock:
                        self._requests.pop(name, None)
                report = RunReport(
                    name,
                    RunResult.BUSY,
                    held_message(name, lease, time.time(), not lease.alive),
                    now,
                    now,
                    0.0,
                )
                when = self._book_run(
                    req, report, effs[name], rules, self.source.commit, self.source.config.digest
                )
                if when is not None:
                    self._queue.push(when, name)
                if req is not None:
                    req.done.set()
                continue
            if req is None:
                continue
            newest = self.state.history(name, 1)
            if newest and float(newest[0].get("started", 0.0)) >= req.at:
                with self._lock:
                    self._requests.pop(name, None)
                req.elsewhere = {"customer": name, **newest[0]}
                req.done.set()

    def _notify(self, report: RunReport, rec: CustomerRecord) -> None:
        if self.notifier is None:
            return
        warnings = list(report.plan["warnings"]) if report.plan is not None else None
        try:
            self.notifier.after_run(report.result.value, rec, warnings)
        except Exception:  # the state store: say so, the run's bookkeeping is done
            logging.getLogger("reconciler.daemon").exception(
                "%s: notification bookkeeping failed", rec.customer
            )

    def _reconcile(self, ctx: RunContext) -> RunReport:
        try:
            return reconcile(ctx)
        except Exception as exc:  # a bug in a provider or the core: this customer's error only
            logging.getLogger("reconciler.daemon").exception("%s: unexpected error", ctx.customer.name)
            now = self.clock.now()
            return RunReport(
                ctx.customer.name, RunResult.ERROR, f"internal error: {type(exc).__name__}", now, now, 0.0
            )

    def _book(
        self, report: RunReport, prev: CustomerRecord | None, eff: EffectiveCustomer, rules: RetryRules,
        commit: str, digest: str,
    ) -> Bookkeeping:  # fmt: skip
        failures, quarantined = (prev.failures, prev.quarantined) if prev else (0, False)
        if report.result is RunResult.DEFERRED and report.retry_at is not None:  # quiet hours (#16)
            return Bookkeeping(max(report.retry_at, report.finished), quarantined, failures, commit, digest)
        when, failures, quarantined = after_run(
            report.result, report.started, report.finished, failures, quarantined,
            interval_seconds(eff), rules, self.rng,
        )  # fmt: skip
        return Bookkeeping(when, quarantined, failures, commit, digest)

    def _reap(self) -> None:
        with self._lock:
            finished = [n for n, j in self._jobs.items() if j.done.is_set()]
            jobs = [self._jobs.pop(n) for n in finished]
        for job in jobs:
            if job.thread is not None:
                job.thread.join()
            if job.next_at is not None:
                self._queue.push(job.next_at, job.customer)

    def in_flight(self) -> list[str]:
        with self._lock:
            return sorted(self._jobs)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait (real time) for the runs in flight; True when none is left."""
        with self._lock:
            jobs = list(self._jobs.values())
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in jobs:
            job.done.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._reap()
        with self._lock:
            return not self._jobs

    # --- shutdown --------------------------------------------------------------------------------
    def shutdown(self, grace: float, abandon_wait: float = 10.0) -> list[str]:
        """Stop taking work; let runs finish for `grace` seconds, then stop them
        between two changes; release what is still held (customers, leadership).
        Returns abandoned customers."""
        try:
            return self._shutdown(grace, abandon_wait)
        finally:
            self.role.close()
            self.clients.close()

    def _shutdown(self, grace: float, abandon_wait: float) -> list[str]:
        self.stop()
        with self._lock:
            pending = list(self._requests.values())
            self._requests.clear()
        for req in pending:
            req.done.set()
        deadline = time.monotonic() + grace
        while not self.drain(min(0.2, max(0.0, deadline - time.monotonic()))):
            if self.abandon.is_set() or time.monotonic() >= deadline:
                break
        else:
            return []
        self.abandon.set()
        event(
            logging.WARNING,
            "shutdown.abandon",
            f"grace period over; stopping {', '.join(self.in_flight())} between changes",
        )
        if self.drain(abandon_wait):
            return []
        stuck = self.in_flight()
        with self._lock:
            helds = [j.held for j in self._jobs.values() if j.held is not None]
        for held in helds:
            held.close()  # stop renewing: its lease is released (and fences the stuck thread)
        for name in stuck:
            self.store.unlock(name)
        event(
            logging.ERROR,
            "shutdown.stuck",
            f"runs still in a call at exit, locks released: {', '.join(stuck)}",
        )
        return stuck
