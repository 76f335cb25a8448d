"""Daemon stage (HTTP): the fleet overview's rows, shared by requests for a moment.

Building the rows of 10,000 customers (one summary query, a sort) costs tens of
milliseconds of Python, and the daemon's own runs compete for the same
interpreter. So requests share the last result: fresh for FRESH_SECONDS; up to
STALE_SECONDS old it is still served while one background thread builds the
next; older, the request builds it itself. A page's own action (import now,
approve) drops it, so the person acting sees the effect at once. The overview
is thus at most STALE_SECONDS behind the state; a customer's own page reads
its record directly and is never behind.

A snapshot is everything a fleet page needs: the rows, the daemon's meta (read
in the same build, so a request makes no query of the state store, whose one
connection the runs' writes hold while they commit), and the pages rendered
from it (`rendered`: the overview for one query string and one viewer, kept
with the snapshot; at most PAGES_KEPT of them). A request for a page already
rendered from the current snapshot costs a dictionary lookup; under a busy
daemon that is what keeps its latency near the idle one, since the runs'
Python threads take most of the interpreter's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.daemon.web.fleet import Row, counts

FRESH_SECONDS = 0.5
STALE_SECONDS = 2.0
PAGES_KEPT = 64  # rendered pages per snapshot (query strings x viewers)
Build = Callable[[], tuple[list[Row], dict[str, Any]]]  # (rows, daemon meta)


@dataclass(frozen=True)
class Snapshot:
    rows: list[Row]
    counts: dict[str, int]
    problems: int
    built: float  # monotonic
    meta: dict[str, Any] = field(default_factory=dict)
    _pages: dict[tuple[str, ...], bytes] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def rendered(self, key: tuple[str, ...], render: Callable[[], bytes]) -> bytes:
        """The page `key` names, rendered once from this snapshot."""
        with self._lock:
            page = self._pages.get(key)
        if page is None:
            page = render()
            with self._lock:
                if len(self._pages) < PAGES_KEPT:
                    self._pages[key] = page
        return page


class FleetCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Snapshot | None = None
        self._building = False

    def get(self, build: Build) -> Snapshot:
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

    def _refresh(self, build: Build) -> None:
        try:
            self._store(build)
        finally:
            with self._lock:
                self._building = False

    def _store(self, build: Build) -> Snapshot:
        started = time.monotonic()
        rows, meta = build()
        found = counts(rows)
        snap = Snapshot(rows, found, sum(1 for r in rows if r.status.problem), started, meta)
        with self._lock:
            if self._current is None or self._current.built <= started:
                self._current = snap
        return snap
