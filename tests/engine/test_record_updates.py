"""R25 (linked records kept up to date) and R8 `onRemoval: archive` through the
engine, against the real IT Glue and Hudu clients and their simulators.

- a renamed user's entry created by reconciler gets one `update-record` with the
  field-level before/after; an entry only matched (not ours) is left alone by
  default; the update never rewrites the marker or lineage tag in the notes;
- nothing changed: no update planned, no write sent;
- the update guard refuses a plan that updates too many linked records unless
  `allow_mass_update`;
- a removed account's entry is archived (never deleted) with `onRemoval: archive`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.config import load_valid_config
from reconciler.core.plan import ChangeKind, FieldDiff, Status, UpdateRecord
from reconciler.engine import Engine
from reconciler.testing.httpsim import Simulator, TestCA
from reconciler.testing.hudu import HuduSimulator
from reconciler.testing.itglue import ItGlueSimulator
from tests.engine.test_vault_simulators import KEY, SimEngine, ca

__all__ = ["ca"]
USERS = ["ann", "bob", "cid", "dan", "eve"]


def write(root: Path, connection: str, link: str, policy: str = "", safety: str = "") -> None:
    (root / "entra").mkdir(parents=True, exist_ok=True)
    (root / "api.key").write_text(KEY)
    (root / "settings.yaml").write_text(f"""\
apiVersion: reconciler.dev/v1
kind: Settings
metadata: {{name: msp}}
spec:
  features: {{passwordManager: true}}
  {safety}
  connections:
    graph: {{clientId: 11111111-2222-3333-4444-555555555555, credential: {{clientSecret: {{env: UNUSED}}}}}}
{connection}
---
apiVersion: reconciler.dev/v1
kind: ImportPolicy
metadata: {{name: o365}}
spec:
  appliesTo: {{customers: [acme]}}
  source: entra
  options: {{passwordEntryMatching: true}}
  {policy}
---
apiVersion: reconciler.dev/v1
kind: Customer
metadata: {{name: acme}}
spec:
  directories: {{entra: {{tenantId: 00000000-0000-4000-8000-00000000ac3e}}}}
  integrations: {{{link}}}
