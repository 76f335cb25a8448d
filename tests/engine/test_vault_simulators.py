"""End to end through the engine with the real IT Glue and Hudu clients against
their simulators (R12, R13, R18): match, create, conflict shown then resolved by
a pin, the uncategorised duplicate, a create whose outcome was lost then a rerun
without duplicates, throttling honoured.

The Entra directory is the file-backed provider (the Graph client is another
issue's work), so the engine here composes the providers itself; everything
else is the engine, planner, store and executor as the CLI runs them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.config import load_valid_config
from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.model import DirSource, marker_text
from reconciler.core.plan import AddAccount, ChangeKind, CustomerPlan, LinkRecord, Plan
from reconciler.engine import Engine
from reconciler.integrations.hudu.client import open_hudu
from reconciler.integrations.itglue.client import open_itglue
from reconciler.providers.base import CustomerProviders
from reconciler.providers.files import FileDirectory
from reconciler.providers.http import RetryPolicy
from reconciler.testing.httpsim import Fault, TestCA
from reconciler.testing.hudu import HuduSimulator
from reconciler.testing.itglue import ItGlueSimulator

KEY = "e2e-KEY-c0ffee"
FAST = RetryPolicy(base_delay=0.02, max_attempts=3)
USERS = ["ann", "bob", "cid", "dan", "eve"]


class SimEngine(Engine):
    """The engine with a file-backed Entra directory and the real vault clients."""

    def providers(self, eff: EffectiveCustomer) -> CustomerProviders:
        ctx = self.context(eff)
        entra = FileDirectory(self.config.root / "entra" / f"{eff.name}.json", DirSource.ENTRA, eff.name)
        links = eff.doc.spec.integrations
        vault = open_itglue(ctx, retry=FAST) if links.itglue_organization_id else open_hudu(ctx, retry=FAST)
        return CustomerProviders(entra=entra, vault=vault)


def write_config(root: Path, ca: TestCA, connection: str, link: str, pins: str = "") -> None:
    (root / "entra").mkdir(parents=True, exist_ok=True)
    (root / "api.key").write_text(KEY)
    (root / "settings.yaml").write_text(f"""\
apiVersion: reconciler.dev/v1
kind: Settings
metadata: {{name: msp}}
spec:
  features: {{passwordManager: true}}
  connections:
    graph: {{clientId: 11111111-2222-3333-4444-555555555555, credential: {{clientSecret: {{env: UNUSED_GRAPH_SECRET}}}}}}
{connection}
---
apiVersion: reconciler.dev/v1
kind: ImportPolicy
metadata: {{name: o365}}
spec:
  appliesTo: {{customers: [acme]}}
  source: entra
  options: {{passwordEntryMatching: true}}
---
apiVersion: reconciler.dev/v1
kind: Customer
metadata: {{name: acme}}
spec:
  directories: {{entra: {{tenantId: 00000000-0000-4000-8000-00000000ac3e}}}}
  integrations: {{{link}}}
  pins: [{pins}]
