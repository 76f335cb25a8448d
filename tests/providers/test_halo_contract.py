"""Contract: the Halo client and simulator use only documented Halo fields.

Halo publishes no OpenAPI document we could find; tests/data/halo/documented.json
lists the endpoints, parameters and fields the maintained open-source clients
document (APIS.md section 9). Every request the client makes in a list-and-create
run, and every field the simulator answers, must be in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from reconciler.core.model import NewContact
from reconciler.integrations.halo import client as halo_client
from reconciler.integrations.halo.client import open_halo
from reconciler.state.store import SqliteStore
from reconciler.testing.halo import USER_FIELDS, HaloSimulator
from reconciler.testing.httpsim import TestCA
from tests.conftest import ROOT
from tests.providers.conftest import context

DOC = json.loads((ROOT / "tests" / "data" / "halo" / "documented.json").read_text(encoding="utf-8"))


@pytest.fixture
def sim(test_ca: TestCA) -> Iterator[HaloSimulator]:
    s = HaloSimulator(test_ca, client_id="app", client_secret="s3cret", tenant="t1")
    with s:
        yield s


def test_the_client_sends_only_documented_parameters_and_fields(
    sim: HaloSimulator, test_ca: TestCA, tmp_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALO_SECRET", "s3cret")
    monkeypatch.setattr(halo_client, "_TOKENS", halo_client._TokenCache())
    acme = sim.add_client("Acme")
    sim.add_user(acme, "Ada", "Lovelace", "ada@acme.example")
    conn = {"baseUrl": sim.url, "tenant": "t1", "clientId": "app", "clientSecret": {"env": "HALO_SECRET"}}
    book = open_halo(
        context(tmp_path, store, {"halo": {**conn, "caFile": str(test_ca.ca_file)}}, {"haloClientId": acme})
    )
    book.list_contacts()
    book.create_contact(NewContact("Grace", "Hopper", "grace@acme.example", "acme/end-user/entra:1"))
    book.find_own(NewContact("Grace", "Hopper", "grace@acme.example", "acme/end-user/entra:1"))
    seen = set()
    for r in sim.requests:
        section = {
            ("POST", "/auth/token"): "token",
            ("GET", "/api/Users"): "users_list",
            ("GET", "/api/Site"): "sites_list",
        }.get((r.method, r.path))
        if r.method == "POST" and r.path == "/api/Users":
            for user in r.json():
                assert set(user) <= set(DOC["user"]["fields"]), set(user) - set(DOC["user"]["fields"])
            seen.add("create")
            continue
        assert section is not None, f"undocumented call {r.method} {r.path}"
        seen.add(section)
        assert set(r.query) <= set(DOC[section]["query"]), set(r.query) - set(DOC[section]["query"])
        if section == "token":
            assert set(parse_qs(r.body.decode())) <= set(DOC["token"]["form"])
    assert seen == {"token", "users_list", "sites_list", "create"}


def test_the_simulator_answers_only_documented_fields() -> None:
    assert set(USER_FIELDS) <= set(DOC["user"]["fields"])
