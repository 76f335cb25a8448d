"""Core: the arithmetic of an MSP-wide request budget (pure; the ledger rows come in).

A budget is `requests` in any window of `window` seconds. The ledger counts
requests in slots of `window / SLOTS` seconds (rows keyed by namespace,
integration and slot start). A reservation is granted when the slots that can
share a window with now (the current one and the SLOTS before it) hold at most
`requests - want`: any real window of `window` seconds overlaps at most those
SLOTS + 1 slots, so no sliding window ever holds more than the budget, whatever
the vendor's own window alignment (IT Glue and Hudu count in fixed windows,
Autotask in a rolling hour). The price is that the budget frees one slot
(1/12 of the window) later than a perfect sliding log would.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

SLOTS = 12


@dataclass(frozen=True)
class Limit:
    requests: int
    window: float

    @property
    def slot(self) -> float:
        return self.window / SLOTS

    def slot_start(self, now: float) -> float:
        return math.floor(now / self.slot) * self.slot

    def counted_from(self, now: float) -> float:
        """The oldest slot start still counted at `now`."""
        return self.slot_start(now) - self.window

    def describe(self) -> str:
        return f"{self.requests} requests per {duration(self.window)}"


@dataclass(frozen=True)
class Tally:
    """A budget at `now`: `used` of `limit.requests`, `granted` of what was asked (all
    or nothing), the slot it went to, and when what was asked would fit (`until`,
    None when it was granted or can never fit)."""

    limit: Limit
    used: int
    granted: int = 0
    slot_start: float = 0.0
    until: float | None = None

    @property
    def left(self) -> int:
        return max(0, self.limit.requests - self.used)


def decide(rows: Iterable[tuple[float, int]], now: float, limit: Limit, want: int) -> Tally:
    """Whether `want` more requests fit beside the ledger's `rows` (slot start, used)."""
    oldest = limit.counted_from(now) - 1e-9
    live = sorted((start, used) for start, used in rows if start >= oldest and used > 0)
    used = sum(u for _, u in live)
    start = limit.slot_start(now)
    if want <= 0 or used + want <= limit.requests:
        granted = max(0, want)
        return Tally(limit, used + granted, granted, start)
    until: float | None = None
    if want <= limit.requests:
        freed = 0
        for slot, n in live:
            freed += n
            if used - freed + want <= limit.requests:
                until = slot + limit.window + limit.slot  # when that slot stops being counted
                break
    return Tally(limit, used, 0, start, until)


def duration(seconds: float) -> str:
    """`300.0` -> "5 minutes", `3600` -> "hour", `45` -> "45 s"."""
    if seconds == 3600:
        return "hour"
    if seconds == 60:
        return "minute"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} hours"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} s"
