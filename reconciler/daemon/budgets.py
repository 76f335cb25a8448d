"""Daemon stage: the MSP-wide request budgets (#16) as the scheduler spends them.

Before a due customer is claimed, its estimated need (the listing of each
integration it links, `spending.listing_needs`) is checked against what the
budgets have left; a customer they cannot cover is deferred to when they will
(its next run moves there, nothing is read), so a budget is never exceeded and
the rest of the fleet keeps its turn. A run the budget refuses anyway (its
first request to an integration, or an apply's creates) ends `deferred` and
runs again when the budget covers it.

While a budget refuses someone, a fleet-wide `budget.exhausted` notification
(cause `budget:<integration>`) is open, deduplicated like the others and kept in
the daemon state so replicas agree; it resolves once the budget covers runs
again. Metrics: `reconciler_budget_limit`, `_used` and `_left` per integration
(read from the shared ledger at scrape time) and
`reconciler_budget_deferred_total` (customers deferred, by integration).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler.config import ConfigSet
from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.budget import duration
from reconciler.core.events import BudgetExhausted, EventSink
from reconciler.core.model import IntegrationKind
from reconciler.core.words import count
from reconciler.daemon.clock import Clock
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.integrations.table import TABLE
from reconciler.providers.budget import Budgets, hhmm, limits_of
from reconciler.spending import listing_needs, open_budgets
from reconciler.state.api import DaemonStore, StateStore

log = logging.getLogger("reconciler.daemon")
_KINDS = {k.value for k in IntegrationKind}
RECORD = "budget"  # daemon records: integration -> {"until": ts}, the open exhaustion
# daemon records: customer -> {"at", "until", "reason"}, its last deferral before a run (the
# status page and API show it while it is newer than the customer's last run)
DEFERRAL = "deferral"
TICK_SECONDS = 10.0


class DaemonBudgets:
    def __init__(
        self,
        store: StateStore,
        state: DaemonStore,
        clock: Clock,
        metrics: DaemonMetrics,
        stopping: threading.Event,
    ) -> None:
        self.store, self.state, self.clock = store, state, clock
        self.stopping = stopping
        self.budgets: Budgets | None = None
        self._digest = ""
        self._ticked = float("-inf")
        self.deferred = Counter(
            "reconciler_budget_deferred",
            "Due customers deferred because an MSP-wide request budget could not cover them",
            ["integration"],
            registry=metrics.registry,
        )
        metrics.registry.register(_BudgetCollector(self))

    def refresh(self, config: ConfigSet) -> Budgets | None:
        """The budgets of `config` (the ledger opened once, the limits re-read on a new config)."""
        if config.digest == self._digest:
            return self.budgets
        self._digest = config.digest
        if self.budgets is None:
            self.budgets = open_budgets(config, self.store, stop=self.stopping)
            if self.budgets is not None:
                self.budgets.clock = self.clock.now  # the scheduler's time (a fake one in tests)
        else:
            self.budgets.limits = limits_of(config.settings_doc.spec)
        return self.budgets

    def defer(
        self, names: list[str], effs: Mapping[str, EffectiveCustomer], config: ConfigSet
    ) -> tuple[list[str], list[tuple[float, str]]]:
        """Split due customers into those the budgets cover and (until, name) of the rest."""
        budgets = self.budgets
        if budgets is None or not budgets.limits:
            return names, []
        run: list[str] = []
        later: list[tuple[float, str]] = []
        for name in names:
            eff = effs[name]
            budgeted = [k for k in listing_needs(config, eff, 0) if budgets.limit(k) is not None]
            if not budgeted:
                run.append(name)
                continue
            accounts = self.store.count_accounts(name)
            needs = {k: n for k, n in listing_needs(config, eff, accounts).items() if k in budgeted}
            until = budgets.short_until(needs)
            if until is None:
                run.append(name)
                continue
            short = [kind for kind, need in needs.items() if not _covers(budgets, kind, need)]
            for kind in short:
                self.deferred.labels(kind.value).inc()
            later.append((until, name))
            self.state.set_next_run(name, until)
            self.state.put_record(DEFERRAL, name, _deferral(budgets, short, needs, until, self.clock.now()))
            log.info("%s: deferred until %s: the request budget cannot cover its run", name, hhmm(until))
        return run, later

    def tick(self, events: EventSink) -> None:
        """Record refusals in the shared daemon state; open or resolve budget.exhausted."""
        mono = self.clock.monotonic()
        budgets = self.budgets
        if budgets is None or mono - self._ticked < TICK_SECONDS:
            return
        self._ticked = mono
        now = self.clock.now()
        try:
            for kind, until in budgets.take_short().items():
                old = self.state.get_record(RECORD, kind.value) or {}
                if float(old.get("until", 0.0)) < until:
                    self.state.put_record(
                        RECORD, kind.value, {"until": until, "since": old.get("since", now)}
                    )
            open_now: set[str] = set()
            for key, rec in self.state.records(RECORD).items():
                until = float(rec.get("until", 0.0))
                limit = budgets.limit(IntegrationKind(key)) if key in _KINDS else None
                if until <= now or limit is None:
                    self.state.put_record(RECORD, key, None)  # the budget covers runs again
                    continue
                open_now.add(key)
                tally = budgets.tally(IntegrationKind(key))
                events.emit(
                    BudgetExhausted(
                        key,
                        used=tally.used if tally is not None else 0,
                        limit=limit.requests,
                        window_seconds=limit.window,
                        until=until,
                    )
                )
            for kind in TABLE:
                if kind.value not in open_now:
                    events.resolve(BudgetExhausted(kind.value))
        except Exception:  # the state store: say so, scheduling goes on
            log.exception("budget bookkeeping failed")


def _deferral(
    budgets: Budgets,
    short: list[IntegrationKind],
    needs: Mapping[IntegrationKind, int],
    until: float,
    now: float,
) -> dict[str, object]:
    parts = []
    for kind in short or list(needs):
        limit = budgets.limit(kind)
        what = f" ({limit.describe()} for the whole MSP)" if limit is not None else ""
        parts.append(f"{TABLE[kind].title}{what}, {count(needs[kind], 'request')} needed")
    reason = f"request budget exhausted until {hhmm(until)}: " + "; ".join(parts)
    return {"at": now, "until": until, "reason": reason + "; nothing was read"}


def _covers(budgets: Budgets, kind: IntegrationKind, need: int) -> bool:
    tally = budgets.tally(kind, need)
    return tally is None or tally.granted > 0


class _BudgetCollector(Collector):
    def __init__(self, owner: DaemonBudgets) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        budgets = self.owner.budgets
        families = {
            "limit": GaugeMetricFamily(
                "reconciler_budget_limit", "MSP-wide request budget per window", labels=["integration"]
            ),
            "window": GaugeMetricFamily(
                "reconciler_budget_window_seconds", "The budget's window", labels=["integration"]
            ),
            "used": GaugeMetricFamily(
                "reconciler_budget_used",
                "Requests spent in the current window, by every process",
                labels=["integration"],
            ),
            "left": GaugeMetricFamily(
                "reconciler_budget_left", "Requests left in the current window", labels=["integration"]
            ),
        }
        if budgets is not None:
            try:
                tallies = budgets.tallies()
            except Exception:  # the state store is down: no budget series this scrape
                log.debug("budget tallies failed", exc_info=True)
                tallies = {}
            for kind, t in sorted(tallies.items()):
                families["limit"].add_metric([kind.value], t.limit.requests)
                families["window"].add_metric([kind.value], t.limit.window)
                families["used"].add_metric([kind.value], t.used)
                families["left"].add_metric([kind.value], t.left)
        yield from families.values()


def describe(budgets: Budgets | None) -> list[str]:
    """One line per budget for logs: `itglue 1500 requests per 5 minutes`."""
    if budgets is None:
        return []
    return [f"{k.value} {v.requests} requests per {duration(v.window)}" for k, v in budgets.limits.items()]
