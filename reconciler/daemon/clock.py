"""Daemon stage: the clock every schedule decision reads (injected; tests use a fake).

`wait` is the only way the daemon sleeps: it returns early when `wake` is set
(import now, a finished run, a stop request), like kopf's stop-interruptible
sleeps, so a SIGTERM never waits out an interval.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall time, seconds since the epoch: schedules are persisted and shown."""
        ...

    def monotonic(self) -> float:
        """For durations."""
        ...

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        """Sleep up to `seconds`, less if `wake` is set; True when woken."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        return wake.wait(max(0.0, seconds))
