"""PSA tickets (ConnectWise, Autotask, Halo) driven by the daemon against the ConnectWise simulator:
one ticket per (customer, cause), noted while it lasts, closed when it resolves, never
two, also across a restart (the ticket id is kept in the daemon store)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.daemon.notify import outbox
from reconciler.daemon.notify.outbox import Notifier
from reconciler.errors import ReconcilerError
from reconciler.testing.autotask import AutotaskSimulator
from reconciler.testing.connectwise import ConnectWiseSimulator
from reconciler.testing.halo import HaloSimulator
from reconciler.testing.httpsim import TestCA

from .conftest import Rig, edit_yaml, make_rig, write

PUBLIC, PRIVATE, CLIENT = "pub-T1", "priv-T2-secret", "2a7e3c1d-0000-4000-8000-00000000c1d1"
HOUR = 3600.0


def attach(rig: Rig) -> Notifier:
    n = Notifier(
        lambda: rig.scheduler.source.config.settings_doc.spec,
        rig.root,
        rig.state,
        rig.clock,
        customers=rig.scheduler.customers,
        store=rig.store,
    )
    n.start()
    rig.scheduler.notifier = n
    return n


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[ConnectWiseSimulator]:
    ca = TestCA.create(tmp_path / "ca")
    s = ConnectWiseSimulator(ca, company_id="msp", public_key=PUBLIC, private_key=PRIVATE, client_id=CLIENT)
    s.add_company(250, "Fabrikam")
    with s:
        yield s


@pytest.fixture
def rig(config_dir: Path, sim: ConnectWiseSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setattr(outbox, "RETRY_BASE_SECONDS", 0.05)
    for name, value in (("CW_PUBLIC", PUBLIC), ("CW_PRIVATE", PRIVATE), ("CW_CLIENT", CLIENT)):
        monkeypatch.setenv(name, value)
    assert sim.ca is not None
    (config_dir / "cw-ca.pem").write_bytes(sim.ca.ca_file.read_bytes())

    def change(d: dict[str, Any]) -> None:
        d["spec"].setdefault("connections", {})["connectwise"] = {
            "site": sim.url.removeprefix("https://"), "companyId": "msp", "caFile": "cw-ca.pem",
            "publicKey": {"env": "CW_PUBLIC"}, "privateKey": {"env": "CW_PRIVATE"}, "clientId": {"env": "CW_CLIENT"},
        }  # fmt: skip
        d["spec"]["notifications"] = [
            {"name": "cw", "type": "connectwise-ticket", "boardId": 1, "statusId": 10, "closedStatusId": 11,
             "events": ["run.failed"], "remindEveryHours": 1},
        ]  # fmt: skip

    edit_yaml(config_dir / "settings.yaml", change)
    r = make_rig(config_dir)
    r.scheduler.notifier = attach(r)
    yield r
    r.close()


def wait_for(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert check()


def run(rig: Rig, customer: str) -> None:
    rig.scheduler.request(customer, "test")
    rig.cycle()


def test_one_ticket_opened_noted_closed_and_never_two_across_a_restart(
    rig: Rig, sim: ConnectWiseSimulator, config_dir: Path
) -> None:
    rig.cycle()
    assert sim.desk.creates == 0
    broken = config_dir / "live" / "fabrikam" / "entra.json"  # a directory read: every run makes it
    good = broken.read_text()
    write(broken, "{not json")
    run(rig, "fabrikam")
    notifier = rig.scheduler.notifier
    assert notifier is not None
    wait_for(lambda: sim.desk.creates == 1)
    (ticket,) = sim.desk.tickets.values()
    assert (
        ticket["company"] == {"id": 250} and ticket["board"] == {"id": 1} and ticket["status"] == {"id": 10}
    )
    assert (
        ticket["summary"].startswith("rc-")
        and "run.failed" in ticket["summary"]
        and len(ticket["summary"]) <= 100
    )
    wait_for(lambda: "id" in (rig.state.get_record("ticket", "cw|fabrikam|run") or {}))
    record = rig.state.get_record("ticket", "cw|fabrikam|run")
    assert record is not None and record["id"] == ticket["id"]

    rig.clock.advance(60)
    run(rig, "fabrikam")  # still failing, within the hour: nothing
    time.sleep(0.3)
    assert sim.desk.creates == 1 and ticket["_notes"] == []

    notifier.stop(5)  # a restart: a new process on the same state and simulator
    now = rig.clock.now()
    rig.close()
    rig2 = make_rig(config_dir)
    rig2.clock.advance(now - rig2.clock.now() + HOUR)
    notifier2 = attach(rig2)
    try:
        run(rig2, "fabrikam")  # an hour on: a reminder is a note on the same ticket, not a second one
        wait_for(lambda: len(ticket["_notes"]) == 1)
        assert sim.desk.creates == 1 and "run.failed" in ticket["_notes"][0]

        write(broken, good)
        run(rig2, "fabrikam")
        wait_for(lambda: ticket["closedFlag"] is True)
        assert ticket["status"] == {"id": 11} and len(ticket["_notes"]) == 2
        # the record is dropped right after the close call returns, on the delivery thread
        wait_for(lambda: rig2.state.get_record("ticket", "cw|fabrikam|run") is None)
        assert sim.desk.creates == 1
    finally:
        notifier2.stop(2)
        rig2.close()
        rig.store = rig2.store  # the fixture closes what it holds
        rig.state = rig2.state
        rig.scheduler = rig2.scheduler


def test_a_second_replica_never_opens_a_second_ticket(
    rig: Rig, sim: ConnectWiseSimulator, config_dir: Path
) -> None:
    rig.cycle()
    other = make_rig(config_dir)  # another replica on the same state, its own notifier
    other_notifier = attach(other)
    try:
        event = {"customer": "fabrikam", "cause": "run", "status": "firing", "type": "run.failed",
                 "summary": "fabrikam: failed", "severity": "error", "time": "", "since": "", "data": {},
                 "id": "msg_" + "0" * 32, "version": 1}  # fmt: skip
        target = other_notifier.targets()[0]
        assert rig.scheduler.notifier is not None
        rig.scheduler.notifier._tickets.deliver(target, dict(event))
        other_notifier._tickets.deliver(target, dict(event))
        assert sim.desk.creates == 1
    finally:
        other_notifier.stop(1)
        other.close()


# --- Autotask ------------------------------------------------------------------------------

AT_USER, AT_SECRET, AT_CODE = "api@msp.example", "at-Secret-42", "INTEGRATION-CODE-7"


@pytest.fixture
def at_sim(tmp_path: Path) -> Iterator[AutotaskSimulator]:
    ca = TestCA.create(tmp_path / "at-ca")
    s = AutotaskSimulator(ca, username=AT_USER, secret=AT_SECRET, integration_code=AT_CODE)
    s.add_company(31337, "Northwind")
    with s:
        yield s


def autotask_config(
    config_dir: Path, sim: AutotaskSimulator, monkeypatch: pytest.MonkeyPatch, **ids: int
) -> None:
    for name, value in (("AT_USER", AT_USER), ("AT_SECRET", AT_SECRET), ("AT_CODE", AT_CODE)):
        monkeypatch.setenv(name, value)
    assert sim.ca is not None
    (config_dir / "at-ca.pem").write_bytes(sim.ca.ca_file.read_bytes())

    def change(d: dict[str, Any]) -> None:
        d["spec"].setdefault("connections", {})["autotask"] = {
            "username": {"env": "AT_USER"}, "secret": {"env": "AT_SECRET"}, "integrationCode": {"env": "AT_CODE"},
            "zoneDiscoveryUrl": f"{sim.url}/ATServicesRest/", "caFile": "at-ca.pem",
        }  # fmt: skip
        d["spec"]["notifications"] = [
            {"name": "at", "type": "autotask-ticket", "events": ["run.failed"], "remindEveryHours": 1,
             **{"queueId": 29683, "statusId": 1, "priorityId": 2, "closedStatusId": 5, **ids}},
        ]  # fmt: skip

    edit_yaml(config_dir / "settings.yaml", change)


def test_autotask_ticket_opened_updated_closed_once_across_a_restart(
    config_dir: Path, at_sim: AutotaskSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "RETRY_BASE_SECONDS", 0.05)
    autotask_config(config_dir, at_sim, monkeypatch)
    r = make_rig(config_dir)
    notifier = attach(r)
    broken = config_dir / "live" / "northwind" / "ad.json"
    good = broken.read_text()
    try:
        r.cycle()
        write(broken, "{not json")
        run(r, "northwind")
        wait_for(lambda: "id" in (r.state.get_record("ticket", "at|northwind|run") or {}))
        (ticket,) = at_sim.desk.tickets.values()
        assert ticket["companyID"] == 31337 and ticket["queueID"] == 29683
        assert ticket["status"] == 1 and ticket["priority"] == 2 and ticket["title"].startswith("rc-")
    finally:
        notifier.stop(5)
        now = r.clock.now()
        r.close()

    r = make_rig(config_dir)  # a restart on the same state and simulator
    r.clock.advance(now - r.clock.now() + HOUR)
    notifier = attach(r)
    try:
        run(r, "northwind")  # an hour on: the same ticket is updated, no second one
        wait_for(lambda: len(ticket["_updates"]) == 1)
        assert at_sim.desk.creates == 1
        assert (
            "Reminder" in ticket["_updates"][0]["description"]
            or "run.failed" in ticket["_updates"][0]["description"]
        )
        write(broken, good)
        run(r, "northwind")
        wait_for(lambda: ticket["status"] == 5)
        wait_for(lambda: r.state.get_record("ticket", "at|northwind|run") is None)
        assert at_sim.desk.creates == 1
    finally:
        notifier.stop(2)
        r.close()


def test_validate_live_reads_the_autotask_picklists(
    config_dir: Path, at_sim: AutotaskSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from reconciler.cli import main

    autotask_config(config_dir, at_sim, monkeypatch, queueId=4242, priorityId=9)
    result = CliRunner().invoke(main, ["validate", "-c", str(config_dir), "--live"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("notifications at:")]
    assert len(lines) == 2
    assert "queueId 4242 is not an active Autotask ticket queueID (picklist values: 29682, 29683)" in lines[0]
    assert "priorityId 9" in lines[1]

    autotask_config(config_dir, at_sim, monkeypatch)
    result = CliRunner().invoke(main, ["validate", "-c", str(config_dir), "--live"])
    assert result.exit_code == 0, result.output


# --- Halo PSA ------------------------------------------------------------------------------

HALO_APP, HALO_SECRET = "reconciler-alerts", "halo-Secret-9"


@pytest.fixture
def halo_sim(tmp_path: Path) -> Iterator[HaloSimulator]:
    ca = TestCA.create(tmp_path / "halo-ca")
    s = HaloSimulator(ca, client_id=HALO_APP, client_secret=HALO_SECRET)
    with s:
        yield s


def halo_config(config_dir: Path, sim: HaloSimulator, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> int:
    """Settings connections.halo + a halo-ticket target; fabrikam linked to a new Halo client
    (its contacts then come from the snapshot's empty Halo twin; tickets from the simulator)."""
    monkeypatch.setenv("HALO_SECRET", HALO_SECRET)
    assert sim.ca is not None
    (config_dir / "halo-ca.pem").write_bytes(sim.ca.ca_file.read_bytes())
    client = sim.add_client("Fabrikam")

    def change(d: dict[str, Any]) -> None:
        d["spec"].setdefault("connections", {})["halo"] = {
            "baseUrl": sim.url, "clientId": HALO_APP, "clientSecret": {"env": "HALO_SECRET"}, "caFile": "halo-ca.pem",
        }  # fmt: skip
        d["spec"]["notifications"] = [
            {"name": "halo", "type": "halo-ticket", "events": ["run.failed"], "remindEveryHours": 1,
             **{"ticketTypeId": 1, "closedStatusId": 9, **extra}},
        ]  # fmt: skip

    edit_yaml(config_dir / "settings.yaml", change)

    def link(d: dict[str, Any]) -> None:  # one PSA per customer (R14): Halo instead of ConnectWise
        d["spec"]["integrations"].pop("connectwiseCompanyId")
        d["spec"]["integrations"]["haloClientId"] = client

    edit_yaml(config_dir / "customers" / "fabrikam.yaml", link)
    return client


def test_halo_ticket_opened_noted_closed_and_never_two_across_a_restart(
    config_dir: Path, halo_sim: HaloSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "RETRY_BASE_SECONDS", 0.05)
    client = halo_config(config_dir, halo_sim, monkeypatch, statusId=2)
    desk = halo_sim.desk
    r = make_rig(config_dir)
    notifier = attach(r)
    try:
        r.cycle()
        broken = config_dir / "live" / "fabrikam" / "ad.json"
        good = broken.read_text()
        write(broken, "{not json")
        run(r, "fabrikam")
        wait_for(lambda: "id" in (r.state.get_record("ticket", "halo|fabrikam|run") or {}))
        (ticket,) = desk.tickets.values()
        assert ticket["client_id"] == client and ticket["tickettype_id"] == 1 and ticket["status_id"] == 2
        assert ticket["summary"].startswith("rc-") and "run.failed" in ticket["summary"]
        assert "fabrikam" in ticket["details"]
        assert r.state.get_record("ticket", "halo|fabrikam|run") == {
            "id": ticket["id"],
            "opened_at": r.clock.now(),
        }
        r.clock.advance(60)
        run(r, "fabrikam")  # still failing within the hour: nothing
        time.sleep(0.3)
        assert desk.creates == 1 and ticket["_actions"] == []
    finally:
        notifier.stop(5)
        now = r.clock.now()
        r.close()

    r = make_rig(config_dir)  # a restart on the same state
    r.clock.advance(now - r.clock.now() + HOUR)
    notifier = attach(r)
    try:
        run(r, "fabrikam")  # an hour on: the reminder is an action on the same ticket
        wait_for(lambda: len(ticket["_actions"]) == 1)
        assert desk.creates == 1 and "Reminder" in ticket["_actions"][0]
        write(broken, good)
        run(r, "fabrikam")
        wait_for(lambda: desk.closed(ticket))
        wait_for(lambda: r.state.get_record("ticket", "halo|fabrikam|run") is None)
        assert (
            ticket["status_id"] == 9 and len(ticket["_actions"]) == 2 and "resolved" in ticket["_actions"][1]
        )
        assert desk.creates == 1
    finally:
        notifier.stop(2)
        r.close()


def test_halo_a_lost_create_is_adopted_and_a_second_replica_opens_none(
    config_dir: Path, halo_sim: HaloSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create that went through but whose bookkeeping was lost (a crash after the POST):
    the next try finds the ticket by its marker instead of opening a second one; two
    replicas delivering the same event open one ticket."""
    halo_config(config_dir, halo_sim, monkeypatch)
    r = make_rig(config_dir)
    other = make_rig(config_dir)
    first, second = attach(r), attach(other)
    try:
        event = {"customer": "fabrikam", "cause": "run", "status": "firing", "type": "run.failed",
                 "summary": "fabrikam: failed", "severity": "error", "time": "", "since": "", "data": {},
                 "id": "msg_" + "0" * 32, "version": 1}  # fmt: skip
        target = first.targets()[0]
        first._tickets.deliver(target, dict(event))
        second._tickets.deliver(target, dict(event))
        assert halo_sim.desk.creates == 1
        (ticket,) = halo_sim.desk.tickets.values()

        r.state.put_record("ticket", "halo|fabrikam|run", None)  # the crash lost the id
        second._tickets.deliver(target, dict(event))
        assert halo_sim.desk.creates == 1
        assert (r.state.get_record("ticket", "halo|fabrikam|run") or {}).get("id") == ticket["id"]
    finally:
        first.stop(1)
        second.stop(1)
        other.close()
        r.close()


def test_halo_ticket_type_that_refuses_creation_is_retried_not_claimed_forever(
    config_dir: Path, halo_sim: HaloSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APIS.md: some ticket types refuse creation (400 CAB approval). The failure is
    reported, the claim released (so the next try claims again), and no ticket exists."""
    halo_config(config_dir, halo_sim, monkeypatch, ticketTypeId=3)
    r = make_rig(config_dir)
    notifier = attach(r)
    try:
        event = {"customer": "fabrikam", "cause": "run", "status": "firing", "type": "run.failed",
                 "summary": "fabrikam: failed", "severity": "error", "time": "", "since": "", "data": {},
                 "id": "msg_" + "1" * 32, "version": 1}  # fmt: skip
        with pytest.raises(ReconcilerError, match="CAB members"):
            notifier._tickets.deliver(notifier.targets()[0], dict(event))
        assert halo_sim.desk.creates == 0
        assert r.state.get_record("ticket", "halo|fabrikam|run") is None
    finally:
        notifier.stop(1)
        r.close()


def test_validate_live_checks_the_halo_ticket_type(
    config_dir: Path, halo_sim: HaloSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from reconciler.cli import main

    halo_config(config_dir, halo_sim, monkeypatch, ticketTypeId=42)
    result = CliRunner().invoke(main, ["validate", "-c", str(config_dir), "--live"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("notifications halo:")]
    assert lines == [
        "notifications halo: ticketTypeId 42 is not a Halo ticket type (1 Incident, 3 Change Request)"
    ]


def test_validate_live_checks_the_connectwise_board_and_statuses(
    rig: Rig, sim: ConnectWiseSimulator, config_dir: Path
) -> None:
    """The board (GET service/boards/{id}) and its statuses (closedStatus) are read
    live: a board that is not there, a status not on it, a closing status that does
    not close are each one line naming the target."""
    from click.testing import CliRunner

    from reconciler.cli import main

    def problems(**target: Any) -> list[str]:
        def change(d: dict[str, Any]) -> None:
            d["spec"]["notifications"][0].update(target)

        edit_yaml(config_dir / "settings.yaml", change)
        result = CliRunner().invoke(main, ["validate", "-c", str(config_dir), "--live"])
        assert "Traceback" not in result.output
        return [line for line in result.output.splitlines() if line.startswith("notifications cw:")]

    assert problems() == []  # board 1: statuses 10 (open) and 11 (closed)
    assert problems(boardId=7) == ["notifications cw: boardId 7 is not a ConnectWise service board"]
    assert problems(boardId=1, statusId=12, closedStatusId=10) == [
        "notifications cw: statusId 12 is not a status of board 1 (10, 11 (closed))",
        "notifications cw: closedStatusId 10 is not a closed status of board 1 (10, 11 (closed))",
    ]
    assert sim.desk.creates == 0  # a check opens no ticket
