"""Daemon stage (notifications): deduplication kept in the daemon store.

One record per customer (kind "alert"): for each cause that is open, when it
opened, its problem, and when each target was last told. A cause opening is
told to every target at once; while it lasts a target hears again at most every
`remindEveryHours`; when it ends each target that was told gets one resolved
event, and the cause is forgotten. Customers run on one replica at a time, so
their record has one writer; fleet-wide causes (config.invalid) are claimed with
`add_record`, so two replicas that both notice open it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from reconciler.config.models import NotificationTarget
from reconciler.daemon.notify.events import FLEET, SEVERITIES, Problem, event, family
from reconciler.state.api import DaemonStore

KIND = "alert"
Delivery = tuple[str, dict[str, Any]]  # (target name, event)


def wants(target: NotificationTarget, ev: dict[str, Any], severity: str) -> bool:
    """Does `target` take `ev`? By its events (a resolved event counts as the type that
    opened it) and by the problem's severity (a resolved event reaches whoever was told)."""
    if target.events and _opened_type(ev["type"]) not in target.events and ev["type"] not in target.events:
        return False
    return SEVERITIES.index(severity) >= SEVERITIES.index(target.min_severity)


def _opened_type(kind: str) -> str:
    return {"run.recovered": "run.failed", "conflict.resolved": "conflict.opened"}.get(kind, kind)


def observe(
    store: DaemonStore,
    targets: Sequence[NotificationTarget],
    customer: str,
    problems: Iterable[Problem],
    decided: frozenset[str],
    now: float,
    causes: frozenset[str] = frozenset(),
) -> list[Delivery]:
    """Update `customer`'s open causes from what is true now; the deliveries to make.
    An open cause not in `problems` ends when its family is in `decided` or it is one of
    `causes`; the others are left as they are."""
    key = customer or "*fleet*"
    record: dict[str, Any] = store.get_record(KIND, key) or {}
    active = {p.cause: p for p in problems}
    out: list[Delivery] = []
    changed = False
    for cause, problem in active.items():
        old = record.get(cause)
        if old is None:
            if customer == FLEET and not store.add_record(KIND, f"*fleet*|{cause}", {"opened_at": now}):
                continue  # another replica opened it
            sent = {}
            for t in targets:
                ev = event(customer, problem, "firing", now, now)
                if wants(t, ev, problem.severity):
                    out.append((t.name, ev))
                    sent[t.name] = now
            record[cause] = {"opened_at": now, "problem": asdict(problem), "sent": sent}
            changed = True
            continue
        sent = dict(old.get("sent", {}))
        for t in targets:
            last = sent.get(t.name)
            ev = event(customer, problem, "reminder" if last is not None else "firing", now, old["opened_at"])
            if (last is None or now - last >= t.remind_every_hours * 3600) and wants(t, ev, problem.severity):
                out.append((t.name, ev))
                sent[t.name] = now
        if sent != old.get("sent") or old.get("problem") != asdict(problem):
            record[cause] = {**old, "problem": asdict(problem), "sent": sent}
            changed = True
    ended = [c for c in record if c not in active and (family(c) in decided or c in causes)]
    for cause in ended:
        old = record.pop(cause)
        changed = True
        problem = Problem(**old["problem"])
        told = set(old.get("sent", {}))
        for t in targets:
            ev = event(customer, problem, "resolved", now, old["opened_at"])
            if t.name in told and wants(t, ev, problem.severity):
                out.append((t.name, ev))
        if customer == FLEET:
            store.put_record(KIND, f"*fleet*|{cause}", None)
    if changed:
        store.put_record(KIND, key, record or None)
    return out
