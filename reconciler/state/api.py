"""State: the interfaces every caller uses, whatever the backend.

`StateStore` is what reconciler manages per customer (serial, accounts, links,
welcome records, provider cursors, the apply journal, locks, run history);
`DaemonStore` is what the daemon remembers beside it (schedules, last results,
overrides, quarantine, daemon-wide facts). The engine, the executor, the
scheduler, status and the daemon service are typed on these protocols only;
`backend.open_backend` picks the implementation from Settings `state.backend`.

Write methods of `StateStore` run inside `batch()`: one transaction that
commits everything in it or nothing.
"""

from __future__ import annotations

import os
import socket
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple, Protocol

from reconciler.core.model import Account, IntegrationKind, Link, ManagedState, WelcomeStatus


@dataclass(frozen=True)
class LockInfo:
    customer: str
    pid: int
    host: str
    holder: str
    acquired_at: float

    @property
    def alive(self) -> bool:
        """False only when we can tell the holder is gone (same host, no such pid)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self, now: float) -> str:
        age = max(0.0, now - self.acquired_at)
        return f"{self.holder} (pid {self.pid} on {self.host}, for {age:.0f}s)"


@dataclass(frozen=True)
class JournalEntry:
    id: int
    customer: str
    op: str
    marker: str
    status: str
    detail: str


RunRow = tuple[float, float, str, dict[str, Any]]  # started, finished, result, detail


class StateStore(Protocol):
    """Managed state per customer (R11, R16, R19)."""

    def close(self) -> None: ...

    def batch(self, durable: bool = False) -> AbstractContextManager[None]:
        """One transaction; `durable` = flushed to disk before it returns (welcome
        `pending`/`sent`, R16: SQLite synchronous=FULL)."""
        ...

    # reading
    def serial(self, customer: str) -> int: ...
    def count_accounts(self, customer: str) -> int: ...
    def load(self, customer: str) -> ManagedState: ...
    def customers(self) -> list[str]: ...
    def lineage(self) -> str: ...
    def adopted_lineages(self, customer: str) -> frozenset[str]: ...

    # writing (inside batch())
    def bump_serial(self, customer: str) -> int: ...
    def put_account(self, customer: str, account: Account) -> None: ...
    def remove_account(self, customer: str, key: str) -> None: ...
    # a class change (end user <-> admin): the account, its links and welcome record take the new key
    def move_account(self, customer: str, old_key: str, account: Account) -> None: ...
    def put_link(self, customer: str, link: Link) -> None: ...
    def set_welcome(self, customer: str, key: str, status: WelcomeStatus) -> None: ...
    def adopt_lineages(self, customer: str, lineages: frozenset[str]) -> None: ...
    # the `state rm|import|mv` commands
    def remove_link(self, customer: str, key: str, integration: IntegrationKind) -> None: ...
    def forget_welcome(self, customer: str, key: str) -> None: ...
    def put_fingerprint(
        self, customer: str, key: str, integration: IntegrationKind, fingerprint: str
    ) -> None: ...
    def set_detached(
        self, customer: str, key: str, integration: IntegrationKind, record_id: str | None
    ) -> None: ...

    # provider cursors (each put commits on its own)
    def get_cursor(self, customer: str, name: str) -> str | None: ...
    def put_cursor(self, customer: str, name: str, value: str | None) -> None: ...

    # journal of external creates
    def journal_open(self, customer: str, op: str, marker: str) -> int: ...
    def journal_close(self, entry_id: int, status: str, detail: str = "") -> None: ...
    def journal_pending(self, customer: str) -> list[JournalEntry]: ...

    # locks
    def lock(self, customer: str, holder: str) -> None: ...
    def unlock(self, customer: str) -> None: ...
    def break_lock(self, customer: str, force: bool = False) -> LockInfo | None: ...
    def locks(self) -> list[LockInfo]: ...

    # run history (R19)
    def record_run(self, customer: str, started: float, result: str, detail: dict[str, Any]) -> None: ...
    def last_run(self, customer: str) -> RunRow | None: ...


# --- the daemon's bookkeeping ------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerRecord:
    customer: str
    next_run_at: float | None = None
    last_started_at: float | None = None
    last_finished_at: float | None = None
    last_result: str = ""
    last_message: str = ""
    last_success_at: float | None = None
    last_commit: str = ""
    last_config_digest: str = ""
    changes_applied: int = 0
    changes_pending: int = 0
    conflicts: tuple[dict[str, Any], ...] = ()
    failures: int = 0
    quarantined: bool = False
    blocked_reason: str = ""
    blocked_since: float | None = None
    blocked_removals: tuple[str, ...] = ()
    override_at: float | None = None
    override_by: str = ""
    override_removals: tuple[str, ...] = field(default=())

    @property
    def blocked(self) -> bool:
        return bool(self.blocked_reason)

    @property
    def override_pending(self) -> bool:
        return self.override_at is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


COLUMNS = tuple(f.name for f in fields(CustomerRecord))
# columns the daemon writes after a run (never the override ones)
RUN_COLUMNS = tuple(c for c in COLUMNS[1:] if not c.startswith("override_"))
JSON_COLUMNS = ("conflicts", "blocked_removals", "override_removals")


class CustomerBrief(NamedTuple):
    """What the fleet overview needs of a customer's record, counts instead of lists:
    one row of `DaemonStore.briefs()`, the one summary query of the status page."""

    customer: str
    next_run_at: float | None
    last_started_at: float | None
    last_finished_at: float | None
    last_result: str
    last_message: str
    last_success_at: float | None
    last_commit: str
    changes_applied: int
    changes_pending: int
    conflicts: int
    failures: int
    quarantined: bool
    blocked_reason: str
    blocked_since: float | None
    blocked_removals: int
    override_pending: bool


@dataclass(frozen=True)
class Slot:
    next_run_at: float | None
    last_started_at: float | None
    failures: int


class DaemonStore(Protocol):
    """Schedules, run bookkeeping and overrides per customer; daemon-wide facts."""

    def close(self) -> None: ...

    def get(self, customer: str) -> CustomerRecord | None: ...
    def all(self) -> dict[str, CustomerRecord]: ...
    def schedule(self) -> dict[str, Slot]: ...
    def briefs(self) -> list[CustomerBrief]: ...
    def save_run(self, record: CustomerRecord) -> None: ...
    def set_next_run(self, customer: str, when: float) -> None: ...
    def request_override(self, customer: str, now: float, by: str) -> CustomerRecord: ...
    def clear_override(self, customer: str, override_at: float) -> None: ...

    def put_meta(self, key: str, value: Any) -> None: ...
    def meta(self) -> dict[str, Any]: ...

    # run history per customer, newest first; the oldest beyond `keep` are dropped
    def add_history(self, customer: str, entry: dict[str, Any], keep: int = 100) -> None: ...
    def history(self, customer: str, limit: int = 100) -> list[dict[str, Any]]: ...

    # keyed JSON records by kind: "plan" (last plan per customer), "session" (status-page
    # sign-ins), "alert" (notification dedup per customer and cause), "ticket" (PSA tickets).
    # put_record(..., None) deletes; add_record writes only when absent (True), atomically,
    # so two replicas never both claim the same key.
    def get_record(self, kind: str, key: str) -> dict[str, Any] | None: ...
    def put_record(self, kind: str, key: str, value: dict[str, Any] | None) -> None: ...
    def add_record(self, kind: str, key: str, value: dict[str, Any]) -> bool: ...
    def records(self, kind: str) -> dict[str, dict[str, Any]]: ...
