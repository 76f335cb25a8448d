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

import json
import os
import socket
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple, Protocol

from reconciler.core.model import Account, IntegrationKind, Link, ManagedState, WelcomeStatus

LEADER = "@leader"  # the lease of the daemon replica that runs global chores (never a customer name)
DAEMON = "@daemon"  # SQLite: the lease of the one daemon allowed on the file


@dataclass(frozen=True)
class Lease:
    """A customer lock that expires: `holder` (what holds it), `host`, `pid`, when
    it was acquired and renewed, when it expires, and its `epoch`, which grows on
    every acquisition. A write fenced by a lease commits only while the lease's
    epoch is still current, so an old holder that was paused or cut off can never
    write after someone took the customer over."""

    customer: str
    pid: int
    host: str
    holder: str
    acquired_at: float
    renewed_at: float = 0.0
    expires_at: float = 0.0
    epoch: int = 0

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


LockInfo = Lease  # the name callers used before locks became leases


@dataclass(frozen=True)
class JournalEntry:
    id: int
    customer: str
    op: str
    marker: str
    status: str
    detail: str


@dataclass(frozen=True)
class Claim:
    """One epoch of a customer's lease, as recorded: who held it, from when, and
    the last fenced write it made (to prove epochs never overlap)."""

    customer: str
    epoch: int
    holder: str
    host: str
    pid: int
    acquired_at: float
    last_write_at: float | None
    released_at: float | None


RunRow = tuple[float, float, str, dict[str, Any]]  # started, finished, result, detail


class StateStore(Protocol):
    """Managed state per customer (R11, R16, R19)."""

    lease_seconds: float

    def close(self) -> None: ...

    def batch(self, fence: Lease | None = None, durable: bool = False) -> AbstractContextManager[None]:
        """One transaction. With `fence`, it commits only while that lease's epoch is
        current (checked in the same transaction): LeaseLostError otherwise. `durable`:
        flushed to disk before it returns (welcome `pending`/`sent`, R16: SQLite
        synchronous=FULL)."""
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
    def put_accounts(self, customer: str, accounts: Sequence[Account]) -> None: ...  # many rows, one write
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
    def journal_open(self, customer: str, op: str, marker: str, fence: Lease | None = None) -> int: ...
    def journal_close(self, entry_id: int, status: str, detail: str = "") -> None: ...
    def journal_pending(self, customer: str) -> list[JournalEntry]: ...

    # the same writes for many rows at once (an apply's record creates, a chunk at a time):
    # intents (op, marker) commit at once and give their ids in order; closes are
    # (entry id, status, detail); fingerprints (account key, integration, fingerprint)
    def journal_open_many(
        self, customer: str, intents: Sequence[tuple[str, str]], fence: Lease | None = None
    ) -> list[int]: ...
    def journal_close_many(self, closes: Sequence[tuple[int, str, str]]) -> None: ...
    def put_links(self, customer: str, links: Sequence[Link]) -> None: ...
    def put_fingerprints(self, customer: str, rows: Sequence[tuple[str, IntegrationKind, str]]) -> None: ...

    # leases (customer locks that expire; `lease_seconds` is the store's)
    def lock(self, customer: str, holder: str) -> Lease:
        """Acquire `customer`'s lease, taking over an expired one (epoch + 1);
        LockHeldError naming the live holder otherwise."""
        ...

    def renew(self, lease: Lease) -> Lease:
        """Extend our lease; LeaseLostError when it was taken over or broken."""
        ...

    def release(self, lease: Lease) -> None: ...
    def unlock(self, customer: str) -> None:
        """Release whatever lease this process holds on `customer`."""
        ...

    def break_lock(self, customer: str, force: bool = False) -> Lease | None: ...
    def locks(self) -> list[Lease]:
        """The customers' live leases (not the daemon's own: the leader, the one-daemon lease)."""
        ...

    def lease_of(self, name: str) -> Lease | None:
        """The live lease on `name` (a customer, LEADER or DAEMON), if someone holds it."""
        ...

    def claims(self, customer: str) -> list[Claim]: ...

    def claim_due(self, candidates: Sequence[str], now: float, limit: int, holder: str) -> list[Lease]:
        """Daemon replicas: take the leases of up to `limit` of `candidates` (in their
        order) that are still due at `now` in the shared schedule and held by no one;
        others' rows are skipped, never waited for (FOR UPDATE SKIP LOCKED)."""
        ...

    # run history (R19)
    def record_run(self, customer: str, started: float, result: str, detail: dict[str, Any]) -> None: ...
    def last_run(self, customer: str) -> RunRow | None: ...
    def last_runs(self) -> dict[str, RunRow]:
        """The newest run of every customer, in one query (status of a whole fleet)."""
        ...

    def prune_runs(self, keep: int) -> int:
        """Drop all but the newest `keep` runs of every customer; returns how many went."""
        ...


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