""")


def users(root: Path, names: dict[str, str], gone: tuple[str, ...] = ()) -> None:
    rows = [
        {"id": f"id-{u}", "upn": f"{u}@acme.test", "mail": f"{u}@acme.test", "licensed": u not in gone,
         "given_name": u, "display_name": names.get(u, u.title())}
        for u in USERS
    ]  # fmt: skip
    (root / "entra" / "acme.json").write_text(json.dumps({"format": 1, "users": rows}))


class Vault:
    """One vault simulator seen the same way: entries of the customer by id."""

    def __init__(self, sim: Simulator, link: str, connection: str, entries: callable) -> None:  # type: ignore[valid-type]
        self.sim, self.link, self.connection, self._entries = sim, link, connection, entries

    def entries(self) -> dict[str, dict[str, object]]:
        return self._entries()  # type: ignore[no-any-return]


@pytest.fixture(params=["itglue", "hudu"])
def vault(request: pytest.FixtureRequest, ca: TestCA) -> Iterator[Vault]:
    if request.param == "itglue":
        with ItGlueSimulator(ca, api_key=KEY) as it:
            assert isinstance(it, ItGlueSimulator)
            it.add_category("Office 365")
            org = it.add_organization("Acme")
            it.add_password(org, "Ann (kept by hand)", "ann@acme.test", "Office 365")

            def it_entries() -> dict[str, dict[str, object]]:
                return {
                    str(p.id): {
                        "name": p.name,
                        "username": p.username,
                        "notes": p.notes,
                        "archived": p.archived,
                    }
                    for p in it.passwords_of(org)
                }

            conn = f"    itglue: {{baseUrl: '{it.url}', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'}}"
            yield Vault(it, f"itglueOrganizationId: '{org}'", conn, it_entries)
    else:
        with HuduSimulator(ca, api_key=KEY) as hu:
            assert isinstance(hu, HuduSimulator)
            company = hu.add_company("Acme")
            hu.add_password(company, "Ann (kept by hand)", "ann@acme.test", "Office 365")

            def hu_entries() -> dict[str, dict[str, object]]:
                return {
                    str(p["id"]): {"name": p["name"], "username": p["username"], "notes": p["description"],
                                   "archived": p["archived"]}
                    for p in hu.passwords_of(company)
                }  # fmt: skip

            conn = (
                f"    hudu: {{baseUrl: '{hu.url}/api/v1', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'}}"
            )
            yield Vault(hu, f"huduCompanyId: '{company}'", conn, hu_entries)


def engine(root: Path) -> Engine:
    return SimEngine.open(load_valid_config(root))


def writes(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.method in ("PATCH", "PUT"))


def test_rename_updates_our_entry_only_and_never_its_marker(tmp_path: Path, vault: Vault) -> None:
    root = tmp_path / "cfg"
    write(root, vault.connection, vault.link, "onRemoval: archive")
    users(root, {})
    assert not [o for r in engine(root).apply(engine(root).plan()) for o in r.failed]
    before = vault.entries()
    assert len(before) == 5  # ann matched (not ours), four created with our marker

    # nothing changed in the directory: no update planned, nothing written
    assert engine(root).plan().customers[0].changes == ()
    assert writes(vault.sim) == 0

    users(root, {"ann": "Ann Renamed", "bob": "Robert Builder"})
    plan = engine(root).plan()
    changes = plan.customers[0].changes
    assert sorted(c.label for c in changes if c.kind is ChangeKind.UPDATE) == [
        "ann@acme.test",
        "bob@acme.test",
    ]
    # ann's entry is not ours: the default leaves it alone
    (change,) = [c for c in changes if c.kind is not ChangeKind.UPDATE]
    assert isinstance(change, UpdateRecord) and change.kind is ChangeKind.UPDATE_RECORD
    assert change.label == "bob@acme.test" and change.rule == "R25"
    assert change.diffs == (FieldDiff("entryName", "Bob", "Robert Builder"),)
    assert "1 record to update" in plan.summary().line()
    assert not [o for r in engine(root).apply(plan) for o in r.failed]
    after = vault.entries()
    (bob,) = [k for k, e in after.items() if e["username"] == "bob@acme.test"]
    assert after[bob]["name"] == "Robert Builder"
    assert after[bob]["notes"] == before[bob]["notes"]  # marker and lineage tag untouched
    assert "[reconciler:lineage " in str(after[bob]["notes"])
    assert {k: e for k, e in after.items() if k != bob} == {k: e for k, e in before.items() if k != bob}
    assert engine(root).plan().customers[0].changes == ()  # converged; a second apply does nothing

    # onRemoval: archive: eve loses her licence; her entry is archived, never deleted
    users(root, {"ann": "Ann Renamed", "bob": "Robert Builder"}, gone=("eve",))
    plan = engine(root).plan()
    kinds = sorted(c.kind.value for c in plan.customers[0].changes)
    assert kinds == ["archive-record", "remove"]
    assert not [o for r in engine(root).apply(plan) for o in r.failed]
    (eve,) = [e for e in vault.entries().values() if e["username"] == "eve@acme.test"]
    assert eve["archived"] is True
    assert engine(root).plan().customers[0].changes == ()


def test_record_fields_directory_takes_matched_entries_and_the_guard_holds(
    tmp_path: Path, vault: Vault
) -> None:
    root = tmp_path / "cfg"
    policy = "recordFields: {entryName: directory}"
    write(
        root, vault.connection, vault.link, policy, "safety: {maxRemovalPercent: 30, minExistingAccounts: 2}"
    )
    users(root, {})
    assert not [o for r in engine(root).apply(engine(root).plan()) for o in r.failed]
    users(root, {u: f"{u.title()} at Contoso" for u in ("ann", "bob", "cid")})
    cp = engine(root).plan().customers[0]
    assert cp.status is Status.REFUSED  # 3 of 5 linked records (60% > 30%)
    assert "would update 3 of 5 linked records" in cp.reason and "--allow-mass-update" in cp.reason
    forced = engine(root).plan(allow_mass_update=True)
    cp = forced.customers[0]
    assert cp.status is Status.OK and cp.count(ChangeKind.UPDATE_RECORD) == 3
    # applying a saved plan re-checks the guard against the state as it is now
    (refused,) = engine(root).apply(forced)
    assert refused.outcome.value == "refused" and "would update 3 of 5" in refused.error
    (done,) = engine(root).apply(forced, allow_mass_update=True)
    assert not done.failed
    names = {e["username"]: e["name"] for e in vault.entries().values()}
    assert names["ann@acme.test"] == "Ann at Contoso"  # matched, not ours: owned now by recordFields
    assert engine(root).plan().customers[0].changes == ()
