"""Run windows (quiet hours, #16): when a plan's writes wait, and until when, in the
window's own time zone (DST follows the zone)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reconciler.config.windows import QuietHours
from reconciler.core.model import IntegrationKind, NewPasswordEntry, WelcomeEmail
from reconciler.core.plan import AddAccount, CreateRecord, CustomerPlan, LinkRecord, SendWelcome, Status
from reconciler.core.windows import customer_windows, deferral, open_at, writes_of
from tests.core.builders import customer


def window(**kw: Any) -> QuietHours:
    return QuietHours.model_validate({"start": "08:00", "end": "18:00", "timeZone": "Europe/Berlin", **kw})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def plan_writing(*kinds: str) -> CustomerPlan:
    from reconciler.core.model import Account, AccountClass, DirSource

    acct = Account("end-user/x", AccountClass.END_USER, (DirSource.ENTRA,), "x@acme.test")
    changes: list[Any] = [AddAccount(acct.key, acct.upn, "R1", "new", acct)]
    for kind in kinds:
        if kind == "email":
            mail = WelcomeEmail("x@acme.test", "Welcome", "Hi", "acme/end-user/x")
            changes.append(SendWelcome(acct.key, acct.upn, "R16", "new", mail))
        elif kind == "link":
            changes.append(LinkRecord(acct.key, acct.upn, "R12", "one", IntegrationKind.HUDU, "7"))
        else:
            entry = NewPasswordEntry("x", "x@acme.test", "Office 365", "acme/end-user/x")
            changes.append(CreateRecord(acct.key, acct.upn, "R12", "none", IntegrationKind(kind), entry))
    return CustomerPlan("acme", Status.OK, 1, tuple(changes))


def test_business_hours_in_berlin_follow_daylight_saving_time() -> None:
    w = window(days=["mon", "tue", "wed", "thu", "fri"])
    # winter: CET = UTC+1, so 08:00-18:00 is 07:00-17:00 UTC
    assert open_at(w, utc("2026-12-01T06:59")) is None
    assert open_at(w, utc("2026-12-01T07:00")) == utc("2026-12-01T17:00")
    assert open_at(w, utc("2026-12-01T17:00")) is None
    # summer: CEST = UTC+2, so 06:00-16:00 UTC
    assert open_at(w, utc("2026-07-01T06:30")) == utc("2026-07-01T16:00")
    assert open_at(w, utc("2026-07-01T16:00")) is None
    assert open_at(w, utc("2026-12-05T10:00")) is None  # a Saturday


def test_a_window_past_midnight_across_the_spring_change() -> None:
    # New York moves from EST to EDT at 02:00 on Sunday 8 March 2026
    w = window(start="22:00", end="06:00", timeZone="America/New_York", days=["sat"])
    assert open_at(w, utc("2026-03-08T02:59")) is None  # 21:59 EST Saturday
    assert open_at(w, utc("2026-03-08T03:00")) == utc("2026-03-08T10:00")  # ends 06:00 EDT
    assert open_at(w, utc("2026-03-08T09:59")) == utc("2026-03-08T10:00")
    assert open_at(w, utc("2026-03-08T10:00")) is None
    whole = window(start="00:00", end="24:00", timeZone="UTC", days=["sun"])
    assert open_at(whole, utc("2026-03-08T23:59")) == utc("2026-03-09T00:00")


def test_only_the_writes_a_window_lists_wait_and_email_counts() -> None:
    hudu = window(integrations=["hudu"], timeZone="UTC")
    mail = window(integrations=["email"], timeZone="UTC")
    at = utc("2026-12-01T10:00")
    assert writes_of(plan_writing("link")) == {"state"}  # a link is written to the state only
    assert deferral([hudu], plan_writing("link"), at) is None
    assert deferral([hudu], plan_writing("itglue"), at) is None
    wait = deferral([hudu], plan_writing("hudu", "itglue"), at)
    assert wait is not None and wait.until == utc("2026-12-01T18:00")
    assert "quiet hours '08:00-18:00 UTC' close writes to hudu; nothing applied until 2026-12-01T18:00Z" in (
        wait.message()
    )
    assert deferral([mail], plan_writing("itglue"), at) is None
    assert deferral([mail], plan_writing("email"), at) is not None
    # a window that names nothing closes every write, the state's too
    assert deferral([window(timeZone="UTC")], plan_writing(), at) is not None


def test_windows_that_follow_each_other_wait_for_the_last() -> None:
    early = window(name="early", start="06:00", end="12:00", timeZone="UTC")
    late = window(name="late", start="11:00", end="20:00", timeZone="UTC")
    wait = deferral([early, late], plan_writing(), utc("2026-12-01T07:00"))
    assert wait is not None and wait.until == utc("2026-12-01T20:00")
    assert [w.name for w in wait.windows] == ["early", "late"]


def test_settings_policy_and_customer_windows_add_up() -> None:
    eff = customer(
        end_user={"source": "entra", "quietHours": [{"start": "01:00", "end": "02:00", "timeZone": "UTC"}]}
    )
    settings = (window(),)
    assert [w.start for w in customer_windows(settings, eff)] == ["08:00", "01:00"]
