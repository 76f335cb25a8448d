"""Run the real `reconciler` CLI in this process and SIGKILL it at a chosen point.

    python -m tests.engine.crashrun POINT N -- reconciler-args...

POINT names a place (see `POINTS`); the process kills itself with SIGKILL on the
N-th time it gets there, exactly as `kill -9` would: no cleanup, no atexit.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from reconciler.cli import main
from reconciler.providers import files
from reconciler.state.pgstore import PgStore
from reconciler.state.store import SqliteStore


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def wrap(owner: Any, name: str, n: int, after: bool) -> None:
    original: Callable[..., Any] = getattr(owner, name)
    count = 0

    def patched(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        if count == n and not after:
            die()
        result = original(*args, **kwargs)
        if count == n and after:
            die()
        return result

    setattr(owner, name, patched)


POINTS: dict[str, tuple[Any, str, bool]] = {
    "before-create-entry": (files.FileVault, "create_entry", False),
    "after-create-entry": (files.FileVault, "create_entry", True),
    "after-create-contact": (files.FileContacts, "create_contact", True),
    "after-flush": (files.FileVault, "flush", True),
    "inside-batch": (SqliteStore, "bump_serial", False),
    "before-put-link": (SqliteStore, "put_links", False),  # apply writes a chunk's links at once
    "after-send": (files.FileMailer, "send", True),
    # R25 / R8: the record written, its fingerprint or the account removal not committed yet
    "after-update-entry": (files.FileVault, "update_entry", True),
    "before-archive-entry": (files.FileVault, "archive_entry", False),
    "after-archive-entry": (files.FileVault, "archive_entry", True),
    "after-update-contact": (files.FileContacts, "update_contact", True),
    "after-deactivate-contact": (files.FileContacts, "deactivate_contact", True),
}

if __name__ == "__main__":
    point, n, sep, *args = sys.argv[1:]
    assert sep == "--"
    owner, name, after = POINTS[point]
    wrap(owner, name, int(n), after)
    if owner is SqliteStore:  # the same point in the PostgreSQL store (only one is used)
        wrap(PgStore, name, int(n), after)
    main(args)
