"""Live stage: how long a 429 without a usable Retry-After waits, for a vendor that
counts requests in fixed windows (IT Glue 300 s, Hudu 60 s: `Budget.fixed_window`).

Backing off for a few seconds cannot help there: the vendor refuses everything
until its window ends, up to 5 minutes later. The first such 429 of a request
waits to the next multiple of the window on the wall clock (where a vendor's
windows are aligned to the clock, as HuduAPI assumes, that is exactly its end);
a second one waits a whole window. A wait is at most MAX_WINDOW_WAIT, a request
waits at most MAX_WINDOW_WAITS times, and the wait is logged once per
integration and window (other customers waiting for the same window are quiet).
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("reconciler.http")

MAX_WINDOW_WAIT = 300.0
MAX_WINDOW_WAITS = 3

_logged: dict[str, float] = {}  # integration -> end of the window last logged
_lock = threading.Lock()


def window_wait(where: str, label: str, problem: str, window: float, now: float, again: bool) -> float:
    """Seconds to wait for `window` (seconds) to end at wall-clock `now`; logs it once."""
    window = min(window, MAX_WINDOW_WAIT)
    delay = window if again else max(0.05, (now // window + 1) * window - now)
    with _lock:
        quiet = _logged.get(label, 0.0) > now
        _logged[label] = max(_logged.get(label, 0.0), now + delay)
    log.log(
        logging.DEBUG if quiet else logging.WARNING,
        "%s: %s without Retry-After; waiting %.0fs for its %g s rate-limit window to end",
        where,
        problem,
        delay,
        window,
    )
    return delay
