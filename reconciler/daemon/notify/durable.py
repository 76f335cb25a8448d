"""Daemon stage (notifications): the delivery queue, kept in the daemon store.

Every delivery the notifier queues is written first (record kind "outbox", one
per target and event, with the replica that owns it) and deleted only once it
was delivered, dropped (410 Gone, out of tries) or its email digest was sent.
So a daemon killed with deliveries queued (kill -9, a lost machine, a target
that was down) sends them after a restart, and the dedup record that said
"told" is never a lie. Recovery adopts the records of replicas that are gone:
on this host a pid that no longer runs, elsewhere a replica whose heartbeat is
stale or that stopped; each record is adopted by one replica only (claimed
with `add_record`), so replicas sharing PostgreSQL never both send it.

A crash between a target's answer and the record's deletion sends that one
delivery again, with the same `webhook-id` (the event id), which Standard
Webhooks receivers use to drop duplicates.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.state.api import DaemonStore

OUTBOX = "outbox"  # key "<target>|<event id>" -> {target, event, owner, queued_at}
ADOPTED = "outbox-adopted"  # key "<outbox key>|<old owner>": who took it over (one replica)
STALE_SECONDS = 60.0  # as daemon/replicas.py: a replica without a heartbeat this long is gone
log = logging.getLogger("reconciler.daemon.notify")


@dataclass(frozen=True)
class Queued:
    key: str
    target: str
    event: dict[str, Any]


def replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class DurableQueue:
    def __init__(self, state: DaemonStore, owner: str | None = None) -> None:
        self._state = state
        self.owner = owner or replica_id()

    def add(self, target: str, event: dict[str, Any], now: float) -> str:
        key = f"{target}|{event['id']}"
        self._state.put_record(
            OUTBOX, key, {"target": target, "event": event, "owner": self.owner, "queued_at": now}
        )
        return key

    def done(self, key: str) -> None:
        """Delivered or dropped: forget it (and who adopted it)."""
        try:
            record = self._state.get_record(OUTBOX, key)
            self._state.put_record(OUTBOX, key, None)
            if record is not None and record.get("adopted"):
                self._state.put_record(ADOPTED, str(record["adopted"]), None)
        except ReconcilerError as exc:  # the state store is away: sent again after a restart
            log.warning("notification queue: could not forget a delivery: %s", exc)

    def recover(self, now: float) -> list[Queued]:
        """Queued deliveries of replicas that are gone, now this one's."""
        records = self._state.records(OUTBOX)
        if not records:
            return []
        live = {r.id for r in self._state.replicas() if r.live(now, STALE_SECONDS)}
        out: list[Queued] = []
        for key, record in sorted(records.items(), key=lambda kv: float(kv[1].get("queued_at", 0))):
            owner = str(record.get("owner", ""))
            if owner == self.owner or not _gone(owner, live):
                continue
            adopted = f"{key}|{owner}"
            if not self._state.add_record(ADOPTED, adopted, {"by": self.owner, "at": now}):
                continue  # another replica took it
            self._state.put_record(OUTBOX, key, {**record, "owner": self.owner, "adopted": adopted})
            out.append(Queued(key, str(record["target"]), dict(record["event"])))
        return out


def _gone(owner: str, live: set[str]) -> bool:
    """A pid on this host that no longer runs, or a replica without a fresh heartbeat."""
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    return owner not in live
