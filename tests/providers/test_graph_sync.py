"""Entra reader against the Graph simulator over TLS: full read, delta, removal, fallbacks."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest

from reconciler.core.model import DirSource
from reconciler.providers.base import DirectoryScope
from reconciler.providers.graph.auth import BearerAuth
from reconciler.providers.graph.client import USER_SELECT, GraphClient
from reconciler.providers.http import HttpApi
from reconciler.testing.httpsim import SimRequest, SimResponse, TestCA
from tests.providers.graphkit import GraphWorld, make_world, test_ca  # noqa: F401

TENANT = "0b8c5d6e-1111-4222-8333-944445555666"


@pytest.fixture
def world(test_ca: TestCA, tmp_path, monkeypatch) -> Iterator[GraphWorld]:  # noqa: F811
    w = make_world(test_ca, tmp_path, monkeypatch, tenants=(TENANT,), delta_page_size=7)
    w.write_config({"contoso": TENANT})
    yield w
    w.sim.stop()


def graph_calls(world: GraphWorld, path: str) -> list[str]:
    return [r.path for r in world.sim.requests if r.path.startswith(path)]


def test_full_read_returns_every_user_with_the_fields_the_core_needs(world: GraphWorld) -> None:
    world.sim.seed(TENANT, 2100)
    ada = world.sim.add_user(
        TENANT,
        "ada@contoso.test",
        givenName="Ada",
        surname="Lovelace",
        displayName="Ada Lovelace",
        mail="ada.lovelace@contoso.test",
        onPremisesImmutableId="kT8D0ZkWzUqZgJ3d9S2V3A==",
        onPremisesSamAccountName="ada",
        proxyAddresses=["smtp:ada@old.test", "SMTP:ada.lovelace@contoso.test"],
    )
    off = world.sim.add_user(TENANT, "off@contoso.test", accountEnabled=False, assignedLicenses=[])

    reader = world.reader("contoso")
    snap = reader.read(DirectoryScope())

    assert len(snap.users) == 2102
    by_id = {u.id: u for u in snap.users}
    a = by_id[ada]
    assert (a.source, a.upn, a.given_name, a.surname, a.display_name) == (
        DirSource.ENTRA, "ada@contoso.test", "Ada", "Lovelace", "Ada Lovelace",
    )  # fmt: skip
    assert a.enabled and a.licensed
    assert a.immutable_id == "kT8D0ZkWzUqZgJ3d9S2V3A=="
    assert a.sam_account_name == "ada"
    assert a.primary_smtp == "ada.lovelace@contoso.test"
    assert not by_id[off].enabled and not by_id[off].licensed
    # every user as the simulator holds it: licensed = any assigned license
    tenant = world.sim.directory.tenant(TENANT)
    assert sum(u.licensed for u in snap.users) == sum(
        bool(u["assignedLicenses"]) for u in tenant.users.values()
    )
    assert sum(u.enabled for u in snap.users) == sum(u["accountEnabled"] for u in tenant.users.values())

    pages = [r for r in world.sim.requests if r.path == "/v1.0/users"]
    assert len(pages) == math.ceil(2102 / 999)
    first = pages[0]
    assert first.q("$top") == "999"
    assert set(first.q("$select", "").split(",")) == set(USER_SELECT)
    assert reader.last.mode == "full"


def test_second_read_is_incremental_and_applies_changes_and_removals(world: GraphWorld) -> None:
    ids = world.sim.seed(TENANT, 30)
    reader = world.reader("contoso")
    before = {u.id: u for u in reader.read(DirectoryScope()).users}
    world.sim.requests.clear()

    unchanged = world.reader("contoso").read(DirectoryScope())
    assert {u.id: u for u in unchanged.users} == before
    assert graph_calls(world, "/v1.0/") == ["/v1.0/users/delta"]

    new = world.sim.add_user(TENANT, "new@contoso.test")
    world.sim.update_user(TENANT, ids[0], assignedLicenses=[])  # loses its license (R8)
    world.sim.update_user(TENANT, ids[1], accountEnabled=False, displayName="Gone Fishing")
    world.sim.remove_user(TENANT, ids[2], reason="changed")  # soft-deleted
    world.sim.remove_user(TENANT, ids[3], reason="deleted")
    for i in ids[4:14]:  # more changes than one delta page (7)
        world.sim.update_user(TENANT, i, jobTitle="Engineer", surname="Renamed")
    world.sim.requests.clear()

    reader = world.reader("contoso")
    after = {u.id: u for u in reader.read(DirectoryScope()).users}

    assert reader.last.mode == "delta"
    assert set(after) == set(before) - {ids[2], ids[3]} | {new}
    assert not after[ids[0]].licensed and after[ids[0]].enabled
    assert not after[ids[1]].enabled and after[ids[1]].display_name == "Gone Fishing"
    assert all(after[i].surname == "Renamed" for i in ids[4:14])
    assert after[ids[20]] == before[ids[20]]
    assert not [p for p in graph_calls(world, "/v1.0/") if p != "/v1.0/users/delta"]
    assert len(graph_calls(world, "/v1.0/users/delta")) == math.ceil(15 / 7)


def test_changes_during_a_full_read_come_again_and_apply_idempotently(world: GraphWorld) -> None:
    ids = world.sim.seed(TENANT, 20)
    handle = world.sim.handle
    done: list[bool] = []

    def change_during_read(request: SimRequest) -> SimResponse:
        if request.path == "/v1.0/users" and not done:  # after the delta anchor, before the page
            done.append(True)
            world.sim.update_user(TENANT, ids[0], surname="During")
            world.sim.remove_user(TENANT, ids[1])
            world.sim.add_user(TENANT, "late@contoso.test")
        return handle(request)

    world.sim.handle = change_during_read  # type: ignore[method-assign]
    first = world.reader("contoso").read(DirectoryScope())
    reader = world.reader("contoso")
    again = reader.read(DirectoryScope())

    assert reader.last.mode == "delta" and reader.last.changes == 3  # the same changes, repeated
    assert again == first
    truth = world.sim.directory.tenant(TENANT).users
    assert {u.id for u in again.users} == set(truth)
    assert {u.surname for u in again.users if u.id == ids[0]} == {"During"}


def test_410_gone_falls_back_to_a_full_read(world: GraphWorld) -> None:
    ids = world.sim.seed(TENANT, 12)
    world.reader("contoso").read(DirectoryScope())
    world.sim.reset_delta(TENANT)
    world.sim.remove_user(TENANT, ids[0])
    world.sim.requests.clear()

    reader = world.reader("contoso")
    snap = reader.read(DirectoryScope())

    assert reader.last.mode == "full" and "expired" in reader.last.reason
    assert {u.id for u in snap.users} == set(ids[1:])
    paths = graph_calls(world, "/v1.0/")
    assert paths == ["/v1.0/users/delta", "/v1.0/users/delta", "/v1.0/users"]
    # and the new anchor works: the next read is incremental again
    world.sim.requests.clear()
    world.reader("contoso").read(DirectoryScope())
    assert graph_calls(world, "/v1.0/") == ["/v1.0/users/delta"]


@pytest.mark.parametrize("status", [400, 403, 404, 409])
def test_expired_delta_token_falls_back_to_a_full_read(world: GraphWorld, status: int) -> None:
    """syncStateNotFound with any 40X means a full resync (#13)."""
    world.sim.seed(TENANT, 4)
    world.reader("contoso").read(DirectoryScope())
    world.sim.expire_delta_tokens(status)
    reader = world.reader("contoso")
    assert len(reader.read(DirectoryScope()).users) == 4
    assert reader.last.mode == "full" and "syncStateNotFound" in reader.last.reason


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_full_read_when_asked_when_the_scope_changes_and_periodically(world: GraphWorld) -> None:
    world.sim.seed(TENANT, 3)
    clock = FakeClock()

    def mode(scope: DirectoryScope) -> str:
        reader = world.reader("contoso", clock=clock)
        reader.read(scope)
        return reader.last.mode

    assert mode(DirectoryScope()) == "full"
    assert mode(DirectoryScope()) == "delta"
    assert mode(DirectoryScope(full_sync=True)) == "full"
    assert mode(DirectoryScope(groups=("g1",))) == "full"  # what we read changed
    assert mode(DirectoryScope(groups=("g1",))) == "delta"
    clock.now += 23.9 * 3600  # fullSyncEveryHours defaults to 24
    assert mode(DirectoryScope(groups=("g1",))) == "delta"
    clock.now += 0.2 * 3600
    assert mode(DirectoryScope(groups=("g1",))) == "full"
    assert mode(DirectoryScope(groups=("g1",))) == "delta"


def test_full_sync_period_comes_from_settings(world: GraphWorld) -> None:
    world.write_config({"contoso": TENANT}, graph={"fullSyncEveryHours": 1})
    clock = FakeClock()
    world.reader("contoso", clock=clock).read(DirectoryScope())
    clock.now += 3601
    reader = world.reader("contoso", clock=clock)
    reader.read(DirectoryScope())
    assert reader.last.mode == "full" and "fullSyncEveryHours 1" in reader.last.reason


def test_unreadable_cache_means_a_full_read_not_an_error(world: GraphWorld) -> None:
    world.sim.seed(TENANT, 3)
    world.reader("contoso").read(DirectoryScope())
    for key in world.cursors.values:
        world.cursors.values[key] = "z1:not base64 at all"
    reader = world.reader("contoso")
    assert len(reader.read(DirectoryScope()).users) == 3
    assert reader.last.mode == "full"


def test_certificate_credential(world: GraphWorld, tmp_path) -> None:
    pem, thumbprint = world.sim.add_certificate()
    key_file = tmp_path / "config" / "app-key.pem"
    world.write_config(
        {"contoso": TENANT},
        credential={"certificate": {"privateKey": {"file": "app-key.pem"}, "thumbprint": thumbprint}},
    )
    key_file.write_text(pem, encoding="utf-8")
    world.sim.seed(TENANT, 5)
    assert len(world.reader("contoso").read(DirectoryScope()).users) == 5
    token_posts = [r for r in world.sim.requests if r.path.endswith("/oauth2/v2.0/token")]
    assert len(token_posts) == 1 and b"client_assertion=" in token_posts[0].body


def test_one_token_serves_many_reads(world: GraphWorld) -> None:
    world.sim.seed(TENANT, 3)
    for _ in range(3):
        world.reader("contoso").read(DirectoryScope())
    assert world.sim.identity.tokens_issued == 1
    assert world.sim.count("GET", f"/{TENANT}/v2.0/.well-known") == 1


def test_group_members_through_the_client(world: GraphWorld) -> None:
    users = world.sim.seed(TENANT, 4)
    inner = world.sim.add_group(TENANT, "Inner", [users[3]])
    sales = world.sim.add_group(TENANT, "Sales", [users[0], users[1], inner])
    reader = world.reader("contoso")
    with httpx.Client(verify=reader.tokens.verify, auth=BearerAuth(reader.tokens)) as http:
        client = GraphClient(HttpApi(http, reader.where), world.sim.url)
        direct = list(client.group_members(sales))
        nested = list(client.group_members(sales, transitive=True))
    assert [(m["@odata.type"], m["id"]) for m in direct] == [
        ("#microsoft.graph.user", users[0]), ("#microsoft.graph.user", users[1]), ("#microsoft.graph.group", inner),
    ]  # fmt: skip
    assert {m["id"] for m in nested} == {users[0], users[1], users[3], inner}
