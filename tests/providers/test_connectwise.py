"""ConnectWise client against the simulator over TLS: auth, paging, conditions, markers, faults."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from reconciler.core.model import IntegrationKind, NewContact, marker_text
from reconciler.errors import ProviderError
from reconciler.integrations.connectwise.client import (
    ConnectWiseContacts,
    condition_string,
    cw_error,
    open_connectwise,
)
from reconciler.providers.http import HttpApi
from reconciler.state.store import SqliteStore
from reconciler.testing.connectwise import API_PREFIX, ConnectWiseSimulator, evaluate, parse_conditions
from reconciler.testing.httpsim import Fault, TestCA
from tests.providers.conftest import context

PUBLIC, PRIVATE, CLIENT = "pub-Zq81", "priv-Xk22-very-secret", "2a7e3c1d-0000-4000-8000-00000000c1d1"
CONTACTS = API_PREFIX + "company/contacts"


@pytest.fixture
def sim(test_ca: TestCA) -> Iterator[ConnectWiseSimulator]:
    s = ConnectWiseSimulator(
        test_ca, company_id="contoso-msp", public_key=PUBLIC, private_key=PRIVATE, client_id=CLIENT
    )
    s.add_company(5, "Acme Corp")
    s.add_company(99, "Other Corp")
    with s:
        yield s


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_PUBLIC", PUBLIC)
    monkeypatch.setenv("CW_PRIVATE", PRIVATE)
    monkeypatch.setenv("CW_CLIENT", CLIENT)


def connection(sim: ConnectWiseSimulator, ca: TestCA | None, **extra: Any) -> dict[str, Any]:
    conn: dict[str, Any] = {
        "site": sim.url.removeprefix("https://"),
        "companyId": "contoso-msp",
        "publicKey": {"env": "CW_PUBLIC"},
        "privateKey": {"env": "CW_PRIVATE"},
        "clientId": {"env": "CW_CLIENT"},
        "apiVersion": "2025.8",
    }
    if ca is not None:
        conn["caFile"] = str(ca.ca_file)
    conn.update(extra)
    return conn


def book(
    sim: ConnectWiseSimulator,
    ca: TestCA | None,
    tmp_path: Path,
    store: SqliteStore,
    company: str = "5",
    **extra: Any,
) -> ConnectWiseContacts:
    ctx = context(
        tmp_path, store, {"connectwise": connection(sim, ca, **extra)}, {"connectwiseCompanyId": company}
    )
    return open_connectwise(ctx)


def new(first: str = "Dana", last: str = "Scully", email: str | None = "dana@acme.example") -> NewContact:
    return NewContact(first, last, email, "acme/end-user/entra:5f0c2b7e-0000-4000-8000-000000000001")


# --- reading --------------------------------------------------------------------------------


def test_lists_every_contact_of_the_company_across_pages(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    for i in range(2345):
        sim.add_contact(5, f"First{i}", f"Last{i}", [f"user{i}@acme.example"])
    sim.add_contact(99, "Not", "Ours", ["not@other.example"])

    contacts = book(sim, test_ca, tmp_path, store).list_contacts()

    assert len(contacts) == 2345
    assert {c.integration for c in contacts} == {IntegrationKind.CONNECTWISE}
    assert contacts[0].first_name == "First0" and contacts[0].emails == ("user0@acme.example",)
    assert "not@other.example" not in {e for c in contacts for e in c.emails}
    pages = [r for r in sim.requests if r.path == CONTACTS]
    assert len(pages) == 3  # 1000 + 1000 + 345
    first = pages[0]
    assert first.q("conditions") == "company/id=5" and first.q("pageSize") == "1000"
    token = base64.b64encode(f"contoso-msp+{PUBLIC}:{PRIVATE}".encode()).decode()
    for r in pages:
        assert r.headers["authorization"] == f"Basic {token}"
        assert r.headers["clientid"] == CLIENT
        assert r.headers["accept"] == "application/vnd.connectwise.com+json; version=2025.8"


def test_codebase_is_looked_up_once_anonymously_and_cached(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    book(sim, test_ca, tmp_path, store).list_contacts()
    book(sim, test_ca, tmp_path, store).list_contacts()
    lookups = [r for r in sim.requests if r.path.startswith("/login/companyinfo/")]
    assert [r.path for r in lookups] == ["/login/companyinfo/contoso-msp"]
    assert "authorization" not in lookups[0].headers


def test_configured_codebase_skips_the_lookup(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    contacts = book(sim, test_ca, tmp_path, store, codebase="/v4_6_release").list_contacts()
    assert contacts == []
    assert sim.count(path_prefix="/login/") == 0


def test_inactive_contacts_are_listed_as_inactive(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sim.add_contact(5, "Gone", "Away", ["gone@acme.example"], inactive=True)
    sim.add_contact(5, "Still", "Here", ["here@acme.example"])
    by_name = {c.first_name: c for c in book(sim, test_ca, tmp_path, store).list_contacts()}
    assert by_name["Gone"].active is False
    assert by_name["Still"].active is True


# --- creating -------------------------------------------------------------------------------


def test_create_then_list_finds_the_marker(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    client = book(sim, test_ca, tmp_path, store)
    want = new()
    created = client.create_contact(want)

    record = sim.contacts[int(created.id)]
    assert record["company"]["id"] == 5
    assert record["communicationItems"][0]["value"] == "dana@acme.example"
    assert record["communicationItems"][0]["communicationType"] == "Email"
    assert record["integratorTags"] == [marker_text(want.marker)]
    assert created.marker == want.marker and created.emails == ("dana@acme.example",)
    listed = {c.id: c for c in client.list_contacts()}
    assert listed[created.id].marker == want.marker
    assert listed[created.id] == created


def test_create_without_email_has_no_communication_item(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    created = book(sim, test_ca, tmp_path, store).create_contact(new(email=None))
    assert sim.contacts[int(created.id)]["communicationItems"] == []
    assert created.emails == ()


def test_lost_answer_finds_the_contact_instead_of_creating_twice(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    client = book(sim, test_ca, tmp_path, store)
    want = new(first='Jo "JJ"', last="O'Brien \\ Smith", email="jj@acme.example")
    sim.faults.add(Fault.drop(after=True), path_prefix=CONTACTS)

    created = client.create_contact(want)

    assert [c["id"] for c in sim.contacts_of(5)] == [int(created.id)]
    assert created.marker == want.marker and created.first_name == 'Jo "JJ"'
    lookup = [r for r in sim.requests if r.path == CONTACTS and r.method == "GET"][-1]
    assert lookup.q("conditions") == (
        'company/id=5 AND firstName="Jo \\"JJ\\"" AND lastName="O\'Brien \\\\ Smith"'
    )
    assert lookup.q("childConditions") == (
        'communicationItems/value="jj@acme.example" AND communicationItems/communicationType="Email"'
    )


def test_lost_request_is_sent_again_once(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.drop(), path_prefix=CONTACTS)  # cut before the server acts
    created = client.create_contact(new())
    assert [c["id"] for c in sim.contacts_of(5)] == [int(created.id)]
    assert sim.count("POST", CONTACTS) == 2


def test_a_quote_in_a_name_cannot_widen_the_lookup(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sneaky = NewContact("Ann", 'x" OR company/id=99 OR lastName="', None, "acme/end-user/entra:ann")
    # another company's contact that would match if the value escaped its quotes
    sim.add_contact(99, "Ann", "", [], integrator_tags=[marker_text(sneaky.marker)])
    assert book(sim, test_ca, tmp_path, store).find_own(sneaky) is None


def test_condition_string_round_trips_through_the_simulator_parser() -> None:
    for value in ["plain", 'with "quotes"', "back\\slash", "end\\", '"', "a AND b OR c", "ünïcode"]:
        tree = parse_conditions(f"firstName={condition_string(value)}")
        assert evaluate(tree, {"firstName": value})
        assert not evaluate(tree, {"firstName": value + "x"})


# --- faults and errors ----------------------------------------------------------------------


def test_429_retry_after_is_honoured(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sim.add_contact(5, "A", "B", ["a@acme.example"])
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.error(429, retry_after="0.4"), path_prefix=CONTACTS)
    assert len(client.list_contacts()) == 1
    assert sim.waits_after_throttle()[0] >= 0.4
    assert client.api.stats.throttled == 1


def test_429_on_create_is_retried_without_a_lookup(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.error(429, retry_after="0.1"), path_prefix=CONTACTS)
    client.create_contact(new())
    assert len(sim.contacts_of(5)) == 1
    assert sim.count("GET", CONTACTS) == 0


def test_5xx_is_retried(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sim.add_contact(5, "A", "B", ["a@acme.example"])
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.error(503), times=2, path_prefix=CONTACTS)
    assert len(client.list_contacts()) == 1
    assert sim.count("GET", CONTACTS) == 3


def test_dropped_connection_on_read_is_retried(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sim.add_contact(5, "A", "B", ["a@acme.example"])
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.drop(), path_prefix=CONTACTS)
    assert len(client.list_contacts()) == 1


def test_vendor_error_becomes_a_clear_error_naming_the_customer(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    client = book(sim, test_ca, tmp_path, store, company="404")
    with pytest.raises(ProviderError) as err:
        client.create_contact(new())
    assert str(err.value).startswith(
        "acme: connectwise: POST /v4_6_release/apis/3.0/company/contacts: HTTP 400:"
    )
    assert "company: company 404 not found" in str(err.value)


def test_wrong_credentials_are_reported_without_them(
    sim: ConnectWiseSimulator,
    test_ca: TestCA,
    tmp_path: Path,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
    all_output: Any,
) -> None:
    monkeypatch.setenv("CW_PRIVATE", "wrong-private-key-123")
    with pytest.raises(ProviderError) as err:
        book(sim, test_ca, tmp_path, store).list_contacts()
    assert "HTTP 401" in str(err.value) and "bad credentials" in str(err.value)
    assert "wrong-private-key-123" not in all_output(err.value)


def test_untrusted_certificate_fails_fast_and_says_so(
    sim: ConnectWiseSimulator, tmp_path: Path, store: SqliteStore
) -> None:
    with pytest.raises(ProviderError) as err:
        book(sim, None, tmp_path, store).list_contacts()
    assert "certificate" in str(err.value) and "caFile" in str(err.value)
    assert sim.count() == 0


def test_company_id_must_be_numeric(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    # refused by the config model already (values.RecordId), before any request
    with pytest.raises(ValidationError, match="positive numeric id"):
        book(sim, test_ca, tmp_path, store, company="5 OR 1=1")


def test_no_secret_in_any_output(
    sim: ConnectWiseSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore, all_output: Any
) -> None:
    sim.add_contact(5, "A", "B", ["a@acme.example"])
    client = book(sim, test_ca, tmp_path, store)
    sim.faults.add(Fault.error(429, retry_after="0"), path_prefix=CONTACTS)
    sim.faults.add(Fault.error(500), path_prefix=CONTACTS)
    client.list_contacts()
    client.create_contact(new())
    errors = []
    try:
        book(sim, test_ca, tmp_path, store, company="404").create_contact(new())
    except ProviderError as exc:
        errors.append(exc)
    token = base64.b64encode(f"contoso-msp+{PUBLIC}:{PRIVATE}".encode()).decode()
    text = all_output(*errors)
    for secret in (PUBLIC, PRIVATE, CLIENT, token):
        assert secret not in text


# --- wire edge cases (MockTransport) ---------------------------------------------------------


def mock_book(handler: Any) -> ConnectWiseContacts:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return ConnectWiseContacts(
        HttpApi(client, "acme: connectwise", extract_error=cw_error), "https://cw.test/x/apis/3.0/", 5
    )


def test_next_page_on_another_host_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[], headers={"Link": '<https://evil.test/steal>; rel="next"'})

    with pytest.raises(ProviderError, match="points at"):
        mock_book(handler).list_contacts()


def test_an_answer_that_is_not_a_list_is_an_error() -> None:
    with pytest.raises(ProviderError, match="not a list"):
        mock_book(lambda r: httpx.Response(200, json={"oops": True})).list_contacts()


def test_error_text_of_each_kind_of_body() -> None:
    assert (
        cw_error({"code": "X", "message": "bad", "errors": [{"field": "f", "message": "m"}]}) == "bad; f: m"
    )
    assert cw_error({"message": "only"}) == "only"
    assert cw_error("text") is None
