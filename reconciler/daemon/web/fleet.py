"""Daemon stage (HTTP): the fleet as the JSON API and the status page see it.

One summary read: every customer's daemon record in one query (`DaemonStore.all`),
joined in memory with the customers of the running config; no query per
customer. A customer's status is the worst thing true of it, and problems sort
first (quarantined, blocked, failing, conflicts), then by name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.config.resolve import EffectiveCustomer
from reconciler.state.api import CustomerRecord


class CustomerStatus(StrEnum):
    QUARANTINED = "quarantined"
    BLOCKED = "blocked"
    FAILING = "failing"
    CONFLICTS = "conflicts"
    PAUSED = "paused"
    NEVER_RUN = "never-run"
    OK = "ok"

    @property
    def problem(self) -> bool:
        return self in PROBLEMS


PROBLEMS = (
    CustomerStatus.QUARANTINED,
    CustomerStatus.BLOCKED,
    CustomerStatus.FAILING,
    CustomerStatus.CONFLICTS,
)
_RANK = {s: i for i, s in enumerate(CustomerStatus)}


def status_of(rec: CustomerRecord | None, eff: EffectiveCustomer | None) -> CustomerStatus:
    if rec is not None and rec.quarantined:
        return CustomerStatus.QUARANTINED
    if rec is not None and rec.blocked:
        return CustomerStatus.BLOCKED
    if rec is not None and (rec.failures or rec.last_result == "error"):
        return CustomerStatus.FAILING
    if rec is not None and rec.conflicts:
        return CustomerStatus.CONFLICTS
    if eff is not None and eff.paused:
        return CustomerStatus.PAUSED
    if rec is None or rec.last_finished_at is None:
        return CustomerStatus.NEVER_RUN
    return CustomerStatus.OK


@dataclass(frozen=True)
class Row:
    name: str
    status: CustomerStatus
    record: CustomerRecord | None
    configured: bool  # in the running config (a record can outlive its customer)

    def summary(self) -> dict[str, Any]:
        rec = self.record
        last = None
        if rec is not None and rec.last_finished_at is not None:
            last = {
                "started_at": rec.last_started_at,
                "finished_at": rec.last_finished_at,
                "result": rec.last_result,
                "message": rec.last_message,
                "commit": rec.last_commit,
                "changes_applied": rec.changes_applied,
            }
        blocked = None
        if rec is not None and rec.blocked:
            blocked = {
                "reason": rec.blocked_reason,
                "since": rec.blocked_since,
                "removals": len(rec.blocked_removals),
                "override_pending": rec.override_pending,
            }
        return {
            "name": self.name,
            "status": self.status.value,
            "configured": self.configured,
            "last_run": last,
            "next_run_at": rec.next_run_at if rec else None,
            "last_success_at": rec.last_success_at if rec else None,
            "conflicts": len(rec.conflicts) if rec else 0,
            "changes_pending": rec.changes_pending if rec else 0,
            "failures": rec.failures if rec else 0,
            "quarantined": bool(rec and rec.quarantined),
            "blocked": blocked,
        }


def fleet(records: dict[str, CustomerRecord], customers: dict[str, EffectiveCustomer]) -> list[Row]:
    """Every configured customer (and any record left of a removed one), problems first."""
    names = set(customers) | set(records)
    rows = [
        Row(n, status_of(records.get(n), customers.get(n)), records.get(n), n in customers) for n in names
    ]
    rows.sort(key=lambda r: (_RANK[r.status], r.name))
    return rows


def counts(rows: list[Row]) -> dict[str, int]:
    found = Counter(r.status.value for r in rows)
    return {s.value: found.get(s.value, 0) for s in CustomerStatus}


def select(rows: list[Row], status: str = "", query: str = "", problems: bool = False) -> list[Row]:
    """The rows a filter keeps: one status, a name substring, or problems only."""
    q = query.strip().lower()
    return [
        r
        for r in rows
        if (not status or r.status.value == status)
        and (not problems or r.status.problem)
        and (not q or q in r.name)
    ]