def column_value(name: str, value: Any) -> Any:
    """A `CustomerRecord` field as a database value (JSON text, 0/1)."""
    if name in JSON_COLUMNS:
        return json.dumps(list(value), sort_keys=True)
    if isinstance(value, bool):
        return int(value)
    return value


def record_from_row(row: tuple[Any, ...]) -> CustomerRecord:
    kw: dict[str, Any] = dict(zip(COLUMNS, row, strict=True))
    for name in JSON_COLUMNS:
        kw[name] = tuple(json.loads(kw[name] or "[]"))
    kw["quarantined"] = bool(kw["quarantined"])
    return CustomerRecord(**kw)


@dataclass(frozen=True)
class Replica:
    """One `reconciler daemon` process on this state, as its heartbeat says."""

    id: str  # host:pid
    host: str
    pid: int
    version: str
    started_at: float
    heartbeat: float
    current: tuple[str, ...] = ()  # customers it is running now
    stopped_at: float | None = None

    def live(self, now: float, stale_after: float) -> bool:
        return self.stopped_at is None and now - self.heartbeat < stale_after


def replica_row(r: Replica) -> tuple[Any, ...]:
    return (
        r.id,
        r.host,
        r.pid,
        r.version,
        r.started_at,
        r.heartbeat,
        json.dumps(list(r.current)),
        r.stopped_at,
    )


def replica_from_row(row: tuple[Any, ...]) -> Replica:
    rid, host, pid, version, started, beat, current, stopped = row
    return Replica(rid, host, int(pid), version, started, beat, tuple(json.loads(current or "[]")), stopped)


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

    # daemon replicas: one row each, written by its heartbeat
    def beat(self, replica: Replica) -> None: ...
    def replicas(self) -> list[Replica]: ...

    # run history per customer, newest first; the oldest beyond `keep` are dropped
    def add_history(self, customer: str, entry: dict[str, Any], keep: int = 100) -> None: ...
    def history(self, customer: str, limit: int = 100) -> list[dict[str, Any]]: ...
    def latest_history(self) -> dict[str, dict[str, Any]]:
        """The newest history entry of every customer, in one query (status of a fleet)."""
        ...

    # keyed JSON records by kind: "plan" (last plan per customer), "session" (status-page
    # sign-ins), "alert" (notification dedup per customer and cause), "ticket" (PSA tickets).
    # put_record(..., None) deletes; add_record writes only when absent (True), atomically,
    # so two replicas never both claim the same key.
    def get_record(self, kind: str, key: str) -> dict[str, Any] | None: ...
    def put_record(self, kind: str, key: str, value: dict[str, Any] | None) -> None: ...
    def add_record(self, kind: str, key: str, value: dict[str, Any]) -> bool: ...
    # compare and set: write `new` only while the record still is `old` (True), atomically,
    # so a release and a replica's rewrite of the same record never both win (the fleet hold)
    def replace_record(self, kind: str, key: str, old: dict[str, Any], new: dict[str, Any]) -> bool: ...
    def records(self, kind: str) -> dict[str, dict[str, Any]]: ...
