"""Integrations read only when needed (#16), through the engine against the real IT
Glue client and its simulator: an unchanged customer's run lists no password
entries; a new account, a pin or `--full-sync` lists them; a verification
(`verifyLinksEveryHours`) finds a record a person deleted, and the link guard
still refuses an empty answer; a listing that misses a linked record is no
verification, so the plan keeps showing the vanished record until it is handled."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.core.model import IntegrationKind
from reconciler.core.plan import ChangeKind, Status
from reconciler.core.reads import JITTER, verify_after
from reconciler.core.render import render_markdown, render_text
from reconciler.engine import Engine
from reconciler.testing.httpsim import Fault, TestCA
from reconciler.testing.itglue import ItGlueSimulator
from tests.engine.test_link_guard_sims import Later, engine_for, ours
from tests.engine.test_vault_simulators import ca, itglue, write_config

__all__ = ["ca", "itglue"]  # fixtures used here


def listings(sim: ItGlueSimulator) -> int:
    return sim.count("GET", "/passwords")


def setup(tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator, pins: str = "") -> tuple[Path, int]:
    org = itglue.add_organization("Acme")
    root = tmp_path / "cfg"
    connection = f"    itglue: {{baseUrl: '{itglue.url}', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'}}"
    write_config(root, ca, connection, f"itglueOrganizationId: '{org}'", pins)
    return root, org


def onboarded(root: Path, clock: Later) -> Engine:
    engine = engine_for(root, clock)
    first = engine.plan()
    read = first.customers[0].reads
    assert [(r.integration, r.listed, r.why) for r in read] == [
        (IntegrationKind.ITGLUE, True, "new or empty state")
    ]
    assert not [o for r in engine.apply(first) for o in r.failed]
    return engine


def add_user(root: Path, name: str) -> None:
    path = root / "entra" / "acme.json"
    data = json.loads(path.read_text())
    data["users"].append(
        {"id": f"id-{name}", "upn": f"{name}@acme.test", "mail": f"{name}@acme.test", "licensed": True}
    )
    path.write_text(json.dumps(data))


def test_an_unchanged_run_lists_no_entries_and_the_plan_says_when_they_were_read(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    root, _org = setup(tmp_path, ca, itglue)
    clock = Later()
    engine = onboarded(root, clock)
    before = listings(itglue)
    clock.offset += 3600  # an hour later: nothing changed
    plan = engine.plan()
    cp = plan.customers[0]
    assert listings(itglue) == before, "an unchanged run must not list IT Glue"
    assert cp.status is Status.OK and cp.changes == ()
    (read,) = cp.reads
    assert not read.listed and read.why == "5 linked accounts unchanged"
    assert read.last_full_read and read.verify_by > read.last_full_read
    text = render_text(plan, verbose=True)
    assert (
        f"read: itglue: not listed (5 linked accounts unchanged); last full read {read.last_full_read}"
        in text
    )
    assert "0 of 1 listed in full" in render_markdown(plan)
    js = plan.to_dict()["customers"][0]["reads"]
    assert js == [
        {
            "integration": "itglue",
            "listed": False,
            "why": "5 linked accounts unchanged",
            "last_full_read": read.last_full_read,
            "verify_by": read.verify_by,
        }
    ]
    # a new engine (a later CLI run, CI) reads the same memory from the state
    again = engine_for(root, clock).plan().customers[0]
    assert listings(itglue) == before and not again.reads[0].listed


def test_a_new_account_lists_the_entries_and_is_matched(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    root, org = setup(tmp_path, ca, itglue)
    clock = Later()
    onboarded(root, clock)
    itglue.add_password(org, "Fay", "fay@acme.test", "Office 365")  # documented by hand already
    add_user(root, "fay")
    before = listings(itglue)
    engine = engine_for(root, clock)
    cp = engine.plan().customers[0]
    assert listings(itglue) > before
    assert cp.reads[0].listed and cp.reads[0].why == "1 account to match (new, unlinked or in conflict)"
    assert [c.kind for c in cp.changes] == [ChangeKind.ADD, ChangeKind.LINK]  # linked, not duplicated
    assert not [o for r in engine.apply(engine.plan()) for o in r.failed]
    before = listings(itglue)
    assert engine.plan().customers[0].changes == () and listings(itglue) == before


def test_a_due_verification_finds_a_deleted_record_and_keeps_showing_it(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    root, org = setup(tmp_path, ca, itglue)
    clock = Later()
    engine = onboarded(root, clock)
    gone = ours(itglue, org)[1]
    with itglue._data_lock:
        del itglue.store.passwords[gone]
    # between verifications: not listed, so not noticed, and nothing is planned for it
    assert engine.plan().customers[0].changes == ()
    clock.offset += 24 * 3600  # one verifyLinksEveryHours later at most: due for every customer
    before = listings(itglue)
    cp = engine.plan().customers[0]
    assert listings(itglue) > before and cp.reads[0].why.startswith("verification due")
    assert [(c.kind, getattr(c, "old_record_id", "")) for c in cp.changes] == [
        (ChangeKind.RECREATE_RECORD, str(gone))
    ]
    # a listing that missed a linked record proves nothing: the next plan lists again and
    # still shows the vanished record (a plan without an apply changes nothing)
    cp = engine.plan().customers[0]
    assert cp.reads[0].listed and cp.count(ChangeKind.RECREATE_RECORD) == 1
    assert not [o for r in engine.apply(engine.plan()) for o in r.failed]
    assert len(ours(itglue, org)) == 5
    before = listings(itglue)
    assert engine.plan().customers[0].changes == () and listings(itglue) > before  # verified again
    before = listings(itglue)
    assert engine.plan().customers[0].changes == () and listings(itglue) == before  # then quiet


def test_the_link_guard_refuses_an_empty_answer_at_verification(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    root, _org = setup(tmp_path, ca, itglue)
    clock = Later()
    engine = onboarded(root, clock)
    clock.verification_due()
    itglue.faults.add(Fault.error(200, body={"data": [], "meta": {}}), path_prefix="/passwords")
    cp = engine.plan().customers[0]
    assert cp.status is Status.REFUSED and "IT Glue answered with no records" in cp.reason
    assert cp.count(ChangeKind.CREATE_RECORD) == 0
    # the refused answer was no verification: the next run lists again (and is healthy)
    before = listings(itglue)
    cp = engine.plan().customers[0]
    assert listings(itglue) > before and cp.status is Status.OK and cp.changes == ()
    before = listings(itglue)
    assert not engine.plan().customers[0].reads[0].listed and listings(itglue) == before


def test_full_sync_and_a_new_pin_list_the_entries(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    root, org = setup(tmp_path, ca, itglue)
    clock = Later()
    engine = onboarded(root, clock)
    assert engine.plan(full_sync=True).customers[0].reads[0].why == "full sync"
    eff = engine.customers(["acme"])[0]
    now = engine.plan_one(eff, engine.plan_options(), refresh_selection=True)  # the daemon's import now
    assert now.reads[0].listed and now.reads[0].why == "import now"
    other = itglue.add_password(org, "Ann (old)", "ann@acme.test", "Office 365")
    text = (root / "settings.yaml").read_text()
    pin = f'{{account: ann@acme.test, integration: itglue, recordId: "{other}"}}'
    (root / "settings.yaml").write_text(text.replace("pins: []", f"pins: [{pin}]"))
    engine = engine_for(root, clock)
    cp = engine.plan().customers[0]
    assert cp.reads[0].why == "a pin names another record than the link"
    assert [(c.kind, getattr(c, "record_id", "")) for c in cp.changes] == [(ChangeKind.LINK, str(other))]


def test_the_verification_time_is_jittered_per_customer_never_beyond_the_period() -> None:
    times = {verify_after(f"c{i}", IntegrationKind.HUDU, 24) for i in range(200)}
    assert len(times) == 200
    assert all(24 * 3600 * (1 - JITTER) <= t <= 24 * 3600 for t in times)
    assert verify_after("c1", IntegrationKind.HUDU, 24) == verify_after("c1", IntegrationKind.HUDU, 24)
    assert verify_after("c1", IntegrationKind.HUDU, 24) != verify_after("c1", IntegrationKind.ITGLUE, 24)
