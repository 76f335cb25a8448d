"""Live stage: spending the MSP-wide request budgets (#16) from the HTTP seam.

`Budgets` is a process's view of every integration's budget: the ledger in the
state store (shared by every customer and every process on the state), the
limits (each integration's `Facts.msp_budget`, replaced by Settings `budgets`),
how long a request may wait for budget (`--budget-wait`; 0: not at all) and the
stop event that cuts a wait short.

How a run's need is estimated (the choice, documented in docs/budgets.md): the
first request a customer makes to an integration reserves, in one go, what its
listing will take (`need`: the pages its linked records fill, plus a lookup or
two) or, for an apply, its planned creates; if the budget cannot cover that, the
customer is refused before that first request ("budget exhausted until HH:MM")
rather than cut off half way. An apply is not refused for its creates alone:
when they do not all fit, it reserves what is left one request at a time and
stops where the budget ends (every batch is committed and every create
journalled, so the next run goes on from there), which lets an onboarding larger
than a whole window progress window by window. Requests beyond the reservation
reserve one at a time as they are made; what a run did not use of its reservation is given back
when its connection closes. Every attempt counts, retries included: the vendor
counts them too.

The engine opens a customer's providers inside `spending(...)`; `connect_api`
picks the customer's `Spender` for its integration up from there, so no vendor
client passes budgets around.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from reconciler.config.models import SettingsSpec
from reconciler.core.budget import Limit, Tally
from reconciler.core.model import IntegrationKind
from reconciler.errors import BudgetExhausted, ProviderError
from reconciler.integrations.table import TABLE

log = logging.getLogger("reconciler.budget")


class Ledger(Protocol):
    """What `Budgets` needs of the state's ledger (`state.ledger.BudgetLedger`)."""

    def spend(self, budget: str, want: int, limit: Limit, now: float) -> Tally: ...
    def refund(self, budget: str, n: int, slot_start: float) -> None: ...
    def tally(self, budget: str, limit: Limit, now: float, want: int = 0) -> Tally: ...
    def close(self) -> None: ...


def limits_of(spec: SettingsSpec) -> dict[IntegrationKind, Limit]:
    """Every integration's MSP-wide budget: its declared default, or Settings `budgets`;
    integrations without one (unlimited) are absent."""
    out: dict[IntegrationKind, Limit] = {}
    for kind, facts in TABLE.items():
        setting = spec.budgets.get(kind)
        if setting is not None:
            if not setting.unlimited and setting.requests and setting.window_seconds:
                out[kind] = Limit(setting.requests, setting.window_seconds)
        elif facts.msp_budget is not None:
            out[kind] = Limit(facts.msp_budget.requests, facts.msp_budget.window)
    return out


def hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M UTC")


@dataclass
class Budgets:
    """The MSP-wide budgets as this process spends them."""

    ledger: Ledger | None  # the state's (`state.ledger`); None: nothing is enforced
    limits: Mapping[IntegrationKind, Limit]
    wait_seconds: float = 0.0
    stop: threading.Event | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    exhausted: dict[str, float] = field(default_factory=dict)  # customer -> until, of the last refusal
    short: dict[IntegrationKind, float] = field(default_factory=dict)  # integration -> until, refused
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def limit(self, kind: IntegrationKind) -> Limit | None:
        return self.limits.get(kind) if self.ledger is not None else None

    def tally(self, kind: IntegrationKind, want: int = 0) -> Tally | None:
        limit = self.limit(kind)
        if limit is None or self.ledger is None:
            return None
        return self.ledger.tally(kind.value, limit, self.clock(), min(want, limit.requests))

    def tallies(self) -> dict[IntegrationKind, Tally]:
        out: dict[IntegrationKind, Tally] = {}
        for kind in self.limits:
            tally = self.tally(kind)
            if tally is not None:
                out[kind] = tally
        return out

    def short_until(self, needs: Mapping[IntegrationKind, int]) -> float | None:
        """When the budgets will cover `needs` (the daemon defers a customer till then);
        None when they do now."""
        later: float | None = None
        for kind, need in needs.items():
            tally = self.tally(kind, need)
            if tally is None or need <= 0 or tally.granted:
                continue
            until = _until(tally, self.clock())
            self.refused("", until, kind)
            later = until if later is None else max(later, until)
        return later

    def customer(
        self, name: str, needs: Mapping[IntegrationKind, int] | None = None, strict: bool = True
    ) -> CustomerSpend:
        return CustomerSpend(self, name, dict(needs or {}), strict)

    def refused(self, customer: str, until: float, kind: IntegrationKind | None = None) -> None:
        with self._lock:
            if customer:
                self.exhausted[customer] = until
            if kind is not None:
                self.short[kind] = max(until, self.short.get(kind, 0.0))

    def take_short(self) -> dict[IntegrationKind, float]:
        """The integrations whose budget refused someone since the last call, and until when."""
        with self._lock:
            out, self.short = self.short, {}
            return out

    def take_refusal(self, customer: str) -> float | None:
        """When the customer's last run was refused for budget, until when (once)."""
        with self._lock:
            return self.exhausted.pop(customer, None)

    def wait(self, seconds: float) -> bool:
        """Sleep, cut short by a stop request (False then)."""
        if self.stop is not None:
            return not self.stop.wait(seconds)
        self.sleep(seconds)
        return True


