"""Daemon stage (HTTP): the fleet as the JSON API and the status page see it.

One summary read: every customer in one query (`DaemonStore.briefs`, lists
already counted by the database), joined in memory with the customers of the
running config; no query per customer. A customer's status is the worst thing
true of it, and problems sort first (quarantined, blocked, failing,
conflicts), then by name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.config.resolve import EffectiveCustomer
from reconciler.state.api import CustomerBrief, CustomerRecord


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


PROBLEMS = frozenset(
    (CustomerStatus.QUARANTINED, CustomerStatus.BLOCKED, CustomerStatus.FAILING, CustomerStatus.CONFLICTS)
)
_RANK = {s: i for i, s in enumerate(CustomerStatus)}


def status_of(brief: CustomerBrief | None, paused: bool) -> CustomerStatus:
    if brief is not None:
        if brief.quarantined:
            return CustomerStatus.QUARANTINED
        if brief.blocked_reason:
            return CustomerStatus.BLOCKED
        if brief.failures or brief.last_result == "error":
            return CustomerStatus.FAILING
        if brief.conflicts:
            return CustomerStatus.CONFLICTS
    if paused:
        return CustomerStatus.PAUSED
    if brief is None or brief.last_finished_at is None:
        return CustomerStatus.NEVER_RUN
    return CustomerStatus.OK


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    status: CustomerStatus
    brief: CustomerBrief | None
    configured: bool  # in the running config (a record can outlive its customer)

    def summary(self) -> dict[str, Any]:
        b = self.brief
        if b is None:
            return {
                "name": self.name, "status": self.status.value, "configured": self.configured,
                "last_run": None, "next_run_at": None, "last_success_at": None, "conflicts": 0,
                "changes_pending": 0, "failures": 0, "quarantined": False, "blocked": None,
            }  # fmt: skip
        last = None
        if b.last_finished_at is not None:
            last = {
                "started_at": b.last_started_at, "finished_at": b.last_finished_at, "result": b.last_result,
                "message": b.last_message, "commit": b.last_commit, "changes_applied": b.changes_applied,
            }  # fmt: skip
        blocked = None
        if b.blocked_reason:
            blocked = {
                "reason": b.blocked_reason, "since": b.blocked_since, "removals": b.blocked_removals,
                "override_pending": b.override_pending,
            }  # fmt: skip
        return {
            "name": self.name, "status": self.status.value, "configured": self.configured,
            "last_run": last, "next_run_at": b.next_run_at, "last_success_at": b.last_success_at,
            "conflicts": b.conflicts, "changes_pending": b.changes_pending, "failures": b.failures,
            "quarantined": bool(b.quarantined), "blocked": blocked,
        }  # fmt: skip


def fleet(briefs: list[CustomerBrief], customers: Mapping[str, EffectiveCustomer]) -> list[Row]:
    """Every configured customer (and any record left of a removed one), problems first."""
    rows = []
    seen = set()
    for b in briefs:
        eff = customers.get(b.customer)
        seen.add(b.customer)
        rows.append(Row(b.customer, status_of(b, eff is not None and eff.paused), b, eff is not None))
    for name, eff in customers.items():
        if name not in seen:
            rows.append(Row(name, status_of(None, eff.paused), None, True))
    rows.sort(key=lambda r: (_RANK[r.status], r.name))
    return rows


def brief_of(rec: CustomerRecord) -> CustomerBrief:
    """The brief of one full record (the customer page reads one record, not the fleet)."""
    return CustomerBrief(
        rec.customer, rec.next_run_at, rec.last_started_at, rec.last_finished_at, rec.last_result,
        rec.last_message, rec.last_success_at, rec.last_commit, rec.changes_applied, rec.changes_pending,
        len(rec.conflicts), rec.failures, rec.quarantined, rec.blocked_reason, rec.blocked_since,
        len(rec.blocked_removals), rec.override_pending,
    )  # fmt: skip


def counts(rows: list[Row]) -> dict[str, int]:
    found = Counter(r.status for r in rows)
    return {s.value: found.get(s, 0) for s in CustomerStatus}


def select(
    rows: list[Row],
    status: str = "",
    query: str = "",
    problems: bool = False,
    problems_first: int | None = None,
) -> list[Row]:
    """The rows a filter keeps: one status, a name substring, or problems only.
    `problems_first`: how many rows at the start are problems (fleet() sorts them first)."""
    q = query.strip().lower()
    if not status and not q:
        if not problems:
            return rows
        if problems_first is not None:
            return rows[:problems_first]
    return [
        r
        for r in rows
        if (not status or r.status.value == status)
        and (not problems or r.status in PROBLEMS)
        and (not q or q in r.name)
    ]
