"""Test helper: a clock that only moves when told (no real sleeping)."""

from __future__ import annotations

import threading
import time


class FakeClock:
    """`wait` advances time by the requested seconds (unless already woken) and
    returns at once; `advance` moves time by hand."""

    def __init__(self, start: float | None = None) -> None:
        # default: today (whole seconds), so times compare sensibly with records the
        # engine writes with the real clock
        self._now = float(int(time.time())) if start is None else start
        self._mono = 0.0
        self._lock = threading.Lock()
        self.waits: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            self._mono += seconds

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        if wake.is_set():
            return True
        self.advance(max(0.0, seconds))
        return False