def _until(tally: Tally, now: float) -> float:
    """When what was asked fits (a conservative guess when the ledger cannot say: one window)."""
    return tally.until if tally.until is not None else now + tally.limit.window


@dataclass
class CustomerSpend:
    """One customer run's spending: what its first request to each integration reserves."""

    budgets: Budgets
    customer: str
    needs: dict[IntegrationKind, int]
    strict: bool = True  # refuse when the whole need does not fit (reads); False: as far as it goes

    def spender(self, integration: str, where: str) -> Spender | None:
        try:
            kind = IntegrationKind(integration)
        except ValueError:
            return None
        limit = self.budgets.limit(kind)
        if limit is None:
            return None
        return Spender(self, kind, limit, where, max(1, self.needs.get(kind, 1)), self.strict)


class Spender:
    """The budget one `HttpApi` of one customer spends (`take()` before each attempt)."""

    def __init__(
        self, owner: CustomerSpend, kind: IntegrationKind, limit: Limit, where: str, need: int, strict: bool
    ) -> None:
        self.owner, self.kind, self.limit, self.where = owner, kind, limit, where
        self.need = min(need, limit.requests)
        self.strict = strict
        self.held = 0
        self.spent = 0
        self._slot: float | None = None
        self._first = True
        self._refusal: BudgetExhausted | None = None  # once refused, the run stays refused
        self._lock = threading.Lock()

    @property
    def budgets(self) -> Budgets:
        return self.owner.budgets

    def take(self) -> None:
        with self._lock:
            if self._refusal is not None:
                raise self._refusal
            try:
                if self._first:
                    self._first = False
                    if self.strict or self.need <= 1:
                        self.held = self._reserve(self.need)
                    else:
                        self.held = self._reserve(self.need, fallback=True)
                elif self.held > 0 and self.limit.slot_start(self.budgets.clock()) != self._slot:
                    self._renew()
                if self.held <= 0:
                    self.held = self._reserve(1)
            except BudgetExhausted as exc:
                self._refusal = exc
                raise
            self.held -= 1
            self.spent += 1

    def wait(self, seconds: float) -> bool:
        return self.budgets.wait(seconds)

    def close(self) -> None:
        """Give back what was reserved and not used."""
        with self._lock:
            ledger = self.budgets.ledger
            if self.held > 0 and self._slot is not None and ledger is not None:
                try:
                    ledger.refund(self.kind.value, self.held, self._slot)
                except Exception:  # a refund is a courtesy: the slot ages out by itself
                    log.debug("%s: budget refund failed", self.where, exc_info=True)
            self.held = 0

    def _renew(self) -> None:
        """The reservation's slot has passed: what is left of it is given back and
        reserved again now (as far as it fits), so every request is counted in the
        slot it is sent in; counted in an older one, it would age out of the ledger
        while it still shares a window with later grants."""
        ledger, held = self.budgets.ledger, self.held
        assert ledger is not None and self._slot is not None
        self.held = 0
        ledger.refund(self.kind.value, held, self._slot)
        self.held = self._reserve(held, fallback=held > 1)

    def _reserve(self, want: int, fallback: bool = False) -> int:
        """Reserve `want` (waiting up to --budget-wait); `fallback`: when it does not fit
        now, take 1 instead (an apply goes as far as the budget goes)."""
        budgets, ledger = self.budgets, self.budgets.ledger
        assert ledger is not None  # a Spender exists only for an enforced budget
        waited = 0.0
        while True:
            now = budgets.clock()
            tally = ledger.spend(self.kind.value, want, self.limit, now)
            if tally.granted:
                self._slot = tally.slot_start
                return tally.granted
            if fallback:
                want, fallback = 1, False
                continue
            until = _until(tally, now)
            delay = max(0.05, until - now)
            if waited + delay > budgets.wait_seconds:
                budgets.refused(self.owner.customer, until, self.kind)
                raise BudgetExhausted(
                    self.where,
                    f"budget exhausted until {hhmm(until)} ({self.limit.describe()} for the whole MSP, "
                    f"{tally.used} used; this run needs {want} more; --budget-wait SECONDS waits for it)",
                    until,
                )
            log.info(
                "%s: request budget used up (%s); waiting %.0fs", self.where, self.limit.describe(), delay
            )
            if not budgets.wait(delay):
                raise ProviderError(self.where, "stopped while waiting for the request budget")
            waited += delay


_CURRENT: contextvars.ContextVar[CustomerSpend | None] = contextvars.ContextVar("budget", default=None)


@contextmanager
def spending(spend: CustomerSpend | None) -> Iterator[None]:
    """Clients opened inside spend `spend`'s budgets (the engine wraps a customer's
    `open_customer` in it)."""
    token = _CURRENT.set(spend)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def spender_for(integration: str, where: str) -> Spender | None:
    """The spender of the customer whose clients are being opened, for `integration`."""
    spend = _CURRENT.get()
    return spend.spender(integration, where) if spend is not None else None


def listing_need(kind: IntegrationKind, connection: object, records: int) -> int:
    """Requests a listing of `records` records takes: its pages (at the connection's
    page size; 500 where it has none) plus a lookup or two (organization check,
    categories)."""
    page = getattr(connection, "page_size", None)
    size = page if isinstance(page, int) and page > 0 else 500
    return math.ceil((records + 1) / size) + 2
