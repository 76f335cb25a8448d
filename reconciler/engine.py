"""Orchestration: config -> live -> plan, and plan -> apply. Thin on purpose.

Each customer is read and planned on its own (bounded thread pool); a provider
failure becomes that customer's ERROR status and never stops the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from reconciler.apply.executor import ApplyOutcome, CustomerResult
from reconciler.apply.lease import HeldLease
from reconciler.apply.protocol import ApplyContext, apply_one, unexpected
from reconciler.apply.rebuild import rebuild_customer
from reconciler.config import ConfigSet
from reconciler.config.digest import stale_message
from reconciler.config.messages import suggest
from reconciler.config.resolve import EffectiveCustomer, effective_customer, effective_customers
from reconciler.core.desired import desired_accounts
from reconciler.core.drift import CustomerDrift, customer_drift
from reconciler.core.events import NO_EVENTS, EventSink
from reconciler.core.fleet import SETTINGS_CURSOR, changed_customers, fleet_breaker, settings_digest
from reconciler.core.guards import vanished_links
from reconciler.core.model import Account, IntegrationKind, ManagedState, PasswordEntry, PsaContact
from reconciler.core.plan import ChangeKind, CustomerPlan, Plan, Status, UpdateRecord
from reconciler.core.planning import CustomerLive, PlanOptions, moved, plan_customer
from reconciler.core.reads import FullRead, IntegrationRead, ReadInputs, cursor_name, decide, record_fields
from reconciler.core.windows import customer_windows, deferral
from reconciler.core.words import count
from reconciler.errors import ConfigError, LockHeldError, Problem, ReconcilerError, StalePlanError
from reconciler.gcpause import gc_paused
from reconciler.integrations.table import TABLE
from reconciler.providers.base import CustomerProviders, ProviderContext, release
from reconciler.providers.budget import Budgets, spending
from reconciler.providers.registry import open_customer, open_selection_checkers
from reconciler.reading import read_directories, read_integrations, read_live, scope_for
from reconciler.spending import apply_needs, listing_needs, open_budgets
from reconciler.state.api import Lease, StateStore
from reconciler.state.backend import open_state
from reconciler.state.leasetext import held_message
from reconciler.state.staged import StagedCursors

log = logging.getLogger("reconciler.engine")
MAX_WORKERS = 8  # customers read at once when no Graph connection sets maxConcurrentTenants


@dataclass(frozen=True)
class Engine:
    config: ConfigSet
    store: StateStore
    events: EventSink = NO_EVENTS  # the daemon's notifier; nothing listens in a CLI run
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)  # wall clock (reads)
    budgets: Budgets | None = field(default=None, compare=False)  # MSP-wide request budgets (#16)
    cursors: StagedCursors = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cursors", StagedCursors(self.store))

    @classmethod
    def open(cls, config: ConfigSet, clock: Callable[[], float] = time.time) -> Engine:
        store = open_state(config).store
        return cls(config, store, clock=clock, budgets=open_budgets(config, store))

    def customers(self, names: Sequence[str] = ()) -> list[EffectiveCustomer]:
        """The named customers resolved (only those), or every customer."""
        if not names:
            return list(effective_customers(self.config).values())
        unknown = [n for n in names if n not in self.config.customers]
        if unknown:
            known = self.config.customers
            raise ConfigError([Problem(f"unknown customer {n!r}{suggest(n, known)}") for n in unknown])
        return [effective_customer(self.config, n) for n in names]

    def context(self, eff: EffectiveCustomer) -> ProviderContext:
        return ProviderContext(
            self.config.root, self.config.settings_doc.spec, eff, self.cursors, events=self.events
        )

    def providers(self, eff: EffectiveCustomer) -> CustomerProviders:
        return open_customer(self.context(eff))

    def budgeted(
        self, eff: EffectiveCustomer, needs: Mapping[IntegrationKind, int] | None = None, strict: bool = True
    ) -> CustomerProviders:
        """`providers(eff)` whose clients spend the MSP-wide budgets (#16), the first
        request to each integration reserving `needs` (default: its listing; `strict`:
        refused unless all of it fits, else as far as the budget goes)."""
        if self.budgets is None:
            return self.providers(eff)
        if needs is None:
            needs = listing_needs(self.config, eff, self.store.count_accounts(eff.name))
        with spending(self.budgets.customer(eff.name, needs, strict)):
            return self.providers(eff)

    def live_checks(self, names: Sequence[str] = ()) -> list[str]:
        """Selection problems only the live directory can tell (well-known SIDs, missing
        OUs/groups, overlaps by object identity), one line per problem, naming the customer."""
        problems: list[str] = []
        if self.config.settings_doc.spec.snapshot is not None:
            return problems  # offline: no directory to ask
        for eff in self.customers(names):
            scope = scope_for(eff, False)
            if not scope.ous and not scope.groups and not scope.entra_groups:
                continue
            try:
                for checker in open_selection_checkers(self.context(eff)):
                    try:
                        problems += checker.check_selection(scope)
                    finally:
                        release(checker)
            except ReconcilerError as exc:
                problems.append(str(exc))
        return problems

    # --- plan ------------------------------------------------------------------------------
    def plan(
        self,
        names: Sequence[str] = (),
        allow_mass_removal: bool = False,
        full_sync: bool = False,
        progress: Callable[[CustomerPlan], None] | None = None,
        allow_fleet_removal: bool = False,
        allow_mass_update: bool = False,
    ) -> Plan:
        """`progress` is called (from the worker threads) as each customer is planned.
        Several customers at once go through the fleet breaker (core/fleet.py)."""
        options = self.plan_options(allow_mass_removal, allow_mass_update)
        effs = self.customers(names)

        def one(eff: EffectiveCustomer) -> CustomerPlan:
            cp = self.plan_one(eff, options, full_sync)
            if progress is not None:
                progress(cp)
            return cp

        graph = self.config.settings_doc.spec.connections.graph
        workers = graph.max_concurrent_tenants if graph is not None else MAX_WORKERS
        with ThreadPoolExecutor(max_workers=min(workers, max(1, len(effs)))) as pool:
            plans = tuple(pool.map(one, effs))
        plans = self._fleet_breaker(effs, plans, allow_fleet_removal)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        return Plan(self.config.digest, created, plans, tuple(names), config_parts=self.config.parts)

    def _fleet_breaker(
        self, effs: list[EffectiveCustomer], plans: tuple[CustomerPlan, ...], allow: bool
    ) -> tuple[CustomerPlan, ...]:
        """Hold every customer whose settings changed, when too many of them remove
        accounts. A plan without removals moves that customer's baseline (a cursor)."""
        if len(effs) > 1 and not allow:
            applied = {e.name: self.store.get_cursor(e.name, SETTINGS_CURSOR) for e in effs}
            held, why = fleet_breaker(
                plans, changed_customers(effs, applied), len(self.customers()), self.config.digest
            )
            if why is not None:
                log.warning("%s", why)
                plans = tuple(held)
        by_name = {e.name: e for e in effs}
        for cp in plans:
            if cp.status is Status.OK and not cp.count(ChangeKind.REMOVE):
                self.store.put_cursor(cp.customer, SETTINGS_CURSOR, settings_digest(by_name[cp.customer]))
        return plans

    def plan_one(
        self,
        eff: EffectiveCustomer,
        options: PlanOptions,
        full_sync: bool = False,
        refresh_selection: bool = False,
    ) -> CustomerPlan:
        """One customer's plan; `refresh_selection` (import now) re-reads Entra groups and
        role assignments. No poisoned caches (#12): the providers' cursors (cached
        user sets, delta links, USNs) are kept only when the plan is accepted; a plan the
        guards refuse for removals is believed only after one full read of the directories."""
        cp = self._plan_read(eff, options, full_sync, refresh_selection)
        if cp.status is Status.REFUSED and not full_sync and cp.count(ChangeKind.REMOVE):
            log.info(
                "%s: refused (%s); reading the directories in full before believing it", eff.name, cp.reason
            )
            cp = self._plan_read(eff, options, True)
        log.info("%s: %s planned (%s)", eff.name, count(len(cp.changes), "change"), cp.status.value)
        return cp

    def _plan_read(
        self, eff: EffectiveCustomer, options: PlanOptions, full_sync: bool, refresh_selection: bool = False
    ) -> CustomerPlan:
        serial = self.store.serial(eff.name)
        self.cursors.stage(eff.name)
        cp: CustomerPlan | None = None
        try:
            try:
                providers = self.budgeted(eff)
                try:
                    with gc_paused():  # hundreds of thousands of fresh immutable records, no cycles
                        dirs = read_directories(providers, eff, full_sync, refresh_selection)
                        managed = self.store.load(eff.name)
                        desired = desired_accounts(eff, dirs)
                        began = self.clock()  # a verification counts from before its listing
                        reads = self._reads(
                            eff, providers, desired.accounts, managed, began, full_sync, refresh_selection
                        )
                        live = read_integrations(
                            providers, eff, dirs, {r.integration for r in reads if r.listed}
                        )
                finally:
                    providers.close()
            except ReconcilerError as exc:
                log.warning("%s", exc)
                return CustomerPlan(eff.name, Status.ERROR, serial, reason=str(exc))
            except Exception as exc:  # a bug or bad data must not stop the other customers
                log.debug("%s: unexpected error while reading", eff.name, exc_info=True)
                return CustomerPlan(eff.name, Status.ERROR, serial, reason=unexpected(exc))
            with gc_paused():
                cp = plan_customer(eff, live, managed, options, desired)
            self._verified(eff, live, managed, reads, began, cp)
            return replace(cp, reads=reads)
        finally:
            if cp is not None and cp.status in (Status.OK, Status.PAUSED):
                self.cursors.commit(eff.name)
            else:
                self.cursors.discard(eff.name)

    def _reads(
        self,
        eff: EffectiveCustomer,
        providers: CustomerProviders,
        desired: dict[str, Account],
        managed: ManagedState,
        now: float,
        full_sync: bool,
        import_now: bool = False,
    ) -> tuple[IntegrationRead, ...]:
        """Which integrations this run lists in full, and why (core/reads.py)."""
        hours = self.config.settings_doc.spec.verify_links_every_hours
        inputs = ReadInputs(eff, desired, moved(managed, desired), now, hours, full_sync, import_now)
        out = []
        for provider in (providers.vault, providers.contacts):
            if provider is None:
                continue
            kind = provider.kind
            last = FullRead.parse(self.cursors.get_cursor(eff.name, cursor_name(kind)))
            out.append(decide(inputs, kind, _target(eff, kind), last))
        return tuple(out)

    def _verified(
        self,
        eff: EffectiveCustomer,
        live: CustomerLive,
        managed: ManagedState,
        reads: tuple[IntegrationRead, ...],
        began: float,
        cp: CustomerPlan,
    ) -> None:
        """A full list in which every linked record was found is a verification (staged:
        kept only when the plan is accepted), as of `began`, before the listing: a record
        deleted while it ran is noticed within one period. One that misses a linked record
        is not: the next run lists again, so a vanished record stays in every plan until handled;
        record updates left to make (R25) are listed again too."""
        answers = {live.vault_kind: live.entries, live.contacts_kind: live.contacts}
        for r in reads:
            records = answers.get(r.integration)
            if not r.listed or records is None:
                continue
            _mine, gone = vanished_links(managed.links.values(), r.integration, records)
            if not gone:
                kind = r.integration
                pending = any(isinstance(c, UpdateRecord) and c.integration is kind for c in cp.changes)
                full = FullRead(began, _target(eff, kind), "" if pending else record_fields(eff, kind))
                self.cursors.put_cursor(eff.name, cursor_name(r.integration), full.dump())

    def refresh(self, names: Sequence[str] = ()) -> list[CustomerDrift]:
        """`plan --refresh-only`: every source read in full, nothing proposed (core/drift.py)."""
        options = self.plan_options()

        def one(eff: EffectiveCustomer) -> CustomerDrift:
            self.cursors.stage(eff.name)  # a refresh moves no incremental cursor
            try:
                providers = self.budgeted(eff)
                try:
                    live = read_live(providers, eff, full_sync=True)
                finally:
                    providers.close()
            except ReconcilerError as exc:
                return CustomerDrift(eff.name, error=str(exc))
            except Exception as exc:  # a bug or bad data must not stop the other customers
                log.debug("%s: unexpected error while reading", eff.name, exc_info=True)
                return CustomerDrift(eff.name, error=unexpected(exc))
            finally:
                self.cursors.discard(eff.name)
            managed = self.store.load(eff.name)
            cplan = plan_customer(eff, live, managed, options)
            records: dict[IntegrationKind, tuple[PasswordEntry | PsaContact, ...]] = {}
            if live.entries is not None and live.vault_kind is not None:
                records[live.vault_kind] = live.entries
            if live.contacts is not None and live.contacts_kind is not None:
                records[live.contacts_kind] = live.contacts
            return customer_drift(cplan, managed, records)

        effs = self.customers(names)
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, max(1, len(effs)))) as pool:
            return list(pool.map(one, effs))

    def plan_options(self, allow_mass_removal: bool = False, allow_mass_update: bool = False) -> PlanOptions:
        spec = self.config.settings_doc.spec
        template = None
        path = self.config.root / spec.welcome_email.template
        if path.is_file():
            template = path.read_text(encoding="utf-8")
        return PlanOptions(
            allow_mass_removal, spec.welcome_email.subject, template, allow_mass_update=allow_mass_update
        )

    # --- apply -----------------------------------------------------------------------------
    def check_fresh(self, plan: Plan, held: HeldLease | None = None) -> None:
        """Before applying a saved plan: the config it was made from, and each
        customer's state serial. A customer whose state moved while someone holds
        its lease is reported as busy with that holder, not as stale."""
        if plan.config_digest != self.config.digest:  # naming what changed (#12)
            raise StalePlanError(stale_message(plan.config_parts, self.config.parts, self.config.files()))
        for cp in plan.customers:
            if not cp.applicable:
                continue
            current = self.store.serial(cp.customer)
            if current == cp.serial:
                continue
            holder = self.in_flight().get(cp.customer)
            if holder is not None and not (held is not None and holder.epoch == held.lease.epoch):
                raise LockHeldError(held_message(cp.customer, holder, time.time(), not holder.alive))
            raise StalePlanError(
                f"{cp.customer}: state changed since this plan was made (serial {cp.serial} -> {current}"
                f"{self._since(cp.customer, plan.created_at)}); plan again"
            )

    def _since(self, customer: str, created_at: str) -> str:
        """What moved a customer's state after a plan was made: the apply recorded last, when
        it ran after the plan; else a state edit (`state rm|import|mv|rebuild`)."""
        try:
            made = datetime.fromisoformat(created_at).timestamp()
            row = self.store.last_run(customer)
        except (ValueError, ReconcilerError):
            return ""
        if row is None or row[1] < made:
            return ": by a state edit (state rm, import, mv or rebuild) or an apply not recorded"
        finished, result, detail = row[1], row[2], row[3]
        when = datetime.fromtimestamp(finished, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        who = str(detail.get("holder") or "an apply")
        return f": {who} {result} {count(int(detail.get('applied', 0)), 'change')} at {when}"

    def in_flight(self) -> dict[str, Lease]:
        """Customers whose lease someone holds now (an apply or a daemon run in flight)."""
        return {lease.customer: lease for lease in self.store.locks()}

    def apply(
        self,
        plan: Plan,
        holder: str = "reconciler apply",
        progress: Callable[[str, int], Callable[[int], None]] | None = None,
        allow_mass_removal: bool = False,
        stop: threading.Event | None = None,
        held: HeldLease | None = None,
        allow_mass_update: bool = False,
    ) -> list[CustomerResult]:
        """Apply each customer's planned changes, one at a time, by the protocol in
        apply/protocol.py (lease, freshness and guards again, fenced batches).
        `stop` ends the apply at the next change boundary; customers not reached
        are `stopped` with nothing applied. `held`: a lease the caller holds already
        (a daemon run takes its customer's lease before planning)."""
        self.check_fresh(plan, held)
        # only the customers this plan applies are resolved (a daemon run applies one)
        wanted = [
            cp.customer for cp in plan.customers if cp.applicable and cp.customer in self.config.customers
        ]
        effs = {e.name: e for e in self.customers(wanted)} if wanted else {}
        needs = {cp.customer: apply_needs(cp) for cp in plan.customers}
        ctx = ApplyContext(
            self.store,
            lambda eff: self.budgeted(eff, needs.get(eff.name, {}), strict=False),
            holder,
            self.config.settings_doc.spec.apply_batch_size,
            allow_mass_removal,
            progress,
            stop,
            held,
            allow_mass_update,
        )
        return [self._apply_one(ctx, cp, effs.get(cp.customer)) for cp in plan.customers if cp.applicable]

    def _apply_one(
        self, ctx: ApplyContext, cp: CustomerPlan, eff: EffectiveCustomer | None
    ) -> CustomerResult:
        """One customer's apply, unless a run window (quiet hours) closes one of its writes:
        then nothing of it is applied and the result says until when (#16)."""
        if eff is not None:
            windows = customer_windows(self.config.settings_doc.spec.quiet_hours, eff)
            wait = deferral(windows, cp, datetime.fromtimestamp(self.clock(), UTC)) if windows else None
            if wait is not None:
                log.info("%s: %s", cp.customer, wait.message())
                return CustomerResult(
                    cp.customer,
                    error=wait.message(),
                    outcome=ApplyOutcome.DEFERRED,
                    retry_at=wait.until.timestamp(),
                )
        return apply_one(ctx, cp, eff)

    def rebuild(self, names: Sequence[str] = (), holder: str = "reconciler state rebuild") -> list[str]:
        """`state rebuild` (#12): re-adopt each customer's accounts and links from the
        markers on its records; one line per customer (an error names it)."""
        lines: list[str] = []
        for eff in self.customers(names):
            try:
                self.store.lock(eff.name, holder)
            except LockHeldError as exc:
                lines.append(str(exc))
                continue
            try:
                providers = self.budgeted(eff)
                try:
                    live = read_live(providers, eff, full_sync=True)
                finally:
                    providers.close()
                report = rebuild_customer(eff, live, self.store)
                lines += [report.line(), *(f"{eff.name}: warning: {w}" for w in report.warnings)]
            except ReconcilerError as exc:
                lines.append(f"{eff.name}: not rebuilt: {exc}")
            finally:
                self.store.unlock(eff.name)
        return lines


def _target(eff: EffectiveCustomer, kind: IntegrationKind) -> str:
    """The customer's organization / company in `kind` (its YAML link)."""
    return TABLE[kind].linked_id(eff.doc.spec.integrations) or ""
