"""The scheduler on the offline quickstart, with a fake clock (no real sleeping)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from reconciler.daemon.runner import RunResult

from .conftest import Rig, edit_yaml, make_rig, set_daemon, write

HOUR = 3600.0


def test_everyone_runs_first_then_on_their_own_interval(rig: Rig) -> None:
    start = rig.clock.now()
    delay = rig.cycle()
    assert {n: rig.record(n).last_result for n in ("contoso", "fabrikam", "northwind", "tailspin")} == {
        "contoso": "applied",
        "fabrikam": "applied",
        "northwind": "applied",
        "tailspin": "paused",
    }
    assert rig.record("contoso").next_run_at == start + HOUR  # Entra-only: hourly (R9)
    assert rig.record("northwind").next_run_at == start + 3 * HOUR  # AD: every 3 hours (R9)
    assert delay == 10.0  # nothing due for an hour: sleep one poll

    rig.clock.advance(HOUR - 1)
    rig.cycle()
    assert rig.record("contoso").last_started_at == start  # not yet

    rig.clock.advance(1)
    rig.cycle()
    assert rig.record("contoso").last_started_at == start + HOUR
    assert rig.record("contoso").last_result == "in-sync"
    assert rig.record("northwind").last_started_at == start  # AD customers wait 3 hours

    rig.clock.advance(2 * HOUR)
    rig.cycle()
    assert rig.record("northwind").last_started_at == start + 3 * HOUR


def test_jitter_spreads_first_runs_and_keeps_them_in_the_window(config_dir: Path) -> None:
    set_daemon(config_dir, jitterPercent=10)
    r = make_rig(config_dir, seed=3)
    try:
        now = r.clock.now()
        r.cycle()  # nobody due yet (all inside their jitter window) -> schedules are written
        nexts = {n: r.record(n).next_run_at for n in ("contoso", "fabrikam", "northwind", "tailspin")}
        assert all(v is not None for v in nexts.values())
        assert now <= nexts["contoso"] <= now + 360  # type: ignore[operator]
        assert now <= nexts["northwind"] <= now + 1080  # type: ignore[operator]
        assert len(set(nexts.values())) == 4
        # each runs once its own time has come, not before
        first = min(nexts, key=lambda n: nexts[n])  # type: ignore[arg-type,return-value]
        r.clock.advance(nexts[first] - now)  # type: ignore[operator]
        r.cycle()
        ran = {n for n in nexts if r.record(n).last_result}
        assert ran == {first}
    finally:
        r.close()


def test_bounded_number_of_customers_in_flight(config_dir: Path) -> None:
    set_daemon(config_dir, maxInFlight=2)
    r = make_rig(config_dir)
    try:
        r.scheduler.cycle()
        assert len(r.scheduler.in_flight()) == 2
        assert r.scheduler.drain(30)
        r.scheduler.cycle()
        assert len(r.scheduler.in_flight()) == 2
        assert r.scheduler.drain(30)
        assert all(r.record(n).last_result for n in ("contoso", "fabrikam", "northwind", "tailspin"))
    finally:
        r.close()


def test_paused_customer_is_planned_but_never_applied(rig: Rig) -> None:
    itglue = rig.root / "live" / "tailspin" / "itglue.json"
    before = itglue.read_text() if itglue.exists() else None
    rig.cycle()
    rec = rig.record("tailspin")
    assert rec.last_result == "paused"
    assert rec.changes_pending == 3
    # the log line reads "tailspin: paused: 3 changes planned, not applied (R10)", no "paused: paused"
    assert rec.last_message == "3 changes planned, not applied (R10)"
    assert rig.accounts("tailspin") == set()
    assert (itglue.read_text() if itglue.exists() else None) == before
    assert not (rig.root / "live" / "tailspin" / "outbox").exists()

    # a paused policy (R10) pauses its members at the next cycle
    edit_yaml(rig.root / "policies" / "entra-standard.yaml", lambda d: d["spec"].update(paused=True))
    _add_entra_user(rig.root, "contoso", "zed")
    rig.scheduler.request("contoso", "test")
    rig.cycle()
    assert rig.record("contoso").last_result == "paused"
    assert "zed@contoso.com" not in rig.accounts("contoso")


def test_import_now_runs_at_once_and_applies_a_directory_change(rig: Rig) -> None:
    rig.cycle()
    _add_entra_user(rig.root, "contoso", "zed")
    req = rig.scheduler.request("contoso", "test")
    assert rig.scheduler.request("contoso", "test") is req  # coalesced
    rig.cycle()
    assert req.done.is_set() and req.report is not None
    assert req.report.result is RunResult.APPLIED
    assert req.report.applied.get("add") == 1
    assert "zed@contoso.com" in rig.accounts("contoso")
    assert rig.metric("reconciler_reconcile_runs_total", result="applied") == 4  # only contoso ran again
    assert rig.metric("reconciler_changes_applied_total", kind="add") == 12  # 11 first, then zed


def test_safety_guard_blocks_until_a_one_time_override(rig: Rig) -> None:
    _lower_safety_floor(rig.root)
    rig.cycle()
    kept = rig.accounts("contoso")
    assert len(kept) == 6
    users = _entra(rig.root, "contoso")
    _set_entra(rig.root, "contoso", users[:3])  # half the tenant disappears

    rig.scheduler.request("contoso", "test")
    rig.cycle()
    rec = rig.record("contoso")
    assert rec.last_result == "blocked" and rec.blocked
    assert "would remove" in rec.blocked_reason
    assert len(rec.blocked_removals) == 3
    assert rig.accounts("contoso") == kept  # nothing removed
    assert rig.metric("reconciler_customers_blocked") == 1
    assert rig.metric("reconciler_customer_blocked", customer="contoso") == 1
    since = rec.blocked_since

    rig.clock.advance(HOUR)  # the next scheduled run: still blocked, same "since"
    rig.cycle()
    assert rig.record("contoso").blocked and rig.record("contoso").blocked_since == since

    rig.scheduler.override("contoso", "test")
    assert rig.record("contoso").override_pending
    rig.cycle()
    rec = rig.record("contoso")
    assert rec.last_result == "applied" and not rec.blocked and not rec.override_pending
    assert len(rig.accounts("contoso")) == 3
    assert rig.metric("reconciler_customers_blocked") == 0


def test_override_never_covers_removals_it_did_not_see(rig: Rig) -> None:
    _lower_safety_floor(rig.root)
    rig.cycle()
    users = _entra(rig.root, "contoso")
    _set_entra(rig.root, "contoso", users[:3])
    rig.scheduler.request("contoso", "test")
    rig.cycle()
    rig.scheduler.override("contoso", "test")
    _set_entra(rig.root, "contoso", users[:2])  # one more disappears after the person looked
    rig.cycle()
    rec = rig.record("contoso")
    assert rec.last_result == "blocked" and "did not approve" in rec.blocked_reason
    assert not rec.override_pending  # used up: a person must look again
    assert len(rig.accounts("contoso")) == 6


def test_block_lifts_by_itself_when_the_plan_is_safe_again(rig: Rig) -> None:
    _lower_safety_floor(rig.root)
    rig.cycle()
    users = _entra(rig.root, "contoso")
    _set_entra(rig.root, "contoso", [])  # the directory answers empty
    rig.scheduler.request("contoso", "test")
    rig.cycle()
    assert rig.record("contoso").blocked
    _set_entra(rig.root, "contoso", users)
    rig.scheduler.request("contoso", "test")
    rig.cycle()
    rec = rig.record("contoso")
    assert rec.last_result == "in-sync" and not rec.blocked


def test_failures_back_off_per_customer_then_quarantine(rig: Rig) -> None:
    set_daemon(rig.root, backoffInitialSeconds=60, quarantineAfterFailures=3, quarantineRetryMinutes=600)
    rig.cycle()
    contoso_next = rig.record("contoso").next_run_at
    broken = rig.root / "live" / "northwind" / "ad.json"
    good = broken.read_text()
    write(broken, "{not json")

    t0 = rig.clock.now()
    rig.scheduler.request("northwind", "test")
    rig.cycle()
    rec = rig.record("northwind")
    assert (rec.last_result, rec.failures, rec.quarantined) == ("error", 1, False)
    assert "invalid JSON" in rec.last_message
    assert rec.next_run_at == t0 + 60
    assert rig.record("contoso").next_run_at == contoso_next  # the others are not slowed

    rig.clock.advance(60)
    rig.cycle()
    assert (rig.record("northwind").failures, rig.record("northwind").next_run_at) == (2, t0 + 60 + 120)
    rig.clock.advance(120)
    rig.cycle()
    rec = rig.record("northwind")
    assert (rec.failures, rec.quarantined, rec.next_run_at) == (3, True, t0 + 180 + 600 * 60)
    assert rig.metric("reconciler_customers_quarantined") == 1
    assert rig.metric("reconciler_reconcile_runs_total", result="error") == 3

    rig.clock.advance(3600)  # slow retry: nothing happens within the quarantine interval
    rig.cycle()
    assert rig.record("northwind").failures == 3

    write(broken, good)
    rig.scheduler.request("northwind", "test")  # import now also releases a quarantined customer
    rig.cycle()
    rec = rig.record("northwind")
    assert (rec.last_result, rec.failures, rec.quarantined) == ("in-sync", 0, False)
    assert rig.metric("reconciler_customers_quarantined") == 0


def test_a_customer_locked_by_another_apply_is_busy_not_failing(rig: Rig) -> None:
    rig.cycle()
    _add_entra_user(rig.root, "contoso", "zed")
    rig.store.lock("contoso", "reconciler apply (a person)")  # a CI or a person's apply holds it
    t0 = rig.clock.now()
    req = rig.scheduler.request("contoso", "test")
    rig.cycle()
    assert req.report is not None and req.report.result is RunResult.BUSY
    assert "locked by reconciler apply (a person)" in req.report.message
    rec = rig.record("contoso")
    assert (rec.last_result, rec.failures, rec.next_run_at) == ("busy", 0, t0 + 60)  # retried soon
    assert "zed@contoso.com" not in rig.accounts("contoso")
    assert [lk.holder for lk in rig.store.locks()] == ["reconciler apply (a person)"]  # not ours to drop

    rig.store.unlock("contoso")
    rig.clock.advance(60)
    rig.cycle()
    assert rig.record("contoso").last_result == "applied"
    assert "zed@contoso.com" in rig.accounts("contoso")


def test_invalid_config_edit_keeps_the_last_valid_config(rig: Rig) -> None:
    rig.cycle()
    contoso = rig.root / "customers" / "contoso.yaml"
    good = contoso.read_text()
    write(contoso, good.replace("labels:", "lables:"))  # a typo: unknown field
    rig.cycle()  # files are looked at no more than every configCheckSeconds (5)
    assert rig.scheduler.source.error == ""
    rig.clock.advance(5)
    rig.cycle()
    assert rig.scheduler.source.error and "lables" in rig.scheduler.source.error
    assert rig.metric("reconciler_config_valid") == 0
    assert "lables" in rig.state.meta()["config_error"]
    # still reconciled with the last valid config
    _add_entra_user(rig.root, "contoso", "zed")
    rig.scheduler.request("contoso", "test")
    rig.cycle()
    assert "zed@contoso.com" in rig.accounts("contoso")

    # a valid edit (a new customer) is picked up at the next cycle
    write(contoso, good)
    write(
        rig.root / "customers" / "adatum.yaml",
        "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: adatum, labels: {plan: standard}}\n"
        "spec:\n  directories: {entra: {tenantId: 44444444-4444-4444-4444-444444444444}}\n"
        "  integrations: {itglueOrganizationId: 4003}\n",
    )
    rig.clock.advance(5)
    rig.cycle()
    assert rig.scheduler.source.error == ""
    assert "config_error" not in rig.state.meta()
    assert rig.metric("reconciler_config_valid") == 1
    assert rig.record("adatum").last_result == "in-sync"


def test_shutdown_abandons_between_changes_and_releases_the_lock(config_dir: Path) -> None:
    set_daemon(config_dir, maxInFlight=1)
    r = make_rig(config_dir, seed=1)
    try:
        r.scheduler.abandon.set()  # as after the grace period: stop at the next change boundary
        r.cycle()
        reports = {n: r.record(n) for n in ("contoso", "fabrikam", "northwind")}
        abandoned = [n for n, rec in reports.items() if rec.last_result == "abandoned"]
        assert abandoned, reports
        for name in abandoned:
            rec = reports[name]
            assert rec.failures == 0 and rec.next_run_at == rec.last_finished_at  # due at the next start
            assert r.store.serial(name) == 0  # stopped before the first change: nothing applied
            assert rec.changes_applied == 0
            assert rec.last_message.startswith("stopped by shutdown: 0 changes of ")
        assert r.store.locks() == []
    finally:
        r.close()


def test_a_run_that_has_not_started_applying_does_not_start_when_stopping(rig: Rig) -> None:
    rig.scheduler.cycle()
    rig.scheduler.stop()
    assert rig.scheduler.drain(30)
    for name in ("contoso", "fabrikam", "northwind"):
        rec = rig.record(name)
        assert rec.last_result in ("applied", "abandoned")
        if rec.last_result == "abandoned":
            assert rig.store.serial(name) == 0
    assert rig.store.locks() == []
    rig.scheduler.cycle()  # stopping: starts nothing
    assert rig.scheduler.in_flight() == []


def _lower_safety_floor(root: Path) -> None:
    edit_yaml(root / "settings.yaml", lambda d: d["spec"]["safety"].update(minExistingAccounts=0))


def _entra(root: Path, customer: str) -> list[dict[str, object]]:
    data: list[dict[str, object]] = json.loads((root / "live" / customer / "entra.json").read_text())["users"]
    return data


def _set_entra(root: Path, customer: str, users: list[dict[str, object]]) -> None:
    path = root / "live" / customer / "entra.json"
    data = json.loads(path.read_text())
    data["users"] = users
    write(path, json.dumps(data))


def _add_entra_user(root: Path, customer: str, who: str) -> None:
    users = _entra(root, customer)
    users.append(
        {
            "id": f"{random.Random(who).randrange(10**12):012d}-0000-4000-8000-000000000000",
            "upn": f"{who}@{customer}.com",
            "mail": f"{who}@{customer}.com",
            "given_name": who.title(),
            "surname": "Zulu",
            "display_name": f"{who.title()} Zulu",
            "licensed": True,
        }
    )
    _set_entra(root, customer, users)


def test_mass_update_blocks_the_daemon_until_the_override_approves_exactly_those(rig: Rig) -> None:
    """R25: the update guard holds the daemon like a mass removal; the one-time override
    approves the updates the blocked run showed, and the entries are renamed once."""
    _lower_safety_floor(rig.root)
    rig.cycle()
    edit_yaml(
        rig.root / "policies" / "entra-standard.yaml",
        lambda d: d["spec"].update(recordFields={"entryName": "directory"}),
    )
    users = _entra(rig.root, "contoso")
    for u in users:
        u["display_name"] = f"{u['display_name']} (Contoso)"
    _set_entra(rig.root, "contoso", users)
    rig.scheduler.request("contoso", "test")
    rig.cycle()
    rec = rig.record("contoso")
    assert rec.last_result == "blocked" and "would update" in rec.blocked_reason
    assert "--allow-mass-update" in rec.blocked_reason
    assert rec.blocked_removals and all(k.startswith("update itglue ") for k in rec.blocked_removals)
    entries = json.loads((rig.root / "live" / "contoso" / "itglue.json").read_text())["entries"]
    assert not [e for e in entries if "(Contoso)" in e["name"]]  # nothing written while blocked
    approved = len(rec.blocked_removals)

    rig.scheduler.override("contoso", "test")
    rig.cycle()
    rec = rig.record("contoso")
    assert rec.last_result == "applied" and not rec.blocked
    entries = json.loads((rig.root / "live" / "contoso" / "itglue.json").read_text())["entries"]
    renamed = [e for e in entries if "(Contoso)" in e["name"]]
    assert len(renamed) == approved >= 3
    rig.scheduler.request("contoso", "test")
    rig.cycle()
    assert rig.record("contoso").last_result == "in-sync"
