"""Daemon stage: the fleet breaker (#12) across the daemon's one-customer runs.

The breaker needs every changed customer's plan at once; the daemon plans one
customer per run, on its schedule. So when the config digest changes, the leader
replica runs a *fleet check*: it finds the customers whose effective settings
changed since they were last applied and, when there are more of them than the
breaker's limit, plans each of them (nothing applied; those customers start no
run meanwhile) and asks the same core function as a multi-customer CLI plan
(core/fleet.py). What it decides is in the daemon store, shared by every
replica, `reconciler status` and the status API: the meta "fleet" names the
check of the current config; a tripped breaker is a *hold*, a keyed record under
its digest.

- While a hold is in force, every run of a customer whose settings changed and
  whose plan removes accounts (or re-creates vanished records) is blocked with
  "held by fleet breaker <digest>", on whichever replica it runs.
- `reconciler override --fleet <digest>` releases the hold it names (compare and
  set on the hold's record, so a stale digest is refused and two releases are
  one): the held customers then apply exactly the removals the hold showed; a
  plan removing anyone else stays blocked, with its own one-customer override.
- A new config runs a new check: its hold replaces the old one or, when it does
  not trip, lifts it.

The leader tells the notification targets (`fleet.held` through the daemon's
EventSink: deduplicated, resolved when the hold is lifted or released, a new
hold resolving the one before); every replica exports the metrics.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from reconciler.config import ConfigSet
from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.events import EventSink, FleetHeld
from reconciler.core.fleet import (
    DIGEST_CHARS,
    SETTINGS_CURSOR,
    FleetHold,
    changed_customers,
    fleet_hold,
    fleet_limit,
    removal_keys,
    settings_digest,
)
from reconciler.core.plan import CustomerPlan
from reconciler.core.words import count
from reconciler.daemon.clock import Clock
from reconciler.daemon.logs import event
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.engine import Engine
from reconciler.errors import StateError
from reconciler.state.api import DaemonStore, StateStore

META = "fleet"  # daemon meta: the check of the newest config {config_digest, state, changed, hold, at}
KIND = "fleet.hold"  # daemon records: hold digest -> the hold, when it was made and released
RETRY_SECONDS = 60.0  # a check that failed (the state store away) is tried again this late
log = logging.getLogger("reconciler.daemon")


@dataclass(frozen=True)
class FleetView:
    """What the last fleet check decided, as every replica reads it from the store."""

    config_digest: str = ""
    state: str = ""  # "" (never checked), "checking", "done"
    changed: tuple[str, ...] = ()
    hold: FleetHold | None = None
    held_at: float | None = None
    released_at: float | None = None
    released_by: str = ""

    @property
    def in_force(self) -> bool:
        return self.hold is not None and self.released_at is None

    def to_dict(self) -> dict[str, Any] | None:
        """The `fleet` part of `reconciler status --format json` (None: never checked)."""
        if not self.state:
            return None
        hold = self.hold
        state = "checking" if self.state == "checking" else "held" if self.in_force else "released"
        if hold is None and self.state != "checking":
            state = "clear"
        return {
            "config_digest": self.config_digest,
            "state": state,
            "changed": len(self.changed),
            "digest": hold.digest[:DIGEST_CHARS] if hold else None,
            "reason": hold.reason if hold else None,
            "customers": sorted(hold.customers) if hold else [],
            "removals": sum(len(k) for k in hold.customers.values()) if hold else 0,
            "limit": hold.limit if hold else None,
            "fleet": hold.fleet if hold else None,
            "since": self.held_at,
            "released_at": self.released_at,
            "released_by": self.released_by,
        }


def read_view(state: DaemonStore, daemon_meta: Mapping[str, Any] | None = None) -> FleetView:
    """The view from the store; `daemon_meta`: the daemon meta already read (the status
    page's snapshot), so only a hold in force costs a query."""
    meta = (state.meta() if daemon_meta is None else daemon_meta).get(META)
    if not isinstance(meta, dict):
        return FleetView()
    view = FleetView(
        str(meta.get("config_digest", "")), str(meta.get("state", "")), tuple(meta.get("changed", ()))
    )
    digest = meta.get("hold")
    record = state.get_record(KIND, digest) if digest else None
    if record is None:
        return view
    return FleetView(
        view.config_digest, view.state, view.changed, FleetHold.from_dict(record),
        record.get("at"), record.get("released_at"), str(record.get("released_by", "")),
    )  # fmt: skip


def release(state: DaemonStore, digest: str, by: str, now: float) -> tuple[FleetHold, bool]:
    """`reconciler override --fleet DIGEST`: release the hold in force if DIGEST names it
    (its shown form or any longer prefix). Returns the hold and whether this call released
    it (False: released already). StateError for a stale or unknown digest."""
    want = digest.strip().lower()
    for _ in range(3):  # compare and set: another writer between read and write means read again
        view = read_view(state)
        hold = view.hold
        if len(want) < 8 or hold is None or not hold.digest.startswith(want):
            raise StateError(_stale(want, view))
        record = state.get_record(KIND, hold.digest)
        if record is None:
            continue
        if record.get("released_at") is not None:
            return hold, False
        if state.replace_record(KIND, hold.digest, record, {**record, "released_at": now, "released_by": by}):
            for customer in hold.customers:  # run the held customers now, as a one-customer override does
                state.set_next_run(customer, now)
            return hold, True
    raise StateError(f"fleet hold {want}: it changed while it was being released; try again")


def _stale(want: str, view: FleetView) -> str:
    if view.hold is None:
        now = "holds nothing now" if view.state else "has never held this fleet"
        return f"fleet hold {want or '?'} is not in force: the fleet breaker {now}; nothing to release"
    return (
        f"fleet hold {want or '?'} is stale: the fleet breaker now holds {view.hold.short} "
        f"({view.hold.reason.split(': ', 1)[1]}); the config or the plans changed since: review "
        f"`reconciler status` and release that digest if it is intended"
    )


def gate(
    view: FleetView, config_digest: str, customer: str, changed: bool, keys: tuple[str, ...]
) -> tuple[str, str] | None:
    """May a run apply its plan's removals `keys`? None: yes; ("wait", why): the check of its
    config has not decided yet; ("held", why): the breaker holds them."""
    if not keys or not changed:
        return None
    if view.config_digest != config_digest or view.state != "done":
        return "wait", f"waiting for the fleet breaker's check of config {config_digest[:DIGEST_CHARS]}"
    hold = view.hold
    if hold is None:
        return None
    if view.released_at is None:
        return "held", f"{hold.reason}; to release it: reconciler override --fleet {hold.short}"
    if hold.approves(customer, keys):
        return None
    unseen = sorted(set(keys) - set(hold.customers.get(customer, ())))
    return "held", (
        f"{hold.reason}, released for the removals it showed; this plan removes {len(unseen)} more "
        f"(first: {unseen[0]}): review it and override this customer"
    )


class FleetGuard:
    """The scheduler's side: the leader's check, the view every run consults, metrics."""

    def __init__(
        self,
        store: StateStore,
        state: DaemonStore,
        clock: Clock,
        wake: Callable[[], None],
        events: Callable[[], EventSink] | None = None,
        metrics: DaemonMetrics | None = None,
    ) -> None:
        self.store, self.state, self.clock = store, state, clock
        self._wake, self._events, self._metrics = wake, events, metrics
        self.view = FleetView()
        self._thread: threading.Thread | None = None
        self._failed_at = float("-inf")
        self._told: str | None = None  # the hold in force the targets were told of ("" none)

    def tick(
        self, config: ConfigSet, effs: Mapping[str, EffectiveCustomer], leader: bool, workers: int
    ) -> None:
        """Every cycle: read the shared view; the leader starts a check of a new config."""
        try:
            self.view = read_view(self.state)
        except Exception as exc:  # the state store away: keep the last view, the runs' gate reads again
            log.warning("fleet breaker: could not read its state: %s", exc)
            return
        if self._metrics is not None:
            hold = self.view.hold if self.view.in_force else None
            self._metrics.fleet(hold is not None, len(hold.customers) if hold else 0)
        if not leader:
            return
        told = self.view.hold.short if self.view.in_force and self.view.hold else ""
        if told != self._told and self._events is not None and self.view.state == "done":
            try:
                self._tell(told)
            except Exception:  # the notification bookkeeping (state store): told again next cycle
                log.exception("fleet breaker: notification bookkeeping failed")
        decided = self.view.config_digest == config.digest and self.view.state == "done"
        busy = self._thread is not None and self._thread.is_alive()
        if decided or busy or self.clock.monotonic() - self._failed_at < RETRY_SECONDS:
            return
        try:  # at once, in this cycle: the changed customers start no run from now on
            changed = self._start_check(config, effs)
        except Exception:
            self._failed_at = self.clock.monotonic()
            log.exception("fleet breaker: the check of config %s failed", config.digest[:DIGEST_CHARS])
            return
        if changed:
            self._thread = threading.Thread(
                target=self._check,
                args=(config, dict(effs), changed, workers),
                name="fleet check",
                daemon=True,
            )
            self._thread.start()

    def _tell(self, told: str) -> None:
        """fleet.held: each hold its own message (a new digest resolves the one before)."""
        assert self._events is not None
        events, hold = self._events(), self.view.hold
        if self._told or not told:
            events.resolve(FleetHeld())
        if told and hold is not None:
            events.emit(FleetHeld(hold.short, hold.customers, hold.limit, hold.fleet))
        self._told = told

    def join(self, timeout: float | None = None) -> None:
        """Wait (real time) for a check in flight (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def waiting(self, config_digest: str) -> frozenset[str]:
        """Customers that start no run now: the changed ones, while their config is checked."""
        view = self.view
        if view.state == "checking" and view.config_digest == config_digest:
            return frozenset(view.changed)
        return frozenset()

    def gate(self, config_digest: str, eff: EffectiveCustomer, cplan: CustomerPlan) -> tuple[str, str] | None:
        """A run's question, answered from the store as it is now (another replica may have
        checked or released since this replica's last cycle)."""
        keys = removal_keys(cplan)
        if not keys:
            return None
        applied = self.store.get_cursor(eff.name, SETTINGS_CURSOR)
        changed = applied is not None and applied != settings_digest(eff)
        return gate(read_view(self.state), config_digest, eff.name, changed, keys)

    # --- the check (leader) -----------------------------------------------------------------
    def _start_check(self, config: ConfigSet, effs: Mapping[str, EffectiveCustomer]) -> list[str]:
        """Find the changed customers; when too few to trip the breaker, decide at once
        (returns []); else record the check as under way and return them to be planned."""
        applied = {name: self.store.get_cursor(name, SETTINGS_CURSOR) for name in effs}
        changed = changed_customers(effs.values(), applied)
        if len(changed) <= fleet_limit(len(effs)):  # fewer can never trip it: nothing to plan
            self._settle(config, changed, None)
            return []
        self.state.put_meta(
            META,
            {
                "config_digest": config.digest,
                "changed": changed,
                "at": self.clock.now(),
                "state": "checking",
                "hold": None,
            },
        )
        self.view = read_view(self.state)
        return changed

    def _check(
        self, config: ConfigSet, effs: dict[str, EffectiveCustomer], changed: list[str], workers: int
    ) -> None:
        """Its own thread: plan every changed customer (nothing applied) and decide."""
        try:
            engine = Engine(config, self.store)
            options = engine.plan_options()
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(changed)))) as pool:
                plans = list(pool.map(lambda n: engine.plan_one(effs[n], options), changed))
            self._settle(config, changed, fleet_hold(plans, changed, len(effs), config.digest))
        except Exception:
            self._failed_at = self.clock.monotonic()
            log.exception("fleet breaker: the check of config %s failed", config.digest[:DIGEST_CHARS])
        finally:
            self._wake()

    def _settle(self, config: ConfigSet, changed: list[str], hold: FleetHold | None) -> None:
        if hold is not None:  # a hold made again (a restart, the same config back) keeps its release
            self.state.add_record(KIND, hold.digest, {**hold.to_dict(), "at": self.clock.now()})
        self.state.put_meta(
            META,
            {"config_digest": config.digest, "changed": changed, "at": self.clock.now(), "state": "done",
             "hold": hold.digest if hold else None},
        )  # fmt: skip
        lifted = [d for d in self.state.records(KIND) if hold is None or d != hold.digest]
        for digest in lifted:  # older holds: this config replaces them
            self.state.put_record(KIND, digest, None)
        self.view = read_view(self.state)
        short = config.digest[:DIGEST_CHARS]
        if hold is not None:
            event(
                logging.WARNING, "fleet.held", f"{hold.reason}: {', '.join(sorted(hold.customers))}; "
                f"to release it: reconciler override --fleet {hold.short}",
                digest=hold.short, customers=len(hold.customers), limit=hold.limit, fleet=hold.fleet,
            )  # fmt: skip
        elif lifted:
            event(logging.INFO, "fleet.lifted", f"fleet breaker lifted: config {short} holds nothing",
                  digest=lifted[0][:DIGEST_CHARS])  # fmt: skip
        else:
            event(logging.INFO, "fleet.checked",
                  f"fleet breaker: config {short} checked ({count(len(changed), 'customer')} changed); not held",
                  changed=len(changed))  # fmt: skip
