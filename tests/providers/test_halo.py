"""Halo PSA client against the simulator over TLS (R14, R24): tokens, paging, markers,
sites, crash-safe creates, conflicts, secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.matching import Decision, match_contacts
from reconciler.core.model import Account, AccountClass, DirSource, IntegrationKind, NewContact, parse_marker
from reconciler.errors import ProviderError
from reconciler.integrations.halo import client as halo_client
from reconciler.integrations.halo.client import HaloUsers, halo_error, open_halo
from reconciler.state.store import SqliteStore
from reconciler.testing.halo import HaloSimulator
from reconciler.testing.httpsim import Fault, TestCA
from tests.providers.conftest import context

SECRET = "halo-Sx9-very-secret-value"
MARKER = "acme/end-user/entra:5f0c2b7e-0000-4000-8000-000000000001"


@pytest.fixture
def sim(test_ca: TestCA) -> Iterator[HaloSimulator]:
    s = HaloSimulator(test_ca, client_id="reconciler-app", client_secret=SECRET, tenant="acme-msp")
    with s:
        yield s


@pytest.fixture(autouse=True)
def fresh_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALO_SECRET", SECRET)
    monkeypatch.setattr(halo_client, "_TOKENS", halo_client._TokenCache())


def users(
    sim: HaloSimulator, ca: TestCA, tmp_path: Path, store: SqliteStore, client: int, **extra: Any
) -> HaloUsers:
    conn: dict[str, Any] = {
        "baseUrl": sim.url,
        "tenant": "acme-msp",
        "clientId": "reconciler-app",
        "clientSecret": {"env": "HALO_SECRET"},
        "caFile": str(ca.ca_file),
    }
    conn.update(extra)
    return open_halo(context(tmp_path, store, {"halo": conn}, {"haloClientId": client}))


def new(first: str = "Dana", last: str = "Scully", email: str | None = "dana@acme.example") -> NewContact:
    return NewContact(first, last, email, MARKER)


def test_lists_every_user_of_the_client_over_halo_paging(
    sim: HaloSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    acme, other = sim.add_client("Acme"), sim.add_client("Other")
    for i in range(23):
        sim.add_user(acme, f"User{i}", "Acme", f"u{i}@acme.example", inactive=i == 3)
    sim.add_user(other, "Not", "Mine", "not@other.example")
    book = users(sim, test_ca, tmp_path, store, acme, pageSize=10)
    contacts = book.list_contacts()
    assert len(contacts) == 23 and len({c.id for c in contacts}) == 23
    assert [c.active for c in contacts].count(False) == 1  # inactive users are read, marked inactive
    assert contacts[0].integration is IntegrationKind.HALO and contacts[0].emails == ("u0@acme.example",)
    pages = [r for r in sim.requests if r.path == "/api/Users" and r.method == "GET"]
    assert [r.q("page_no") for r in pages] == ["1", "2", "3"]
    assert all(
        r.q("pageinate") == "true" and r.q("page_size") == "10" and r.q("client_id") == str(acme)
        for r in pages
    )


def test_one_token_per_application_sent_as_bearer_and_renewed_after_a_401(
    sim: HaloSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    acme = sim.add_client("Acme")
    users(sim, test_ca, tmp_path, store, acme).list_contacts()
    users(sim, test_ca, tmp_path, store, acme).list_contacts()  # another customer run: same token
    assert sim.token_requests == 1
    (token,) = [r for r in sim.requests if r.path == "/auth/token"]
    assert token.q("tenant") == "acme-msp"
    assert b"grant_type=client_credentials" in token.body and b"scope=all" in token.body
    assert "authorization" not in token.headers  # the bearer never goes to the token endpoint
    sim.expire_tokens()
    assert users(sim, test_ca, tmp_path, store, acme).list_contacts() == []
    assert sim.token_requests == 2


def test_a_wrong_secret_is_one_clear_error_without_the_secret(
    sim: HaloSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch,
    all_output: Any,
) -> None:  # fmt: skip
    monkeypatch.setenv("HALO_SECRET", "wrong-" + SECRET)
    with pytest.raises(
        ProviderError, match=r"acme: halo: POST /auth/token: HTTP 401: Invalid client"
    ) as info:
        users(sim, test_ca, tmp_path, store, sim.add_client("Acme")).list_contacts()
    assert SECRET not in all_output(info.value)


def test_creates_one_user_in_the_clients_site_with_the_marker_in_notes(
    sim: HaloSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    acme = sim.add_client("Acme", sites=("Head office", "Main"))
    book = users(sim, test_ca, tmp_path, store, acme)
    created = book.create_contact(new())
    (post,) = [r for r in sim.requests if r.path == "/api/Users" and r.method == "POST"]
    body = post.json()
    assert isinstance(body, list) and len(body) == 1  # Halo creates from a JSON array
    assert body[0]["site_id"] == sim.site_of(acme, "Main")
    assert created.marker == MARKER and created.emails == ("dana@acme.example",)
    (stored,) = sim.users_of(acme)
    assert (
        stored["firstname"] == "Dana"
        and stored["surname"] == "Scully"
        and parse_marker(stored["notes"]) == MARKER
    )
    assert book.list_contacts()[0].marker == MARKER  # a listing finds it again by its marker


def test_several_sites_and_none_named_main_is_refused_before_creating(
    sim: HaloSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    acme = sim.add_client("Acme", sites=("North", "South"))
    with pytest.raises(
        ProviderError,
        match=r"no single site for new users \(sites: North, South\); set connections.halo.siteName",
    ):
        users(sim, test_ca, tmp_path, store, acme).create_contact(new())
    assert users(sim, test_ca, tmp_path, store, acme, siteName="south").create_contact(new()).id
    assert not [
        r
        for r in sim.requests
        if r.method == "POST"
        and r.path == "/api/Users"
        and r.json()[0]["site_id"] != sim.site_of(acme, "South")
    ]


def test_a_create_whose_answer_is_lost_is_found_by_its_marker_not_sent_again(
    sim: HaloSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    acme = sim.add_client("Acme")
    book = users(sim, test_ca, tmp_path, store, acme)
    book.api.retry = book.api.retry.__class__(base_delay=0.01)
    sim.faults.add(Fault.drop(after=True), path_prefix="/api/Users")
    created = book.create_contact(new())
    assert len(sim.users_of(acme)) == 1 and created.marker == MARKER
    posts = [r for r in sim.requests if r.path == "/api/Users" and r.method == "POST"]
    assert len(posts) == 1


def test_r24_two_users_with_one_email_are_a_conflict_never_the_first(
    sim: HaloSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    acme = sim.add_client("Acme")
    sim.add_user(acme, "Oscar", "Olsen", "oscar@acme.example")
    sim.add_user(acme, "Oskar", "Olsen", "oscar@acme.example")
    sim.add_user(acme, "Nina", "North", None)
    contacts = users(sim, test_ca, tmp_path, store, acme).list_contacts()
    accounts = [
        Account("end-user/entra:1", AccountClass.END_USER, (DirSource.ENTRA,), "oscar@acme.example", mail="oscar@acme.example"),
        Account("end-user/entra:2", AccountClass.END_USER, (DirSource.ENTRA,), "nina@acme.example", given_name="Nina", surname="North"),
    ]  # fmt: skip
    results = match_contacts("acme", accounts, contacts, {}, (), IntegrationKind.HALO)
    assert [r.decision for r in results] == [Decision.CONFLICT, Decision.LINK]  # R18; R14 by name


def test_error_bodies_are_read_in_every_shape_halo_uses() -> None:
    assert (
        halo_error("CODE:APP03/2 Please select the CAB members")
        == "CODE:APP03/2 Please select the CAB members"
    )
    assert halo_error({"error": "invalid_client", "error_description": "Invalid client"}) == "Invalid client"
    assert halo_error({"Message": "An error has occurred."}) == "An error has occurred."
    assert halo_error([1]) is None
