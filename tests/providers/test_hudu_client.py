"""Hudu client against the Hudu simulator on loopback (TLS with a test CA)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import IntegrationKind, NewPasswordEntry, marker_text
from reconciler.errors import ProviderError
from reconciler.integrations.hudu.client import HuduVault, list_companies, open_hudu, placeholder_password
from reconciler.providers.http import RetryPolicy
from reconciler.providers.limits import RateLimiter
from reconciler.testing.httpsim import Fault, RateLimit, TestCA
from reconciler.testing.hudu import SAMPLE_PASSWORD, HuduSimulator
from tests.providers.vaultkit import context, settings, write_config

KEY = "hudu-KEY-41c2e8-do-not-leak"
FAST = RetryPolicy(base_delay=0.02, max_attempts=4)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def sim(ca: TestCA) -> Iterator[HuduSimulator]:
    with HuduSimulator(ca, api_key=KEY) as s:
        assert isinstance(s, HuduSimulator)
        yield s


def config(tmp_path: Path, sim: HuduSimulator, ca: TestCA, companies: dict[str, int], **conn: object) -> Path:
    root = tmp_path / "cfg"
    hudu = {"baseUrl": f"{sim.url}/api/v1", "caFile": str(ca.ca_file), **conn}
    write_config(root, {"hudu": hudu}, {n: {"huduCompanyId": str(c)} for n, c in companies.items()}, KEY)
    return root


def vault(root: Path, customer: str, **kw: object) -> HuduVault:
    kw.setdefault("retry", FAST)
    return open_hudu(context(root, customer), **kw)  # type: ignore[arg-type]


def new(username: str, category: str = "Active Directory") -> NewPasswordEntry:
    return NewPasswordEntry(
        name=f"AD {username}", username=username, category=category, marker=f"acme/end-user/ad:{username}"
    )


def seed(sim: HuduSimulator, company: int, n: int) -> None:
    for i in range(n):
        sim.add_password(company, f"entry {i}", f"user{i}", "Active Directory" if i % 2 else "Office 365")


@pytest.mark.parametrize(
    ("entries", "page_size", "server_cap", "requests"),
    [
        (10, 1000, None, 1),  # shorter than Hudu's default page: the last
        (60, 1000, None, 2),  # 60 may be a capped page: one more look
        (60, 1000, 25, 3),  # page_size ignored (25 a page): 25, 25, 10
        (250, 1000, 100, 3),  # capped at 100: 100, 100, 50
        (2000, 1000, None, 3),  # full, full, empty
        (30, 10, None, 4),  # small pages as asked: 10, 10, 10, empty
    ],
)
def test_every_page_is_read_whatever_page_size_the_server_uses(
    tmp_path: Path, ca: TestCA, entries: int, page_size: int, server_cap: int | None, requests: int
) -> None:
    with HuduSimulator(ca, api_key=KEY, max_page_size=server_cap) as sim:
        assert isinstance(sim, HuduSimulator)
        company, other = sim.add_company("Acme"), sim.add_company("Other")
        seed(sim, company, entries)
        seed(sim, other, 3)
        got = vault(config(tmp_path, sim, ca, {"acme": company}, pageSize=page_size), "acme").list_entries()
        assert sorted(int(e.id) for e in got) == sorted(p["id"] for p in sim.passwords_of(company))
        assert sim.count("GET", "/api/v1/asset_passwords") == requests
        first = next(r for r in sim.requests if r.path == "/api/v1/asset_passwords")
        assert first.q("company_id") == str(company) and first.q("page_size") == str(page_size)


def test_a_server_that_ignores_page_stops_after_one_repeat(tmp_path: Path, ca: TestCA) -> None:
    with HuduSimulator(ca, api_key=KEY, ignores_page=True) as sim:
        assert isinstance(sim, HuduSimulator)
        company = sim.add_company("Acme")
        seed(sim, company, 40)
        got = vault(config(tmp_path, sim, ca, {"acme": company}, pageSize=40), "acme").list_entries()
        assert len(got) == 40 and sim.count("GET", "/api/v1/asset_passwords") == 2


def test_entries_carry_what_matching_needs_and_never_a_password(tmp_path: Path, ca: TestCA) -> None:
    with HuduSimulator(ca, api_key=KEY, archived_in_default_list=True) as sim:
        assert isinstance(sim, HuduSimulator)
        company = sim.add_company("Acme")
        sim.add_password(company, "ann", "ann@acme.test", "Office 365")
        sim.add_password(company, "old", "old@acme.test", "Office 365", archived=True)
        sim.add_password(company, "untyped", "bob", None)
        sim.add_password(
            company, "ours", "cid", "Active Directory", description=f"x {marker_text('acme/k9')}"
        )
        sim.add_password(company, "no user", None, "Active Directory")
        entries = {
            e.name: e for e in vault(config(tmp_path, sim, ca, {"acme": company}), "acme").list_entries()
        }

    assert entries["ann"].username == "ann@acme.test" and entries["ann"].category == "Office 365"
    assert entries["old"].archived and not entries["ann"].archived
    assert entries["untyped"].category is None
    assert entries["ours"].marker == "acme/k9" and entries["ann"].marker is None
    assert entries["no user"].username is None
    assert all(e.integration is IntegrationKind.HUDU for e in entries.values())
    assert SAMPLE_PASSWORD not in repr(entries)


def test_create_with_type_and_marker_and_relisting_finds_it(tmp_path: Path, ca: TestCA) -> None:
    with HuduSimulator(ca, api_key=KEY, create_status=200) as sim:  # 200 as seen live
        assert isinstance(sim, HuduSimulator)
        company = sim.add_company("Acme")
        v = vault(config(tmp_path, sim, ca, {"acme": company}), "acme")
        created = v.create_entry(new("ann"))
        body = next(r for r in sim.requests if r.method == "POST").json()["asset_password"]
        relisted = {e.id: e for e in v.list_entries()}

    # a random placeholder password goes with the create (Hudu clients make it mandatory) ...
    assert len(body["password"]) >= 24 and "otp_secret" not in body
    assert body["password"] != placeholder_password()
    # ... and nothing reconciler keeps or shows carries it
    assert body["password"] not in repr(created) and body["password"] not in repr(relisted)
    assert body["company_id"] == company and body["password_type"] == "Active Directory"
    assert body["username"] == "ann" and marker_text("acme/end-user/ad:ann") in body["description"]
    assert created.category == "Active Directory" and created.marker == "acme/end-user/ad:ann"
    assert relisted[created.id] == created


def test_invalid_input_is_a_clear_error_naming_the_customer(tmp_path: Path, ca: TestCA) -> None:
    with HuduSimulator(ca, api_key=KEY) as sim:
        assert isinstance(sim, HuduSimulator)
        company = sim.add_company("Acme")
        with pytest.raises(ProviderError) as err:
            vault(config(tmp_path, sim, ca, {"acme": company}), "acme").create_entry(
                NewPasswordEntry(" ", "ann", "Active Directory", "acme/x")
            )
        assert sim.count("POST") == 1
    assert str(err.value) == "acme: Hudu: POST /asset_passwords: HTTP 422: name can't be blank"


def test_a_wrong_key_or_company_is_reported(tmp_path: Path, sim: HuduSimulator, ca: TestCA) -> None:
    root = config(tmp_path, sim, ca, {"acme": 424242})
    with pytest.raises(ProviderError, match=r"^acme: Hudu: Hudu company 424242 .* does not exist"):
        vault(root, "acme").list_entries()
    (root / "vendor.key").write_text("nope")
    with pytest.raises(ProviderError, match=r"^acme: Hudu: GET /asset_passwords: HTTP 401: Unauthorized"):
        vault(root, "acme").list_entries()


def test_throttling_is_retried_after_the_time_it_asks(tmp_path: Path, sim: HuduSimulator, ca: TestCA) -> None:
    company = sim.add_company("Acme")
    seed(sim, company, 3)
    sim.faults.add(Fault.error(429, retry_after="0.3"))
    assert len(vault(config(tmp_path, sim, ca, {"acme": company}), "acme").list_entries()) == 3
    assert sim.waits_after_throttle() and sim.waits_after_throttle()[0] >= 0.3


@pytest.mark.parametrize("fault", [Fault.error(500), Fault.error(504), Fault.drop()])
def test_server_errors_and_lost_connections_are_retried(
    tmp_path: Path, sim: HuduSimulator, ca: TestCA, fault: Fault
) -> None:
    company = sim.add_company("Acme")
    seed(sim, company, 3)
    sim.faults.add(fault)
    assert len(vault(config(tmp_path, sim, ca, {"acme": company}), "acme").list_entries()) == 3
    assert sim.count("GET", "/api/v1/asset_passwords") == 2


@pytest.mark.parametrize("fault", [Fault.drop(after=True), Fault.error(502, after=True), Fault.error(503)])
def test_a_create_whose_answer_is_lost_is_not_made_twice(
    tmp_path: Path, sim: HuduSimulator, ca: TestCA, fault: Fault
) -> None:
    company = sim.add_company("Acme")
    v = vault(config(tmp_path, sim, ca, {"acme": company}), "acme")
    sim.faults.add(fault, path_prefix="/api/v1/asset_passwords")
    created = v.create_entry(new("ann"))
    assert [p["id"] for p in sim.passwords_of(company)] == [int(created.id)]


def test_client_rate_limit_keeps_under_the_vendor_limit(
    tmp_path: Path, sim: HuduSimulator, ca: TestCA
) -> None:
    company = sim.add_company("Acme")
    seed(sim, company, 10)
    root = config(tmp_path, sim, ca, {"acme": company}, pageSize=1)
    # the vendor allows 3 a second; without a limiter 10 pages need > 3.3 s not to be
    # throttled, which even a loaded machine does not take. The client's window is 1.5x
    # the vendor's, so requests that bunch up in transit still arrive within its limit.
    sim.rate_limit = RateLimit(3, 1.0)

    unlimited = vault(root, "acme", limiter=RateLimiter(10_000, 1.0), retry=RetryPolicy(max_attempts=20))
    assert len(unlimited.list_entries()) == 10
    assert sim.limited > 0

    sim.limited = 0
    time.sleep(1.1)
    limited = vault(root, "acme", limiter=RateLimiter(3, 1.5))
    assert len(limited.list_entries()) == 10
    assert sim.limited == 0


def test_the_limiter_is_shared_by_the_customers_of_one_instance(
    tmp_path: Path, sim: HuduSimulator, ca: TestCA
) -> None:
    companies = {"acme": sim.add_company("Acme"), "beta": sim.add_company("Beta")}
    root = config(tmp_path, sim, ca, companies, requestsPerMinute=123)
    a, b = vault(root, "acme"), vault(root, "beta")
    assert a.api.limiter is b.api.limiter and a.api.limiter is not None and a.api.limiter.limit == 123


def test_no_api_key_or_password_value_in_logs_errors_or_reprs(
    tmp_path: Path, sim: HuduSimulator, ca: TestCA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    company = sim.add_company("Acme")
    seed(sim, company, 5)
    v = vault(config(tmp_path, sim, ca, {"acme": company}), "acme")
    sim.faults.add(Fault.error(429, retry_after="0.05"))
    entries = v.list_entries()
    sim.faults.add(Fault.drop(after=True), path_prefix="/api/v1/asset_passwords")
    v.create_entry(new("ann"))
    sim.faults.add(Fault.error(403, body={"error": "Forbidden"}), times=10)
    with pytest.raises(ProviderError) as err:
        v.list_entries()
    seen = "\n".join([caplog.text, str(err.value), repr(v), repr(v.api), repr(entries)])
    assert "HTTP 403: Forbidden" in seen and "checking before trying again" in caplog.text
    assert KEY not in seen and SAMPLE_PASSWORD not in seen


def test_companies_of_the_instance_leave_out_archived_ones(tmp_path: Path, ca: TestCA) -> None:
    with HuduSimulator(ca, api_key=KEY, max_page_size=25) as sim:
        assert isinstance(sim, HuduSimulator)
        ids = [sim.add_company(f"Company {i:02d}") for i in range(30)]
        sim.add_company("Gone", archived=True)
        root = config(tmp_path, sim, ca, {})
        companies = list_companies(settings(root), root, retry=FAST)
    assert [c.id for c in companies] == [str(i) for i in ids]
    assert companies[0].name == "Company 00" and ("type", "Customer") in companies[0].details


def test_the_placeholder_password_never_reaches_logs(tmp_path: Path, ca: TestCA, all_output: Any) -> None:
    with HuduSimulator(ca, api_key=KEY) as sim:
        assert isinstance(sim, HuduSimulator)
        company = sim.add_company("Acme")
        created = vault(config(tmp_path, sim, ca, {"acme": company}), "acme").create_entry(new("bea"))
        sent = next(r for r in sim.requests if r.method == "POST").json()["asset_password"]["password"]
    assert sent and sent not in all_output(created)
