"""The link guard (#12) through the engine, against the real IT Glue and Hudu
clients and simulators: a 200 answer with an empty list, or with records without
an id, never creates a second record for our linked accounts; a record a person
really deleted is re-created through a `recreate-record` change naming it."""

from __future__ import annotations

import time
from pathlib import Path

from reconciler.config import load_valid_config
from reconciler.core.plan import ChangeKind, Status
from reconciler.engine import Engine
from reconciler.testing.httpsim import Fault, TestCA
from reconciler.testing.hudu import HuduSimulator
from reconciler.testing.itglue import ItGlueSimulator
from tests.engine.test_vault_simulators import KEY, SimEngine, ca, itglue, write_config

__all__ = ["ca", "itglue"]  # fixtures used here


class Later:
    """The engine's wall clock, moved on past a verification (#16: an unchanged
    customer's integrations are listed only when a verification is due)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def verification_due(self) -> None:
        self.offset += 25 * 3600  # verifyLinksEveryHours defaults to 24


def engine_for(root: Path, clock: Later | None = None) -> Engine:
    return SimEngine.open(load_valid_config(root), clock or Later())


def ours(sim: ItGlueSimulator, org: int) -> list[int]:
    return [p.id for p in sim.passwords_of(org) if p.notes and "[reconciler:managed" in p.notes]


def test_itglue_empty_and_id_less_answers_are_failed_reads(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    org = itglue.add_organization("Acme")
    root = tmp_path / "cfg"
    connection = f"    itglue: {{baseUrl: '{itglue.url}', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'}}"
    write_config(root, ca, connection, f"itglueOrganizationId: '{org}'")
    clock = Later()
    engine = engine_for(root, clock)
    first = engine.plan()
    assert first.customers[0].count(ChangeKind.CREATE_RECORD) == 5
    assert not [o for r in engine.apply(first) for o in r.failed]
    assert len(ours(itglue, org)) == 5

    # one HTTP 200 with an empty list: refused, nothing created, the reason says why
    itglue.faults.add(Fault.error(200, body={"data": [], "meta": {}}), path_prefix="/passwords")
    clock.verification_due()
    cp = engine.plan().customers[0]
    assert cp.status is Status.REFUSED, cp.reason
    assert "IT Glue answered with no records while 5 accounts are linked" in cp.reason
    assert cp.count(ChangeKind.CREATE_RECORD) == 0 and cp.count(ChangeKind.RECREATE_RECORD) == 5
    assert engine.apply(engine.plan()) == []  # the healthy answer again: nothing to do
    assert len(ours(itglue, org)) == 5

    # a page holding a record without an id: a failed read, whatever the override says
    body = {"data": [{"type": "passwords", "attributes": {"name": "x", "username": "ann@acme.test"}}]}
    for allow in (False, True):
        itglue.faults.add(Fault.error(200, body={**body, "meta": {}}), path_prefix="/passwords")
        clock.verification_due()
        cp = engine.plan(allow_mass_removal=allow).customers[0]
        assert cp.status is Status.ERROR
        assert cp.reason == "acme: IT Glue: GET /passwords: a record in the answer has no id"
    # a malformed record (attributes not an object) likewise
    bad = {"data": [{"id": "9", "type": "passwords", "attributes": ["x"]}], "meta": {}}
    itglue.faults.add(Fault.error(200, body=bad), path_prefix="/passwords")
    clock.verification_due()
    cp = engine.plan().customers[0]
    assert cp.status is Status.ERROR and "malformed record" in cp.reason

    # a record really deleted by a person: a recreate-record change naming it
    gone = ours(itglue, org)[2]
    with itglue._data_lock:
        del itglue.store.passwords[gone]
    clock.verification_due()
    plan = engine.plan()
    cp = plan.customers[0]
    assert cp.status is Status.OK
    assert [(c.kind, getattr(c, "old_record_id", None)) for c in cp.changes] == [
        (ChangeKind.RECREATE_RECORD, str(gone))
    ]
    assert "1 vanished record to re-create" in plan.summary().line()
    assert not [o for r in engine.apply(plan) for o in r.failed]
    assert len(ours(itglue, org)) == 5
    clock.verification_due()
    assert engine.plan().customers[0].changes == ()


def test_hudu_empty_list_is_refused_and_the_override_shows_recreates(tmp_path: Path, ca: TestCA) -> None:
    with HuduSimulator(ca, api_key=KEY) as sim:
        assert isinstance(sim, HuduSimulator)
        company = sim.add_company("Acme")
        root = tmp_path / "cfg"
        connection = (
            f"    hudu: {{baseUrl: '{sim.url}/api/v1', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'}}"
        )
        write_config(root, ca, connection, f"huduCompanyId: '{company}'")
        clock = Later()
        engine = engine_for(root, clock)
        assert not [o for r in engine.apply(engine.plan()) for o in r.failed]
        created = len(sim.passwords_of(company))
        assert created == 5

        sim.faults.add(Fault.error(200, body={"asset_passwords": []}), path_prefix="/api/v1/asset_passwords")
        clock.verification_due()
        plan = engine.plan()
        cp = plan.customers[0]
        assert cp.status is Status.REFUSED and "Hudu answered with no records" in cp.reason
        assert engine.apply(plan) == []

        # records without an id on a page
        rows = {"asset_passwords": [{"name": "x", "username": "ann@acme.test"}]}
        sim.faults.add(Fault.error(200, body=rows), path_prefix="/api/v1/asset_passwords")
        clock.verification_due()
        cp = engine.plan().customers[0]
        assert cp.status is Status.ERROR and "has no id" in cp.reason

        # the override accepts the empty answer: every vanished record is a recreate-record
        sim.faults.add(Fault.error(200, body={"asset_passwords": []}), path_prefix="/api/v1/asset_passwords")
        clock.verification_due()
        forced = engine.plan(allow_mass_removal=True).customers[0]
        assert forced.status is Status.OK
        assert forced.count(ChangeKind.RECREATE_RECORD) == 5 and forced.count(ChangeKind.CREATE_RECORD) == 0
        assert len(sim.passwords_of(company)) == created