""")
    users = [
        {
            "id": f"id-{u}",
            "upn": f"{u}@acme.test",
            "mail": f"{u}@acme.test",
            "licensed": True,
            "given_name": u,
        }
        for u in USERS
    ]
    (root / "entra" / "acme.json").write_text(json.dumps({"format": 1, "users": users}))


def plan(root: Path) -> tuple[SimEngine, Plan, CustomerPlan]:
    engine = SimEngine.open(load_valid_config(root))
    assert isinstance(engine, SimEngine)
    p = engine.plan()
    assert len(p.customers) == 1 and not p.customers[0].reason, p.customers[0].reason
    return engine, p, p.customers[0]


def decisions(cp: CustomerPlan) -> dict[str, tuple[str, str | None]]:
    """username -> (what the plan does in the vault, record id)."""
    out: dict[str, tuple[str, str | None]] = {}
    for c in cp.changes:
        if c.kind in (ChangeKind.LINK, ChangeKind.CREATE_RECORD):
            out[c.label.split("@")[0]] = (c.kind.value, c.record_id if isinstance(c, LinkRecord) else None)
    for conflict in cp.conflicts:
        out[conflict.label.split("@")[0]] = ("conflict", None)
    return out


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def itglue(ca: TestCA) -> Iterator[ItGlueSimulator]:
    with ItGlueSimulator(ca, api_key=KEY) as s:
        assert isinstance(s, ItGlueSimulator)
        for name in ("Office 365", "Azure AD", "Active Directory"):
            s.add_category(name)
        yield s


def test_itglue_match_create_conflict_pin_lost_create_and_rerun(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    org = itglue.add_organization("Acme")
    ann = itglue.add_password(org, "Ann O365", "ann@acme.test", "Office 365")
    bob1 = itglue.add_password(org, "Bob O365", "BOB@acme.test", "Office 365")
    bob2 = itglue.add_password(org, "Bob Azure", "bob@acme.test", "Azure AD")
    itglue.add_password(org, "Cid (no category)", "cid@acme.test", None)  # R13: never matches
    itglue.add_password(org, "Dan old", "dan@acme.test", "Office 365", archived=True)
    itglue.add_password(org, "Ann on-prem", "ann@acme.test", "Active Directory")  # wrong source
    root = tmp_path / "cfg"
    connection = f"    itglue: {{baseUrl: '{itglue.url}', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'}}"
    write_config(root, ca, connection, f"itglueOrganizationId: '{org}'")
    itglue.faults.add(Fault.error(429, retry_after="0.3"), path_prefix="/passwords")

    engine, p, cp = plan(root)

    assert itglue.waits_after_throttle()[0] >= 0.3
    assert decisions(cp) == {
        "ann": ("link", str(ann)),
        "bob": ("conflict", None),
        "cid": ("create-record", None),
        "dan": ("create-record", None),
        "eve": ("create-record", None),
    }
    conflict = cp.conflicts[0]
    assert {c[0] for c in conflict.candidates} == {str(bob1), str(bob2)}
    assert "bob@acme.test" in conflict.pin
    # the first create reaches IT Glue, but its answer and every look for it are lost
    itglue.faults.add(Fault.drop(after=True), path_prefix="/passwords")
    itglue.faults.add(Fault.drop(), times=FAST.max_attempts, path_prefix="/passwords")
    results = engine.apply(p)
    failed = [o for r in results for o in r.failed]
    assert len(failed) == 1
    lost = failed[0].change.label
    assert "outcome unknown" in failed[0].message and "looking for it failed" in failed[0].message
    assert [q.username for q in itglue.passwords_of(org) if q.notes].count(lost) == 1  # created once

    # rerun: the lost creation is found by its marker and linked, nothing is created twice
    engine, p, cp = plan(root)
    assert decisions(cp) == {
        "bob": ("conflict", None),
        lost.split("@")[0]: ("link", record_of(itglue, org, lost)),
    }
    engine.apply(p)

    # the conflict is resolved by a pin naming one candidate
    pin = f"{{account: bob@acme.test, integration: itglue, recordId: '{bob2}'}}"
    write_config(root, ca, connection, f"itglueOrganizationId: '{org}'", pins=pin)
    engine, p, cp = plan(root)
    assert decisions(cp) == {"bob": ("link", str(bob2))}
    engine.apply(p)

    engine, p, cp = plan(root)
    assert cp.changes == () and cp.conflicts == ()
    ours = [q for q in itglue.passwords_of(org) if q.notes and "[reconciler:managed" in q.notes]
    assert sorted(q.username or "" for q in ours) == ["cid@acme.test", "dan@acme.test", "eve@acme.test"]
    assert sorted(usernames(itglue, org)).count("cid@acme.test") == 2  # beside the uncategorised one
    assert all(q.password is None for q in ours)  # never wrote a password value
    assert itglue.show_password_requests == 0


def usernames(sim: ItGlueSimulator, org: int) -> list[str]:
    return [q.username or "" for q in sim.passwords_of(org)]


def record_of(sim: ItGlueSimulator, org: int, username: str) -> str:
    return str(next(q.id for q in sim.passwords_of(org) if q.username == username and q.notes))


def test_hudu_match_create_and_rerun(tmp_path: Path, ca: TestCA) -> None:
    with HuduSimulator(ca, api_key=KEY) as sim:
        assert isinstance(sim, HuduSimulator)
        company = sim.add_company("Acme")
        ann = sim.add_password(company, "Ann", "ann@acme.test", "Microsoft 365")
        sim.add_password(company, "Bob 1", "bob@acme.test", "Office 365")
        sim.add_password(company, "Bob 2", "bob@acme.test", "Azure Active Directory")
        sim.add_password(company, "Cid", "cid@acme.test", None)
        earlier = sim.add_password(
            company,
            "Dan",
            "dan@acme.test",
            "Office 365",
            description=marker_text("acme/end-user/entra:id-dan"),
        )
        root = tmp_path / "cfg"
        connection = f"    hudu: {{baseUrl: '{sim.url}/api/v1', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}', pageSize: 2}}"
        write_config(root, ca, connection, f"huduCompanyId: '{company}'")
        # a crash survivor: the accounts batch committed (it always precedes the creates),
        # then the process died after Hudu created dan's entry and before its link
        survivor = SimEngine.open(load_valid_config(root))
        added = [c for c in survivor.plan().customers[0].changes if isinstance(c, AddAccount)]
        with survivor.store.batch():
            for change in added:
                survivor.store.put_account("acme", change.account)
            survivor.store.bump_serial("acme")

        engine, p, cp = plan(root)
        got = decisions(cp)
        assert got["ann"] == ("link", str(ann)) and got["bob"] == ("conflict", None)
        assert got["cid"] == ("create-record", None) and got["eve"] == ("create-record", None)
        assert got["dan"] == ("link", str(earlier))  # a crash survivor with our marker
        results = engine.apply(p)
        assert not [o for r in results for o in r.failed]

        engine, p, cp = plan(root)
        assert decisions(cp) == {"bob": ("conflict", None)}
        created = [p for p in sim.passwords_of(company) if "[reconciler:managed" in p["description"]]
        assert sorted(p["username"] for p in created) == ["cid@acme.test", "dan@acme.test", "eve@acme.test"]
        assert {p["password_type"] for p in created if p["id"] != earlier} == {"Office 365"}
        assert all(p["password"] == "" for p in created if p["id"] != earlier)
