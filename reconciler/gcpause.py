"""Pause the cyclic garbage collector around allocation-heavy pure work.

Planning 100,000 accounts allocates a few hundred thousand small immutable
objects and creates no reference cycles; CPython's generational collector would
still walk the whole heap many times meanwhile (about a third of plan time,
measured in benchmarks/plan_bench.py). Reference counting frees everything as
usual; the collector is re-enabled when the last concurrent user leaves.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_users = 0
_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    global _users, _was_enabled
    with _lock:
        if _users == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _was_enabled:
                gc.enable()
