"""Daemon stage: this process among the replicas sharing one state.

- Heartbeat: one row per replica (host, pid, version, what it runs now),
  written every HEARTBEAT_SECONDS; `reconciler status` lists the live ones.
- Leader: one replica holds the `@leader` lease (renewed like a customer's,
  taken over when it expires) and alone does the global chores: recording the
  config commit and error the fleet runs on, and pruning run history.
- SQLite: the state is one file on one machine, so one daemon: a second is
  refused at start, naming the first (the `@daemon` lease).

Customers themselves are shared by claims (StateStore.claim_due): due and not
leased, taken with their lease in one transaction, so no two replicas run one
customer and a dead replica's customers are taken over when its leases expire.
"""

from __future__ import annotations

import logging
import os
import socket

from reconciler import __version__
from reconciler.apply.lease import HeldLease
from reconciler.daemon.clock import Clock
from reconciler.daemon.logs import event
from reconciler.errors import LockHeldError, ReconcilerError
from reconciler.state.api import DAEMON, LEADER, DaemonStore, Replica, StateStore

HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 60.0  # a replica without a heartbeat this long is not live
PRUNE_SECONDS = 3600.0
RUNS_KEPT = 1000  # per customer, in the run table (the daemon's own history keeps 100)
log = logging.getLogger("reconciler.daemon")


class OneDaemonOnly(ReconcilerError):
    """SQLite state: another daemon already runs on this file."""


def exclusive(store: StateStore) -> HeldLease:
    """SQLite: hold the one-daemon lease for the daemon's life, or refuse to start."""
    try:
        lease = store.lock(DAEMON, "reconciler daemon")
    except LockHeldError as exc:
        detail = str(exc).split(": locked by ", 1)[-1].split(";")[0]
        raise OneDaemonOnly(
            f"another reconciler daemon runs on this state: {detail}; stop it first "
            "(several daemons can share PostgreSQL state, not a SQLite file)"
        ) from None
    return HeldLease(store, lease)


class ReplicaRole:
    """Heartbeat, leader lease and the global chores of this replica."""

    def __init__(self, store: StateStore, state: DaemonStore, clock: Clock) -> None:
        self.store, self.state, self.clock = store, state, clock
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self.started_at = clock.now()
        self.leader: HeldLease | None = None
        self._beat_at = float("-inf")
        self._pruned_at = float("-inf")

    @property
    def is_leader(self) -> bool:
        return self.leader is not None and not self.leader.lost

    def tick(self, current: list[str]) -> None:
        """Every cycle: heartbeat and leadership at most every HEARTBEAT_SECONDS."""
        mono = self.clock.monotonic()
        if mono - self._beat_at < HEARTBEAT_SECONDS:
            return
        self._beat_at = mono
        self.beat(current)
        self._lead()
        if self.is_leader and mono - self._pruned_at >= PRUNE_SECONDS:
            self._pruned_at = mono
            try:
                gone = self.store.prune_runs(RUNS_KEPT)
            except ReconcilerError as exc:
                log.warning("pruning run history failed: %s", exc)
            else:
                if gone:
                    event(logging.INFO, "chore.prune", f"pruned {gone} old runs", runs=gone)

    def beat(self, current: list[str], stopped: bool = False) -> None:
        now = self.clock.now()
        replica = Replica(
            self.id, socket.gethostname(), os.getpid(), __version__, self.started_at, now,
            tuple(sorted(current)), now if stopped else None,
        )  # fmt: skip
        self.state.beat(replica)

    def _lead(self) -> None:
        if self.leader is not None and self.leader.lost:
            event(logging.WARNING, "leader.lost", "this replica is no longer the leader")
            self.leader = None
        if self.leader is not None:
            return
        try:
            lease = self.store.lock(LEADER, f"reconciler daemon {self.id}")
        except LockHeldError:
            return
        self.leader = HeldLease(self.store, lease)
        event(
            logging.INFO,
            "leader.elected",
            f"replica {self.id} leads (epoch {lease.epoch})",
            epoch=lease.epoch,
        )

    def close(self) -> None:
        if self.leader is not None:
            self.leader.close()
            self.leader = None
        try:
            self.beat([], stopped=True)
        except ReconcilerError as exc:
            log.warning("could not record the replica's stop: %s", exc)
        except Exception as exc:  # a store already closed by its owner: the stop row is best effort
            log.warning("could not record the replica's stop: %s", type(exc).__name__)
