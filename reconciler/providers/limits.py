"""Live stage: client-side request pacing shared by every customer of one
integration account: a sliding-log rate limiter and a cap on requests in flight
(the HTTP seam, `providers.http`, applies both)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class RateLimiter:
    """At most `limit` requests in any `window` seconds (sliding log); thread-safe."""

    def __init__(self, limit: int, window: float, clock: Clock = time.monotonic, sleep: Sleep = time.sleep):
        self.limit, self.window = limit, window
        self._clock, self._sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until a request may go; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return waited
                delay = self._sent[0] + self.window - now
            self._sleep(delay)
            waited += delay


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(key: str, limit: int, window: float) -> RateLimiter:
    """The one limiter of an integration account (e.g. base URL + key fingerprint),
    shared by every customer using it; replaced when its limit is reconfigured."""
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None or (limiter.limit, limiter.window) != (limit, window):
            limiter = _limiters[key] = RateLimiter(limit, window)
        return limiter


_gates: dict[str, threading.BoundedSemaphore] = {}


def shared_gate(key: str, concurrent: int) -> threading.BoundedSemaphore:
    """The one cap on requests in flight of an integration account (e.g. Autotask's 3)."""
    with _limiters_lock:
        return _gates.setdefault(f"{key} {concurrent}", threading.BoundedSemaphore(concurrent))
