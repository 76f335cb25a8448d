"""CLI: progress while reading, on a terminal only (#17 item 8).

Reading hundreds of tenants can take minutes; a silent terminal looks hung. On a
terminal, stderr gets a spinner line ("reading 3/8 customers, 12s") and a line
per customer as it is planned. Nothing is written when stderr is not a terminal
(CI logs, pipes): `-v` gives log lines there instead.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from reconciler.core.plan import CustomerPlan, Status

FRAMES = "|/-\\"


class ReadingProgress:
    def __init__(self, total: int, out: TextIO) -> None:
        self.total, self.out = total, out
        self.done = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._frame = 0

    def customer(self, cp: CustomerPlan) -> None:
        with self._lock:
            self.done += 1
            self._clear()
            self.out.write(f"[{self.done}/{self.total}] {cp.customer}: {_outcome(cp)}\n")
            self._spin()

    def run(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                self._spin()

    def finish(self) -> None:
        self._stop.set()
        with self._lock:
            self._clear()

    def _spin(self) -> None:
        if self.done >= self.total:
            return
        self._frame = (self._frame + 1) % len(FRAMES)
        took = time.monotonic() - self.started
        self.out.write(
            f"\r{FRAMES[self._frame]} reading {self.done}/{self.total} {_noun(self.total)}, {took:.0f}s"
        )
        self.out.flush()

    def _clear(self) -> None:
        self.out.write("\r\x1b[K")
        self.out.flush()


def _noun(n: int) -> str:
    return "customer" if n == 1 else "customers"


def _outcome(cp: CustomerPlan) -> str:
    if cp.status is Status.ERROR:
        return f"error: {cp.reason}"
    n = len(cp.changes)
    changes = "in sync" if n == 0 else f"{n} change{'' if n == 1 else 's'}"
    return changes if cp.status is Status.OK else f"{cp.status.value}, {changes}"


@contextmanager
def reading(total: int) -> Iterator[ReadingProgress | None]:
    """A ReadingProgress on a terminal, None otherwise."""
    if not sys.stderr.isatty() or total == 0:
        yield None
        return
    progress = ReadingProgress(total, sys.stderr)
    spinner = threading.Thread(target=progress.run, name="progress", daemon=True)
    spinner.start()
    try:
        yield progress
    finally:
        progress.finish()
        spinner.join()
