"""Apply: hold a customer's lease while applying it, and fence every write with it.

`HeldLease` renews the lease every third of `leaseSeconds` on a thread of its
own. It knows the lease is lost when a renewal says so (taken over or broken)
and, without asking anyone, when its own monotonic clock passes the last
renewal's start + leaseSeconds: by then another holder may have taken over, so
a process that was paused (SIGSTOP, a frozen VM) or cut off stops before its
next write even if it cannot reach the database to find out.

`FencedStore` is the store as the executor sees it: every batch and every
journal row of an external create is fenced by the lease in the same
transaction (the epoch is checked where it commits), and `check()` is called
immediately before each external call (create, send).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from reconciler.errors import LeaseLostError, ReconcilerError, StateError
from reconciler.state.api import Lease, StateStore

log = logging.getLogger("reconciler.apply")
MARGIN = 0.9  # stop at 90% of the lease on our own clock: clocks drift, renewals take time


class HeldLease:
    def __init__(self, store: StateStore, lease: Lease, monotonic: Any = time.monotonic) -> None:
        self.store, self._lease = store, lease
        self.seconds = float(store.lease_seconds)
        self._monotonic = monotonic
        self._valid_until = monotonic() + self.seconds * MARGIN
        self._lost = ""
        self._stop = threading.Event()
        self._mutex = threading.Lock()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease {lease.customer}", daemon=True)
        self._thread.start()

    @property
    def lease(self) -> Lease:
        with self._mutex:
            return self._lease

    @property
    def customer(self) -> str:
        return self._lease.customer

    @property
    def lost(self) -> bool:
        with self._mutex:
            return bool(self._lost)

    def check(self) -> None:
        """Raise LeaseLostError when this lease may no longer be ours."""
        with self._mutex:
            lost = self._lost
            if not lost and self._monotonic() >= self._valid_until:
                lost = self._lost = (
                    f"{self.customer}: this apply could not renew its lease (epoch {self._lease.epoch}) "
                    f"within {self.seconds:.0f}s; another holder may have taken over, so it stopped "
                    "before writing anything more"
                )
        if lost:
            raise LeaseLostError(lost)

    def renew(self) -> None:
        started = self._monotonic()
        try:
            renewed = self.store.renew(self.lease)
        except LeaseLostError as exc:
            with self._mutex:
                self._lost = str(exc)
            return
        with self._mutex:
            self._lease = renewed
            self._valid_until = started + self.seconds * MARGIN

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
            except ReconcilerError as exc:  # the database is away: retry; check() stops us at expiry
                log.warning("%s: lease renewal failed: %s", self.customer, exc)
            if self._lost:
                return

    def close(self) -> None:
        """Stop renewing and release the lease (unless it was lost: then it is not ours)."""
        self._stop.set()
        self._thread.join()
        if self._lost:
            return
        try:
            self.store.release(self.lease)
        except ReconcilerError as exc:  # it expires by itself
            log.warning("%s: could not release the lease: %s", self.customer, exc)


class FencedStore:
    """A `StateStore` whose writes commit only while `held` is the customer's lease."""

    def __init__(self, store: StateStore, held: HeldLease) -> None:
        self._store, self.held = store, held
        self.lease_seconds = store.lease_seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @property
    def lost(self) -> bool:
        return self.held.lost

    def check(self) -> None:
        self.held.check()

    @contextmanager
    def batch(self, fence: Lease | None = None, durable: bool = False) -> Iterator[None]:
        self.held.check()
        with self._lost_first(), self._store.batch(fence or self.held.lease, durable):
            yield

    def journal_open(self, customer: str, op: str, marker: str, fence: Lease | None = None) -> int:
        self.held.check()
        with self._lost_first():
            return self._store.journal_open(customer, op, marker, fence or self.held.lease)

    @contextmanager
    def _lost_first(self) -> Iterator[None]:
        """A fenced write that failed in the database while our lease ran out (a paused
        process whose idle transaction the server ended) is reported as the lost lease."""
        try:
            yield
        except LeaseLostError:
            raise
        except StateError as exc:
            try:
                self.held.check()
            except LeaseLostError as lost:
                raise LeaseLostError(f"{lost} ({exc})") from None
            raise

    def journal_open_many(
        self, customer: str, intents: Sequence[tuple[str, str]], fence: Lease | None = None
    ) -> list[int]:
        self.held.check()
        return self._store.journal_open_many(customer, intents, fence or self.held.lease)


def check_lease(store: object) -> None:
    """Immediately before an external call: stop if the lease may be lost."""
    if isinstance(store, FencedStore):
        store.check()
