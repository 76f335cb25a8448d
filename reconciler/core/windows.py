"""Pure core, before apply: does a plan's write fall into a run window (quiet hours, #16)?

A customer's windows are those of Settings, its policies and its own spec. A plan
writes to the integrations of its record changes, to `email` for welcome emails,
and to the state for everything; a window closes the writes it lists (none
listed: every write). If any write of the plan is closed now, the customer's
whole apply waits until every window that closes one of its writes is open, so
an apply is never half made (accounts without their records or emails).

Times are computed in each window's IANA zone with zoneinfo: a window 08:00-18:00
Europe/Berlin is 07:00-17:00 UTC in winter and 06:00-16:00 UTC in summer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reconciler.config.resolve import EffectiveCustomer
from reconciler.config.windows import DAYS, EMAIL, QuietHours, clock_time
from reconciler.core.plan import ChangeKind, CustomerPlan

STATE = "state"  # every apply writes the state; a window without integrations closes it too
MAX_CHAIN = 64  # windows that follow each other without a gap, looked through at most


def customer_windows(settings: Sequence[QuietHours], eff: EffectiveCustomer) -> tuple[QuietHours, ...]:
    """Settings' windows, then the customer's policies', then its own."""
    out = list(settings)
    for binding in (eff.end_user, eff.admin):
        if binding is not None:
            out += binding.settings.quiet_hours
    out += eff.doc.spec.quiet_hours
    return tuple(dict.fromkeys(out))


def writes_of(cp: CustomerPlan) -> frozenset[str]:
    """Where applying `cp` writes: the state, the integrations of its records, email."""
    out = {STATE}
    for change in cp.changes:
        if change.kind is ChangeKind.SEND_WELCOME:
            out.add(EMAIL)
        elif change.kind is not ChangeKind.LINK:  # a link is written to the state only
            integration = getattr(change, "integration", None)
            if integration is not None:
                out.add(integration.value)
    return frozenset(out)


def closes(window: QuietHours, writes: Iterable[str]) -> bool:
    return not window.integrations or any(w in window.integrations for w in writes)


def _occurrence(window: QuietHours, day: date) -> tuple[datetime, datetime] | None:
    """The window's span starting on local `day` (UTC), or None if it does not start then."""
    if DAYS[day.weekday()] not in window.days:
        return None
    zone = ZoneInfo(window.time_zone)
    start = datetime.combine(day, clock_time(window.start), zone)
    if window.end == "24:00":
        end = datetime.combine(day + timedelta(days=1), time(0), zone)
    else:
        end_day = day if window.end > window.start else day + timedelta(days=1)
        end = datetime.combine(end_day, clock_time(window.end), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def open_at(window: QuietHours, now: datetime) -> datetime | None:
    """None if `window` is open at `now` (UTC), else when it opens again (UTC)."""
    local = now.astimezone(ZoneInfo(window.time_zone)).date()
    for day in (local - timedelta(days=1), local):  # a span from yesterday may run past midnight
        span = _occurrence(window, day)
        if span is not None and span[0] <= now < span[1]:
            return span[1]
    return None


@dataclass(frozen=True)
class Deferral:
    """Why an apply waits, and until when (UTC)."""

    windows: tuple[QuietHours, ...]
    writes: frozenset[str]
    until: datetime

    def message(self) -> str:
        names = ", ".join(f"'{w.label}'" for w in self.windows)
        what = ", ".join(sorted(w for w in self.writes if w != "state")) or "the state"
        until = self.until.strftime("%Y-%m-%dT%H:%MZ")
        local = self.until.astimezone(ZoneInfo(self.windows[0].time_zone)).strftime("%H:%M %Z")
        return (
            f"deferred: quiet hours {names} close writes to {what}; nothing applied until {until} "
            f"({local}); reads and plans still run"
        )


def deferral(windows: Sequence[QuietHours], cp: CustomerPlan, now: datetime) -> Deferral | None:
    """None if the plan may be applied at `now` (UTC), else until when it waits."""
    writes = writes_of(cp)
    relevant = [w for w in windows if closes(w, writes)]
    closed: list[QuietHours] = []
    at = now
    for _ in range(MAX_CHAIN):
        later = [(t, w) for w in relevant if (t := open_at(w, at)) is not None]
        if not later:
            break
        closed += [w for _, w in later if w not in closed]
        at = max(t for t, _ in later)
    if not closed:
        return None
    return Deferral(tuple(closed), frozenset(w for w in writes if any(closes(c, [w]) for c in closed)), at)
