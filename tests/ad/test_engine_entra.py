"""Password sync (R3) end to end: the engine with the real AD reader against Samba
and the real Entra client against the Graph simulator."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from reconciler.config.load import load_config
from reconciler.core.model import DirSource
from reconciler.core.plan import ChangeKind, CustomerPlan, Status
from reconciler.engine import Engine
from reconciler.providers.graph import forget_apps
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA
from tests.ad import seed
from tests.ad.conftest import AdSetup

TENANT = "44444444-4444-4444-4444-444444444444"
SECRET_ENV = "RECONCILER_TEST_AD_GRAPH_SECRET"


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphSimulator]:
    forget_apps()
    sim = GraphSimulator(TestCA.create(tmp_path / "graph-ca"), tenants=(TENANT,))
    sim.start()
    monkeypatch.setenv(SECRET_ENV, sim.identity.client_secret)
    yield sim
    sim.stop()


def graph_settings(sim: GraphSimulator) -> dict[str, object]:
    assert sim.ca is not None
    return {
        "connections": {
            "graph": {
                "clientId": sim.identity.client_id,
                "credential": {"clientSecret": {"env": SECRET_ENV}},
                "authorityHost": sim.url,
                "graphUrl": sim.url,
                "caFile": str(sim.ca.ca_file),
            }
        }
    }


def object_guid(admin: ldap3.Connection, dn: str) -> bytes:
    assert admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"])
    value: bytes = admin.response[0]["raw_attributes"]["objectGUID"][0]
    return value


def plan(ad: AdSetup) -> CustomerPlan:
    engine = Engine.open(load_config(ad.root))
    try:
        (cp,) = engine.plan().customers
    finally:
        engine.store.close()
    return cp


def test_password_sync_links_ad_users_to_licensed_entra_users(
    ad: AdSetup, admin: ldap3.Connection, graph: GraphSimulator
) -> None:
    alice_guid = base64.b64encode(object_guid(admin, seed.BY_SAM["alice"].dn)).decode()
    d = graph.directory
    ids = {
        # objectGUID -> onPremisesImmutableId, whatever the cloud UPN
        "alice": d.add_user(TENANT, "alice.archer@contoso.onmicrosoft.com", onPremisesImmutableId=alice_guid),
        # mS-DS-ConsistencyGuid wins over objectGUID where it is set
        "frank": d.add_user(
            TENANT, "frank.f@contoso.onmicrosoft.com",
            onPremisesImmutableId=base64.b64encode(seed.CONSISTENCY_GUID).decode(),
        ),
        "grace": d.add_user(TENANT, "grace@example.test", proxyAddresses=[]),  # by UPN
        "bob": d.add_user(  # by primary SMTP address
            TENANT, "b.baker@contoso.onmicrosoft.com",
            mail="bob@example.test", proxyAddresses=["SMTP:bob@example.test", "smtp:b.baker@contoso.onmicrosoft.com"],
        ),
    }  # fmt: skip
    d.add_user(TENANT, "someone.else@contoso.onmicrosoft.com")  # licensed, matches nobody in AD
    ad.write(ous=[seed.STAFF], password_sync=True, entra_tenant=TENANT, settings=graph_settings(graph))

    cp = plan(ad)
    assert cp.status is Status.OK, cp.reason
    added = {c.account.upn: c.account for c in cp.changes if c.kind is ChangeKind.ADD and c.account}
    assert {upn: a.entra_id for upn, a in added.items()} == {
        f"{sam}@example.test": entra_id for sam, entra_id in ids.items()
    }
    assert all(a.sources == (DirSource.AD, DirSource.ENTRA) for a in added.values())

    # R3: an AD user whose Entra account loses its license is no longer imported
    d.update_user(TENANT, ids["grace"], assignedLicenses=[])
    again = plan(ad)
    assert sorted(c.account.upn for c in again.changes if c.account) == [
        "alice@example.test", "bob@example.test", "frank@example.test",
    ]  # fmt: skip
    assert any(s.user == "grace@example.test" and s.rule == "R3" for s in again.skipped), again.skipped
