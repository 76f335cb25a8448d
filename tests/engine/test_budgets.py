"""MSP-wide request budgets (#16) through the engine, the real IT Glue and Hudu clients
and their simulators on loopback, the ledger in a real SQLite state file: a plan or
apply the budget cannot cover is refused before its first request ("budget
exhausted until HH:MM"), `--budget-wait` waits for it, every request is counted in
the ledger, and a 429 without Retry-After from a fixed-window vendor waits for the
window to end (short windows here) instead of failing after a few retries."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import pytest
import yaml

from reconciler.config import load_valid_config
from reconciler.core.model import IntegrationKind
from reconciler.core.plan import ChangeKind, Status
from reconciler.errors import ProviderError
from reconciler.providers.http import api_totals
from reconciler.testing.httpsim import RateLimit, TestCA
from reconciler.testing.hudu import HuduSimulator
from reconciler.testing.itglue import ItGlueSimulator
from tests.engine.test_vault_simulators import KEY, SimEngine, ca, itglue, write_config

__all__ = ["ca", "itglue"]  # fixtures used here


def configure(
    root: Path, ca: TestCA, sim: ItGlueSimulator, budgets: dict[str, object], **conn: object
) -> int:
    extra = "".join(f", {k}: {v}" for k, v in conn.items())
    connection = (
        f"    itglue: {{baseUrl: '{sim.url}', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'{extra}}}"
    )
    org = sim.add_organization("Acme")
    write_config(root, ca, connection, f"itglueOrganizationId: '{org}'")
    path = root / "settings.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    docs[0]["spec"]["budgets"] = budgets
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return org


def engine(root: Path) -> SimEngine:
    e = SimEngine.open(load_valid_config(root))
    assert isinstance(e, SimEngine) and e.budgets is not None
    return e


def test_an_apply_goes_as_far_as_the_budget_goes_then_says_until_when(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    configure(tmp_path, ca, itglue, {"itglue": {"requests": 6, "windowSeconds": 3600}})
    e = engine(tmp_path)
    the_plan = e.plan()
    cp = the_plan.customers[0]
    assert cp.status is Status.OK and cp.count(ChangeKind.CREATE_RECORD) == 5
    read = len(itglue.requests)
    tally = e.budgets.tally(IntegrationKind.ITGLUE) if e.budgets else None
    assert tally is not None and tally.used == read  # every request the plan made, no more

    results = e.apply(the_plan)
    failed = [o for r in results for o in r.failed]
    made = [o for r in results for o in r.succeeded if o.change.kind is ChangeKind.CREATE_RECORD]
    assert len(itglue.requests) == 6  # the whole budget, not one request more
    assert made and failed and len(made) + len(failed) >= 5
    assert all("budget exhausted until" in o.message for o in failed)
    assert re.search(r"budget exhausted until \d\d:\d\d UTC", failed[0].message)
    assert "6 requests per hour for the whole MSP" in failed[0].message
    assert e.budgets is not None and e.budgets.take_refusal("acme") is not None


def test_a_plan_the_budget_cannot_cover_sends_nothing(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    configure(tmp_path, ca, itglue, {"itglue": {"requests": 3, "windowSeconds": 3600}})
    e = engine(tmp_path)
    assert e.budgets is not None and e.budgets.ledger is not None
    limit = e.budgets.limits[IntegrationKind.ITGLUE]
    assert e.budgets.ledger.spend("itglue", 2, limit, time.time()).granted == 2  # another process's
    cp = e.plan().customers[0]
    assert cp.status is Status.ERROR and "budget exhausted until" in cp.reason
    assert itglue.requests == []  # refused before its first request


def test_plan_refused_and_budget_shared_across_engines_of_one_state(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    configure(tmp_path, ca, itglue, {"itglue": {"requests": 5, "windowSeconds": 3600}})
    first = engine(tmp_path).plan().customers[0]
    assert first.status is Status.OK
    used = len(itglue.requests)
    assert 0 < used <= 5
    # another process on the same state (a second engine: its own ledger connection)
    second = engine(tmp_path).plan().customers[0]
    if used * 2 > 5:
        assert second.status is Status.ERROR
        assert "budget exhausted until" in second.reason and second.reason.startswith("acme: IT Glue: ")
    assert len(itglue.requests) <= 5


def test_budget_wait_waits_for_the_window(tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator) -> None:
    configure(tmp_path, ca, itglue, {"itglue": {"requests": 4, "windowSeconds": 1.2}})
    e = engine(tmp_path)
    assert e.plan().customers[0].status is Status.OK
    assert e.budgets is not None
    e.budgets.wait_seconds = 10
    start = time.monotonic()
    for _ in range(2):
        assert e.plan().customers[0].status is Status.OK
    assert time.monotonic() - start > 0.5  # it had to wait for slots to free
    times = sorted(r.at for r in itglue.requests)
    for i, t in enumerate(times):  # never more than the budget in any 1.2 s
        assert sum(1 for x in times[i:] if x < t + 1.2) <= 4


def test_unlimited_and_defaults(tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator) -> None:
    configure(tmp_path, ca, itglue, {"itglue": {"unlimited": True}})
    e = SimEngine.open(load_valid_config(tmp_path))
    assert e.budgets is not None and IntegrationKind.ITGLUE not in e.budgets.limits
    limits = e.budgets.limits
    assert (limits[IntegrationKind.HUDU].requests, limits[IntegrationKind.HUDU].window) == (150, 60)
    assert (limits[IntegrationKind.AUTOTASK].requests, limits[IntegrationKind.AUTOTASK].window) == (
        3000,
        3600,
    )
    assert IntegrationKind.CONNECTWISE not in limits and IntegrationKind.HALO not in limits
    assert e.plan().customers[0].status is Status.OK


def test_fixed_window_429_without_retry_after_waits_for_the_window(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    org = configure(tmp_path, ca, itglue, {"itglue": {"unlimited": True}}, rateWindowSeconds=1.5, pageSize=1)
    for i in range(6):
        itglue.add_password(org, f"e{i}", f"x{i}@acme.test", "Office 365")
    itglue.rate_limit = RateLimit(3, 1.5, retry_after=False, fixed=True)
    before = api_totals().get("itglue")
    caplog.set_level(logging.INFO, "reconciler.http")
    cp = engine(tmp_path).plan().customers[0]
    assert cp.status is Status.OK, cp.reason  # ~15 s of backoff would not have been enough
    assert itglue.limited > 0
    after = api_totals()["itglue"]
    assert after.throttle_wait_seconds > (before.throttle_wait_seconds if before else 0)
    assert after.throttled > (before.throttled if before else 0)
    waits = [r for r in caplog.records if "rate-limit window to end" in r.getMessage()]
    assert waits and sum(1 for r in waits if r.levelno == logging.WARNING) <= len(waits)
    # no request went out before the window it was refused in had ended
    assert all(w >= 0.0 for w in itglue.waits_after_throttle())


def test_a_stop_request_cuts_a_window_wait_short(tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator) -> None:
    configure(
        tmp_path, ca, itglue, {"itglue": {"requests": 1000, "windowSeconds": 60}}, rateWindowSeconds=300
    )
    itglue.rate_limit = RateLimit(1, 300, retry_after=False, fixed=True)
    e = engine(tmp_path)
    assert e.budgets is not None
    e.budgets.stop = threading.Event()
    threading.Timer(0.5, e.budgets.stop.set).start()
    start = time.monotonic()
    cp = e.plan().customers[0]
    assert time.monotonic() - start < 10
    assert cp.status is Status.ERROR and "stopped while waiting for the rate-limit window" in cp.reason


def test_hudu_fixed_window(tmp_path: Path, ca: TestCA) -> None:
    with HuduSimulator(ca, api_key=KEY) as hudu:
        assert isinstance(hudu, HuduSimulator)
        _hudu_fixed_window(tmp_path, ca, hudu)


def _hudu_fixed_window(tmp_path: Path, ca: TestCA, hudu: HuduSimulator) -> None:
    company = hudu.add_company("Acme")
    connection = (
        f"    hudu: {{baseUrl: '{hudu.url}/api/v1', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}', "
        "rateWindowSeconds: 1, pageSize: 1}"
    )
    write_config(tmp_path, ca, connection, f"huduCompanyId: '{company}'")
    for i in range(4):
        hudu.add_password(company, f"e{i}", f"x{i}@acme.test", "Office 365")
    hudu.rate_limit = RateLimit(2, 1.0, retry_after=False, fixed=True)
    cp = SimEngine.open(load_valid_config(tmp_path)).plan().customers[0]
    assert cp.status is Status.OK, cp.reason
    assert hudu.limited > 0


def test_budget_exhausted_is_a_provider_error() -> None:
    from reconciler.errors import BudgetExhausted

    assert issubclass(BudgetExhausted, ProviderError)
