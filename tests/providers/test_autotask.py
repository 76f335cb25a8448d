"""Autotask client against the simulator over TLS: zone, paging, markers, budget, faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.core.model import IntegrationKind, NewContact, marker_text
from reconciler.errors import ProviderError, Rejected
from reconciler.integrations.autotask.client import AutotaskContacts, account_key, at_error, open_autotask
from reconciler.providers import limits
from reconciler.providers.http import HttpApi
from reconciler.providers.limits import RateLimiter
from reconciler.state.store import SqliteStore
from reconciler.testing.autotask import AutotaskSimulator
from reconciler.testing.httpsim import Fault, TestCA
from tests.providers.conftest import context

USER, SECRET, CODE = "api-7f3@acme-msp.example", "Sx9-very-secret-value", "INTCODE-ABC123"
QUERY = "/ATServicesRest/V1.0/Contacts/query"
CREATE = "/ATServicesRest/V1.0/Companies/"
MARKER = "acme/end-user/entra:5f0c2b7e-0000-4000-8000-000000000001"


@pytest.fixture
def sim(test_ca: TestCA) -> Iterator[AutotaskSimulator]:
    s = AutotaskSimulator(test_ca, username=USER, secret=SECRET, integration_code=CODE)
    s.add_company(123, "Acme Corp")
    s.add_company(456, "Other Corp")
    with s:
        yield s


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AT_USER", USER)
    monkeypatch.setenv("AT_SECRET", SECRET)
    monkeypatch.setenv("AT_CODE", CODE)


def book(
    sim: AutotaskSimulator, ca: TestCA, tmp_path: Path, store: SqliteStore, company: str = "123",
    name: str = "acme", **extra: Any,
) -> AutotaskContacts:  # fmt: skip
    conn: dict[str, Any] = {
        "username": {"env": "AT_USER"},
        "secret": {"env": "AT_SECRET"},
        "integrationCode": {"env": "AT_CODE"},
        "zoneDiscoveryUrl": f"{sim.url}/ATServicesRest/",
        "caFile": str(ca.ca_file),
    }
    conn.update(extra)
    return open_autotask(context(tmp_path, store, {"autotask": conn}, {"autotaskCompanyId": company}, name))


def new(first: str = "Dana", last: str = "Scully", email: str | None = "dana@acme.example") -> NewContact:
    return NewContact(first, last, email, MARKER)


# --- zone and reading ----------------------------------------------------------------------


def test_zone_is_discovered_once_without_credentials(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    first = book(sim, test_ca, tmp_path, store)
    second = book(sim, test_ca, tmp_path, store, name="globex")
    assert first.zone_url == second.zone_url == f"{sim.url}/ATServicesRest/"
    lookups = [r for r in sim.requests if r.path.lower().endswith("/zoneinformation")]
    assert len(lookups) == 1 and lookups[0].q("user") == USER
    assert not {"secret", "apiintegrationcode", "username"} & set(lookups[0].headers)


@pytest.mark.parametrize("zone", ["{url}/ATServicesRest", "{url}/ATServicesRest/", "{url}"])
def test_configured_zone_skips_discovery(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore, zone: str
) -> None:
    client = book(
        sim,
        test_ca,
        tmp_path,
        store,
        zoneUrl=zone.format(url=sim.url),
        zoneDiscoveryUrl="https://nowhere.invalid/",
    )
    assert client.zone_url == f"{sim.url}/ATServicesRest/"
    assert client.list_contacts() == []
    assert sim.count("GET") == 0


def test_lists_every_contact_of_the_company_across_pages(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    for i in range(1234):
        sim.add_contact(123, f"First{i}", f"Last{i}", [f"user{i}@acme.example", f"alt{i}@acme.example"])
    sim.add_contact(456, "Not", "Ours", ["not@other.example"])

    contacts = book(sim, test_ca, tmp_path, store).list_contacts()

    assert len(contacts) == 1234
    assert {c.integration for c in contacts} == {IntegrationKind.AUTOTASK}
    assert contacts[0].emails == ("user0@acme.example", "alt0@acme.example")
    assert all(c.first_name != "Not" for c in contacts)
    pages = [r for r in sim.requests if r.path.startswith(QUERY)]
    assert len(pages) == 3  # 500 + 500 + 234
    for r in pages:
        assert r.method == "POST"
        assert r.json()["filter"] == [{"op": "eq", "field": "companyID", "value": 123}]
        assert r.json()["MaxRecords"] == 500
        assert (r.headers["apiintegrationcode"], r.headers["username"], r.headers["secret"]) == (
            CODE,
            USER,
            SECRET,
        )
    assert pages[1].q("paging") is not None


def test_inactive_contacts_are_listed_as_inactive(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sim.add_contact(123, "Gone", "Away", ["gone@acme.example"], active=False)
    sim.add_contact(123, "Still", "Here", ["here@acme.example"])
    by_name = {c.first_name: c for c in book(sim, test_ca, tmp_path, store).list_contacts()}
    assert by_name["Gone"].active is False and by_name["Still"].active is True


# --- creating -------------------------------------------------------------------------------


def test_create_then_list_finds_the_marker(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    client = book(sim, test_ca, tmp_path, store)
    created = client.create_contact(new())

    record = sim.contacts[int(created.id)]
    assert (record["companyID"], record["isActive"], record["emailAddress"]) == (123, 1, "dana@acme.example")
    assert record["note"] == marker_text(MARKER)
    (post,) = [r for r in sim.requests if r.method == "POST" and r.path.startswith(CREATE)]
    assert post.path == "/ATServicesRest/V1.0/Companies/123/Contacts"
    listed = {c.id: c for c in client.list_contacts()}
    assert listed[created.id] == created
    assert created.marker == MARKER


def test_lost_answer_finds_the_contact_instead_of_creating_twice(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    client = book(sim, test_ca, tmp_path, store)
    sim.add_contact(123, "Dana", "Scully", ["other@acme.example"])  # same names, not ours
    sim.faults.add(Fault.drop(after=True), path_prefix=CREATE)

    created = client.create_contact(new(first='D\'Ana "Q"', last="Scully"))

    ours = [c for c in sim.contacts_of(123) if c["note"]]
    assert [c["id"] for c in ours] == [int(created.id)]
    lookup = [r for r in sim.requests if r.path.startswith(QUERY)][-1].json()
    assert lookup["filter"][0]["op"] == "and"
    assert {"op": "eq", "field": "firstName", "value": 'D\'Ana "Q"'} in lookup["filter"][0]["items"]


def test_5xx_on_create_is_checked_then_sent_again(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.error(500), path_prefix=CREATE)  # refused before acting
    client.create_contact(new())
    assert len(sim.contacts_of(123)) == 1
    assert sim.count("POST", CREATE) == 2


# --- faults, errors, budget ------------------------------------------------------------------


def test_429_retry_after_is_honoured(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sim.add_contact(123, "A", "B", ["a@acme.example"])
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.error(429, retry_after="0.4"), path_prefix=QUERY)
    assert len(client.list_contacts()) == 1
    assert sim.waits_after_throttle()[0] >= 0.4


def test_5xx_and_dropped_connections_are_retried(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sim.add_contact(123, "A", "B", ["a@acme.example"])
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.error(503), path_prefix=QUERY)
    sim.faults.add(Fault.drop(), path_prefix=QUERY)
    assert len(client.list_contacts()) == 1
    assert sim.count("POST", QUERY) == 3


def test_a_validation_error_is_final_no_retry_no_lookup(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    """Autotask refuses an invalid create with HTTP 500 and `{"errors": [...]}`: that is a
    definitive failure, not an outcome-unknown 5xx (no retry, no looking for the record)."""
    with pytest.raises(Rejected) as err:
        book(sim, test_ca, tmp_path, store).create_contact(new(last=""))
    assert str(err.value) == (
        "acme: autotask: POST /ATServicesRest/V1.0/Companies/123/Contacts: HTTP 500: lastName is required"
    )
    assert sim.count("POST", CREATE) == 1
    assert sim.count("POST", QUERY) == 0  # no outcome-unknown lookup
    assert sim.contacts_of(123) == []


def test_a_500_without_an_errors_body_is_still_outcome_unknown(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.error(500, after=True), path_prefix=CREATE)  # created, then a gateway error
    created = client.create_contact(new())
    assert len(sim.contacts_of(123)) == 1 and created.id == str(sim.contacts_of(123)[0]["id"])
    assert sim.count("POST", CREATE) == 1 and sim.count("POST", QUERY) == 1  # looked, found, not resent


def test_unknown_api_user_has_no_zone(
    sim: AutotaskSimulator,
    test_ca: TestCA,
    tmp_path: Path,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AT_USER", "nobody@acme-msp.example")
    with pytest.raises(
        ProviderError, match=r"acme: autotask: GET .*zoneInformation: HTTP 404: Zone information"
    ):
        book(sim, test_ca, tmp_path, store)


def test_customers_on_one_api_user_share_one_budget(
    sim: AutotaskSimulator,
    test_ca: TestCA,
    tmp_path: Path,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = book(sim, test_ca, tmp_path, store, name="acme", requestsPerHour=7000)
    b = book(sim, test_ca, tmp_path, store, company="456", name="globex", requestsPerHour=7000)
    assert a.api.limiter is b.api.limiter and a.api.gate is b.api.gate
    assert a.api.limiter is not None and a.api.limiter.limit == 7000
    other = limits.shared_limiter(account_key(a.zone_url, "someone-else@acme-msp.example"), 7000, 3600.0)
    assert other is not a.api.limiter
    keys = list(limits._gates) + list(limits._limiters)
    assert keys and not [k for k in keys if USER in k]  # keyed by a fingerprint, not the user name


def test_budget_limiter_holds_requests_past_the_hourly_budget(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    for i in range(1600):  # four pages
        sim.add_contact(123, f"F{i}", f"L{i}", [])
    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(3, 3600.0, clock=lambda: now[0], sleep=sleep)
    client = httpx.Client(
        verify=test_ca.client_context(),
        headers={"ApiIntegrationCode": CODE, "UserName": USER, "Secret": SECRET},
    )
    contacts = AutotaskContacts(
        HttpApi(client, "acme: autotask", limiter=limiter, extract_error=at_error),
        f"{sim.url}/ATServicesRest/",
        123,
    ).list_contacts()
    assert len(contacts) == 1600
    assert slept == [3600.0]  # the fourth page waited for the window to roll over
    assert contacts[-1].first_name == "F1599"


def test_no_secret_in_any_output(
    sim: AutotaskSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore, all_output: Any
) -> None:
    sim.add_contact(123, "A", "B", ["a@acme.example"])
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.error(429, retry_after="0"), path_prefix=QUERY)
    sim.faults.add(Fault.error(500), path_prefix=QUERY)
    client.list_contacts()
    client.create_contact(new())
    errors = []
    try:
        client.create_contact(new(last=""))
    except ProviderError as exc:
        errors.append(exc)
    text = all_output(*errors)
    for secret in (SECRET, CODE):
        assert secret not in text


# --- wire edge cases (MockTransport) ---------------------------------------------------------


def test_next_page_on_another_host_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": [], "pageDetails": {"nextPageUrl": "https://evil.test/x"}})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    api = HttpApi(client, "acme: autotask", extract_error=at_error)
    with pytest.raises(ProviderError, match="points at"):
        AutotaskContacts(api, "https://webservices2.autotask.net/ATServicesRest/", 1).list_contacts()


def test_error_text() -> None:
    assert at_error({"errors": ["one", "two"]}) == "one; two"
    assert at_error({"message": "x"}) is None
