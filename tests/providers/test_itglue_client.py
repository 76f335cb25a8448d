"""IT Glue client against the IT Glue simulator on loopback (TLS with a test CA)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.core.model import IntegrationKind, NewPasswordEntry, marker_text
from reconciler.errors import ConfigError, ProviderError
from reconciler.integrations.itglue.client import ItGlueVault, list_organizations, open_itglue
from reconciler.providers.http import RetryPolicy
from reconciler.providers.limits import RateLimiter
from reconciler.testing.httpsim import Fault, RateLimit, TestCA
from reconciler.testing.itglue import SAMPLE_PASSWORD, ItGlueSimulator
from tests.providers.vaultkit import context, settings, write_config

KEY = "itg-KEY-7f3a9c-do-not-leak"
FAST = RetryPolicy(base_delay=0.02, max_attempts=4)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def sim(ca: TestCA) -> Iterator[ItGlueSimulator]:
    with ItGlueSimulator(ca, api_key=KEY) as s:
        assert isinstance(s, ItGlueSimulator)
        for name in ("Active Directory", "Office 365", "Azure AD"):
            s.add_category(name)
        yield s


def config(tmp_path: Path, sim: ItGlueSimulator, ca: TestCA, orgs: dict[str, int], **conn: object) -> Path:
    root = tmp_path / "cfg"
    itglue = {"baseUrl": sim.url, "caFile": str(ca.ca_file), **conn}
    customers = {name: {"itglueOrganizationId": str(org)} for name, org in orgs.items()}
    write_config(root, {"itglue": itglue}, customers, KEY)
    return root


def vault(root: Path, customer: str, **kw: object) -> ItGlueVault:
    kw.setdefault("retry", FAST)
    return open_itglue(context(root, customer), **kw)  # type: ignore[arg-type]


def new(username: str, category: str = "Office 365") -> NewPasswordEntry:
    return NewPasswordEntry(
        name=f"O365 {username}",
        username=username,
        category=category,
        marker=f"acme/end-user/entra:{username}",
    )


def test_lists_every_page_of_one_organization_with_what_matching_needs(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA
) -> None:
    org, other = sim.add_organization("Acme"), sim.add_organization("Other")
    for i in range(2345):
        sim.add_password(
            org, f"entry {i}", f"user{i}@acme.test", "Office 365" if i % 2 else "Active Directory"
        )
    sim.add_password(other, "not ours", "user1@acme.test", "Office 365")
    sim.add_password(org, "archived", "old@acme.test", "Office 365", archived=True)
    sim.add_password(org, "no category", "ann@acme.test", None)
    sim.add_password(org, "ours", "bob@acme.test", "Azure AD", notes=f"hello {marker_text('acme/k1')} bye")

    entries = vault(config(tmp_path, sim, ca, {"acme": org}), "acme").list_entries()

    assert len(entries) == 2348 and len({e.id for e in entries}) == 2348
    assert sim.count("GET", "/passwords") == 3  # ceil(2348 / 1000)
    pages = [r for r in sim.requests if r.path == "/passwords"]
    assert [r.q("page[number]") for r in pages] == ["1", "2", "3"]
    assert all(r.q("page[size]") == "1000" and r.q("filter[organization_id]") == str(org) for r in pages)
    by_name = {e.name: e for e in entries}
    assert "not ours" not in by_name
    assert by_name["entry 1"].username == "user1@acme.test" and by_name["entry 1"].category == "Office 365"
    assert by_name["entry 2"].category == "Active Directory"
    assert by_name["archived"].archived and not by_name["entry 1"].archived
    assert by_name["no category"].category is None
    assert by_name["ours"].marker == "acme/k1" and by_name["entry 1"].marker is None
    assert all(e.integration is IntegrationKind.ITGLUE for e in entries)
    assert SAMPLE_PASSWORD not in repr(entries)
    assert sim.show_password_requests == 0


def test_create_in_the_named_category_with_marker_and_relisting_finds_it(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA
) -> None:
    org = sim.add_organization("Acme")
    v = vault(config(tmp_path, sim, ca, {"acme": org}), "acme")

    created = v.create_entry(new("ann@acme.test", "office 365"))

    post = next(r for r in sim.requests if r.method == "POST")
    attrs = post.json()["data"]["attributes"]
    assert post.json()["data"]["type"] == "passwords"
    assert post.headers["content-type"] == "application/vnd.api+json"
    assert "password" not in attrs  # never writes a password value
    assert attrs["password-category-id"] == sim.category_id("Office 365")
    assert attrs["organization-id"] == org and attrs["username"] == "ann@acme.test"
    assert marker_text("acme/end-user/entra:ann@acme.test") in attrs["notes"]
    assert created.category == "Office 365" and created.marker == "acme/end-user/entra:ann@acme.test"
    relisted = {e.id: e for e in v.list_entries()}
    assert relisted[created.id] == created


def test_categories_are_resolved_once_for_all_customers_of_an_account(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA
) -> None:
    orgs = {"acme": sim.add_organization("Acme"), "beta": sim.add_organization("Beta")}
    root = config(tmp_path, sim, ca, orgs)
    for customer in orgs:
        v = vault(root, customer)
        v.create_entry(new(f"ann@{customer}.test", "Office 365"))
        v.create_entry(new(f"bob@{customer}.test", "Active Directory"))
    assert sim.count("GET", "/password_categories") == 1
    assert sim.count("POST", "/passwords") == 4


def test_a_category_missing_in_itglue_is_a_clear_error_until_it_is_added(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA
) -> None:
    org = sim.add_organization("Acme")
    v = vault(config(tmp_path, sim, ca, {"acme": org}), "acme")
    v.create_entry(new("ann@acme.test"))  # fills the category cache

    with pytest.raises(ProviderError) as err:
        v.create_entry(new("bob@acme.test", "Local Account"))
    assert "acme: IT Glue" in str(err.value) and "'Local Account'" in str(err.value)
    assert "Office 365" in str(err.value)  # lists what exists
    assert sim.count("POST", "/passwords") == 1

    sim.add_category("Local Account")  # a cached miss looks again
    assert v.create_entry(new("bob@acme.test", "Local Account")).category == "Local Account"


def test_throttling_is_retried_after_the_time_it_asks(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA
) -> None:
    org = sim.add_organization("Acme")
    sim.add_password(org, "a", "a@acme.test", "Office 365")
    sim.faults.add(Fault.error(429, retry_after="0.4"), path_prefix="/passwords")
    v = vault(config(tmp_path, sim, ca, {"acme": org}), "acme")

    assert [e.name for e in v.list_entries()] == ["a"]
    assert len(sim.waits_after_throttle()) == 1 and sim.waits_after_throttle()[0] >= 0.4
    assert v.api.stats.throttled == 1


@pytest.mark.parametrize("fault", [Fault.error(502), Fault.error(503), Fault.drop(), Fault.slow(1.5)])
def test_server_errors_and_lost_connections_are_retried(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA, fault: Fault
) -> None:
    org = sim.add_organization("Acme")
    sim.add_password(org, "a", "a@acme.test", "Office 365")
    sim.faults.add(fault, path_prefix="/passwords")
    v = vault(config(tmp_path, sim, ca, {"acme": org}, timeoutSeconds=0.5), "acme")

    assert [e.name for e in v.list_entries()] == ["a"]
    assert sim.count("GET", "/passwords") == 2 and v.api.stats.retries == 1


@pytest.mark.parametrize("fault", [Fault.drop(after=True), Fault.error(500, after=True), Fault.drop()])
def test_a_create_whose_answer_is_lost_is_not_made_twice(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA, fault: Fault
) -> None:
    org = sim.add_organization("Acme")
    v = vault(config(tmp_path, sim, ca, {"acme": org}), "acme")
    sim.faults.add(fault, path_prefix="/passwords")

    created = v.create_entry(new("ann@acme.test"))

    stored = sim.passwords_of(org)
    assert [p.id for p in stored] == [int(created.id)]
    assert created.marker == "acme/end-user/entra:ann@acme.test"


def test_vendor_errors_name_the_customer_and_carry_the_vendor_message(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA
) -> None:
    org = sim.add_organization("Acme")
    root = config(tmp_path, sim, ca, {"acme": org})
    sim.require_password = True
    with pytest.raises(ProviderError) as err:
        vault(root, "acme").create_entry(new("ann@acme.test"))
    msg = str(err.value)
    assert msg.startswith("acme: IT Glue: POST /passwords: HTTP 422")
    assert "password can't be blank" in msg
    assert sim.count("POST", "/passwords") == 1  # a 4xx is not retried

    (root / "vendor.key").write_text("wrong-key")
    with pytest.raises(ProviderError) as err:
        vault(root, "acme").list_entries()
    assert "acme: IT Glue" in str(err.value) and "HTTP 401" in str(err.value)
    assert "The API key is missing or invalid" in str(err.value)


def test_a_wrong_organization_id_is_reported_not_treated_as_empty(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA
) -> None:
    sim.add_organization("Acme")
    with pytest.raises(ProviderError, match=r"acme: IT Glue: IT Glue organization 987654 .* does not exist"):
        vault(config(tmp_path, sim, ca, {"acme": 987654}), "acme").list_entries()
    empty = sim.add_organization("Empty")
    assert vault(config(tmp_path, sim, ca, {"empty": empty}), "empty").list_entries() == []


def test_client_rate_limit_keeps_under_the_vendor_limit(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA
) -> None:
    org = sim.add_organization("Acme")
    for i in range(12):
        sim.add_password(org, f"e{i}", f"u{i}@acme.test", "Office 365")
    root = config(tmp_path, sim, ca, {"acme": org}, pageSize=1)
    sim.rate_limit = RateLimit(5, 0.5)

    # control: without a client-side limit the vendor's limit is hit (and 429s are honoured)
    unlimited = vault(root, "acme", limiter=RateLimiter(10_000, 1.0), retry=RetryPolicy(max_attempts=20))
    assert len(unlimited.list_entries()) == 12
    assert sim.limited > 0

    sim.limited = 0
    time.sleep(0.6)
    start = time.monotonic()
    limited = vault(root, "acme", limiter=RateLimiter(5, 0.55))
    assert len(limited.list_entries()) == 12
    assert sim.limited == 0
    assert time.monotonic() - start >= 1.0  # 12 requests at 5 per 0.55 s


def test_no_api_key_or_password_value_in_logs_errors_or_reprs(
    tmp_path: Path, sim: ItGlueSimulator, ca: TestCA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    org = sim.add_organization("Acme")
    sim.add_password(org, "a", "a@acme.test", "Office 365")
    root = config(tmp_path, sim, ca, {"acme": org})
    v = vault(root, "acme")
    sim.faults.add(Fault.error(429, retry_after="0.05"))
    sim.faults.add(Fault.error(500, after=True), path_prefix="/passwords")
    entries = v.list_entries()
    v.create_entry(new("ann@acme.test"))
    sim.faults.add(Fault.error(401), times=10)
    with pytest.raises(ProviderError) as err:
        v.list_entries()
    seen = "\n".join([caplog.text, str(err.value), repr(err.value), repr(v), repr(v.api), repr(entries)])
    assert "HTTP 401" in seen and "retry 1 of" in caplog.text  # the logs did record the trouble
    assert KEY not in seen and SAMPLE_PASSWORD not in seen
    assert all(KEY not in str(r.body) for r in sim.requests)  # not in bodies either
    assert all(r.headers.get("x-api-key") == KEY for r in sim.requests)  # but sent as the header


def test_tls_is_verified_unless_a_ca_is_given(tmp_path: Path, sim: ItGlueSimulator, ca: TestCA) -> None:
    org = sim.add_organization("Acme")
    root = tmp_path / "cfg"
    write_config(root, {"itglue": {"baseUrl": sim.url}}, {"acme": {"itglueOrganizationId": str(org)}}, KEY)
    with pytest.raises(ProviderError, match="is not trusted"):
        vault(root, "acme", retry=RetryPolicy(max_attempts=2, base_delay=0.01)).list_entries()
    assert sim.count() == 0

    write_config(
        root,
        {"itglue": {"baseUrl": sim.url.replace("https", "http")}},
        {"acme": {"itglueOrganizationId": str(org)}},
        KEY,
    )
    with pytest.raises(ConfigError, match="must be an https:// URL"):  # refused by validation already
        vault(root, "acme")


def test_organizations_of_the_account(tmp_path: Path, sim: ItGlueSimulator, ca: TestCA) -> None:
    ids = [sim.add_organization(f"Org {i}", status="Inactive" if i == 3 else "Active") for i in range(5)]
    root = config(tmp_path, sim, ca, {}, pageSize=2)
    orgs = list_organizations(settings(root), root, retry=FAST)
    assert [o.id for o in orgs] == [str(i) for i in ids]
    assert orgs[3].name == "Org 3" and ("status", "Inactive") in orgs[3].details
    assert sim.count("GET", "/organizations") == 3
