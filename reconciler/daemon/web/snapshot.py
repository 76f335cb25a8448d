"""Daemon stage (HTTP): the fleet overview's rows, shared by requests for a moment.

Building the rows of 10,000 customers (one summary query, a sort) costs tens of
milliseconds of Python, and the daemon's own runs compete for the same
interpreter. So requests share the last result: fresh for FRESH_SECONDS; up to
STALE_SECONDS old it is still served while one background thread builds the
next; older, the request builds it itself. A page's own action (import now,
approve) drops it, so the person acting sees the effect at once. The overview
is thus at most STALE_SECONDS behind the state; a customer's own page reads
its record directly and is never behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.daemon.web.fleet import Row, counts

FRESH_SECONDS = 0.5
STALE_SECONDS = 2.0


@dataclass(frozen=True)
class Snapshot:
    rows: list[Row]
    counts: dict[str, int]
    problems: int
    built: float  # monotonic


class FleetCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Snapshot | None = None
        self._building = False

    def get(self, build: Callable[[], list[Row]]) -> Snapshot:
        now = time.monotonic()
        with self._lock:
            current = self._current
            age = now - current.built if current is not None else float("inf")
            if current is not None and age < FRESH_SECONDS:
                return current
            if current is not None and age < STALE_SECONDS:
                if not self._building:
                    self._building = True
                    threading.Thread(
                        target=self._refresh, args=(build,), name="fleet snapshot", daemon=True
                    ).start()
                return current
        return self._store(build)

    def invalidate(self) -> None:
        with self._lock:
            self._current = None

    def _refresh(self, build: Callable[[], list[Row]]) -> None:
        try:
            self._store(build)
        finally:
            with self._lock:
                self._building = False

    def _store(self, build: Callable[[], list[Row]]) -> Snapshot:
        started = time.monotonic()
        rows = build()
        found = counts(rows)
        snap = Snapshot(rows, found, sum(1 for r in rows if r.status.problem), started)
        with self._lock:
            if self._current is None or self._current.built <= started:
                self._current = snap
        return snap
