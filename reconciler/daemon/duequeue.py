"""Daemon stage: the due customers, by next run time (#16).

A heap keyed by each customer's next run, so a scheduler cycle touches only the
customers that are due: O(due) per cycle, not O(fleet). It is rebuilt from every
schedule row on a new config and every `POLL_SECONDS` (what other processes
wrote, e.g. a CLI override) and fed by each finished run.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

POLL_SECONDS = 10.0  # longest sleep: config edits and CLI overrides are noticed this fast


class DueQueue:
    """Customers by next run time, so a cycle touches only the due ones. One entry
    per customer counts (`_when`); older heap entries are skipped when popped."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._when: dict[str, float] = {}
        self._built: tuple[str, float] | None = None  # (config digest, monotonic time)

    def stale(self, digest: str, mono: float) -> bool:
        return self._built is None or self._built[0] != digest or mono - self._built[1] >= POLL_SECONDS

    def rebuild(self, entries: Iterable[tuple[float, str]], digest: str, mono: float) -> None:
        self._heap = list(entries)
        heapq.heapify(self._heap)
        self._when = {name: when for when, name in self._heap}
        self._built = (digest, mono)

    def push(self, when: float, name: str) -> None:
        self._when[name] = when
        heapq.heappush(self._heap, (when, name))

    def pop_due(self, now: float) -> list[tuple[float, str]]:
        out = []
        while self._heap and self._heap[0][0] <= now:
            when, name = heapq.heappop(self._heap)
            if self._when.get(name) == when:
                del self._when[name]
                out.append((when, name))
        return out

    def first(self, default: float) -> float:
        while self._heap and self._when.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else default
