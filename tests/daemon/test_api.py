"""The JSON API under /api/v1/: fleet, customers (filtered, paginated), one customer,
runs, last plan; view access; and the API fuzzed against its own OpenAPI document."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from reconciler.core.model import IntegrationKind
from reconciler.core.reads import FullRead, cursor_name, iso, verify_after
from reconciler.daemon.web.api import MAX_PER_PAGE
from reconciler.daemon.web.app import build_app
from reconciler.daemon.web.common import Daemon
from reconciler.daemon.web.models import openapi
from reconciler.testing.sandbox import Sandbox

from .conftest import (
    TOKEN,
    Live,
    Rig,
    as_if_beyond_loopback,
    edit_yaml,
    entra_users,
    make_rig,
    serve,
    set_entra_users,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}
NAMES = ("contoso", "fabrikam", "northwind", "tailspin")


def run_all(live: Live) -> None:
    for name in NAMES:
        r = live.client.post(f"/customers/{name}/reconcile?wait=30", headers=AUTH)
        assert r.status_code == 200, r.text


def block_contoso(live: Live, root: Path) -> None:
    """Half of contoso's tenant disappears: the safety guard blocks its removals."""
    edit_yaml(root / "settings.yaml", lambda d: d["spec"]["safety"].update(minExistingAccounts=0))
    live.scheduler.source.refresh()
    set_entra_users(root, "contoso", entra_users(root, "contoso")[:3])
    r = live.client.post("/customers/contoso/reconcile?wait=30", headers=AUTH)
    assert r.json()["result"] == "blocked"


def test_fleet_customers_runs_and_plan(live: Live, config_dir: Path) -> None:
    run_all(live)
    block_contoso(live, config_dir)

    fleet = live.client.get("/api/v1/fleet").json()
    assert fleet["customers"] == 4 and fleet["problems"] == 1
    assert fleet["by_status"]["blocked"] == 1 and sum(fleet["by_status"].values()) == 4

    page = live.client.get("/api/v1/customers").json()
    assert page["items"][0]["name"] == "contoso"  # problems first
    assert page["items"][0]["blocked"]["removals"] == 3
    assert page["total"] == 4 and page["pages"] == 1

    two = live.client.get("/api/v1/customers?per_page=2&page=2").json()
    assert two["pages"] == 2 and len(two["items"]) == 2
    assert live.client.get("/api/v1/customers?q=wind").json()["items"][0]["name"] == "northwind"
    assert live.client.get("/api/v1/customers?status=blocked").json()["total"] == 1
    assert live.client.get("/api/v1/customers?problems=true").json()["total"] == 1
    for bad in ("page=0", "per_page=501", "status=weird", "problems=maybe", "page=x"):
        r = live.client.get(f"/api/v1/customers?{bad}")
        assert r.status_code == 400 and r.json()["error"], bad

    detail = live.client.get("/api/v1/customers/contoso").json()
    assert detail["customer"]["status"] == "blocked" and len(detail["blocked_removals"]) == 3

    runs = live.client.get("/api/v1/customers/contoso/runs").json()["items"]
    assert runs[0]["result"] == "blocked" and runs[-1]["result"] == "applied"  # newest first
    assert runs[0]["host"] and runs[0]["pid"] > 0 and runs[0]["duration"] >= 0
    assert len(live.client.get("/api/v1/customers/contoso/runs?limit=1").json()["items"]) == 1

    plan = live.client.get("/api/v1/customers/contoso/plan").json()
    assert plan["status"] == "refused" and plan["counts"]["remove"] == 3
    assert plan["changes_total"] == len(plan["changes"])

    assert live.client.get("/api/v1/customers/nobody").status_code == 404
    assert live.client.get("/api/v1/customers/nobody/runs").status_code == 404
    assert live.client.get("/api/v1/customers/nobody/plan").status_code == 404


def test_a_conflict_comes_with_its_candidates_and_pin(live: Live) -> None:
    run_all(live)
    detail = live.client.get("/api/v1/customers/contoso").json()
    assert detail["customer"]["status"] == "conflicts"
    (conflict,) = detail["conflicts"]
    assert len(conflict["candidates"]) == 2
    assert "account: bob@contoso.com" in conflict["pin"] and "recordId" in conflict["pin"]


def test_viewing_beyond_loopback_needs_the_token(live: Live) -> None:
    run_all(live)
    as_if_beyond_loopback(live)
    for path in ("/api/v1/fleet", "/api/v1/budgets", "/api/v1/customers", "/api/v1/customers/contoso/plan"):
        assert live.client.get(path).status_code == 401, path
        assert live.client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert live.client.get(path, headers=AUTH).status_code == 200, path
    assert live.client.get("/api/v1/openapi.json").status_code == 200  # the document is public


def test_openapi_document_describes_every_route(live: Live) -> None:
    from reconciler.daemon.web.api import routes

    doc = live.client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {r.path for r in routes()} - {"/api/v1/openapi.json"}
    assert set(doc["paths"]) == {
        "/api/v1/fleet",
        "/api/v1/budgets",
        "/api/v1/customers",
        "/api/v1/customers/{name}",
        "/api/v1/customers/{name}/runs",
        "/api/v1/customers/{name}/plan",
    }


# --- fuzzing against the document ----------------------------------------------------------

SCHEMA = schemathesis.openapi.from_dict(openapi(MAX_PER_PAGE))


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    import shutil

    from .conftest import QUICKSTART, set_daemon

    root = tmp_path_factory.mktemp("fuzz") / "config"
    shutil.copytree(QUICKSTART, root, ignore=shutil.ignore_patterns(".reconciler"))
    set_daemon(root, jitterPercent=0, token={"env": "RECONCILER_TEST_TOKEN"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECONCILER_TEST_TOKEN", TOKEN)
        for live in serve(root):
            run_all(live)
            yield live


@SCHEMA.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_fuzzed_against_its_openapi_document(case: schemathesis.Case, fuzzed: Live) -> None:
    response = case.call(base_url=fuzzed.url, headers=AUTH)
    assert response.status_code < 500, (case.path, case.query, response.text[:300])
    case.validate_response(response)
    assert httpx.codes.is_success(response.status_code) or response.json()["error"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # traces SQLite's statements
def test_fleet_pages_read_the_state_once_per_snapshot_not_per_request(live: Live, config_dir: Path) -> None:
    """Issue 18's p95 goal: the overview is one summary query (plus the daemon's meta) per
    snapshot, and a page already rendered from it costs no query at all; an action from
    the page drops the snapshot, so its effect shows at once."""
    from reconciler.daemon.web import snapshot
    from reconciler.state.daemon import DaemonState

    state = live.scheduler.state
    assert isinstance(state, DaemonState)  # the PostgreSQL store runs the same briefs query
    run_all(live)
    daemon = live.server.app.state.daemon
    daemon.fleet.invalidate()
    statements: list[str] = []

    def traced(sql: str) -> None:  # the scheduler's loop and runs use this connection too: not theirs
        name = threading.current_thread().name
        if "run_forever" not in name and not name.startswith("reconcile "):
            statements.append(sql)

    state._db.set_trace_callback(traced)  # the test peeks at the daemon store's connection
    try:
        first = live.client.get("/?problems=true")
        built = list(statements)
        again = [live.client.get("/?problems=true") for _ in range(5)]
        api = live.client.get("/api/v1/fleet")
        after = statements[len(built) :]
    finally:
        state._db.set_trace_callback(None)
    assert first.status_code == 200 and all(r.content == first.content for r in again)

    def fleet_reads(sql: list[str]) -> list[str]:
        return [s for s in sql if "json_array_length" in s or "FROM daemon_meta" in s]

    reads = fleet_reads(built)
    assert len(reads) == 2 and "daemon_customers" in reads[0] and "daemon_meta" in reads[1], reads
    assert fleet_reads(after) == []
    assert api.json()["customers"] == 4
    assert snapshot.FRESH_SECONDS >= 0.5  # the five requests above fell inside one snapshot's life


# --- request budgets and reads only when needed (#16) ---------------------------------------

BUDGET = 5


@pytest.fixture
def budgeted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, Rig, TestClient]]:
    """Every simulator of the sandbox on loopback, IT Glue's budget cut to 5 an hour, a real
    scheduler on a fake clock with its ledger in the real SQLite state, and the app on it."""
    box = Sandbox.start(tmp_path / "sandbox")
    monkeypatch.setenv("RECONCILER_TEST_TOKEN", TOKEN)

    def change(d: dict[str, Any]) -> None:
        d["spec"]["budgets"] = {"itglue": {"requests": BUDGET, "windowSeconds": 3600}}
        d["spec"].setdefault("daemon", {}).update(jitterPercent=0, token={"env": "RECONCILER_TEST_TOKEN"})

    edit_yaml(box.root / "settings.yaml", change)
    rig = make_rig(box.root)
    app = build_app(Daemon(rig.scheduler, rig.metrics))
    try:
        with TestClient(app) as client:
            yield box, rig, client
    finally:
        rig.close()
        box.stop()


def test_budgets_say_used_left_and_until_when_they_refuse(budgeted: tuple[Sandbox, Rig, TestClient]) -> None:
    box, rig, client = budgeted
    assert client.get("/api/v1/budgets").json() == {"items": []}  # before the first cycle: none open
    rig.cycle()  # contoso's IT Glue creates do not all fit: deferred
    rig.clock.advance(11)
    rig.cycle()  # the scheduler records the refusal in the daemon state (budget.exhausted)
    rows = {r["integration"]: r for r in client.get("/api/v1/budgets").json()["items"]}
    spent = len(box.itglue.requests)
    itglue = rows["itglue"]
    assert itglue["limit"] == BUDGET and itglue["window_seconds"] == 3600
    assert itglue["used"] == spent and itglue["left"] == BUDGET - spent
    until = rig.state.get_record("budget", "itglue")
    assert until is not None and itglue["exhausted_until"] == iso(until["until"])
    assert rows["hudu"]["limit"] == 150 and rows["hudu"]["exhausted_until"] is None
    assert rows["autotask"]["used"] > 0 and rows["autotask"]["deferred_total"] == 0

    # the same guard as every /api/v1 route beyond loopback
    client.app.state.daemon = replace(client.app.state.daemon, loopback=False)  # type: ignore[attr-defined]
    assert client.get("/api/v1/budgets").status_code == 401
    assert client.get("/api/v1/budgets", headers=AUTH).status_code == 200


def test_budgets_count_the_customers_deferred_before_they_are_claimed(
    budgeted: tuple[Sandbox, Rig, TestClient],
) -> None:
    box, rig, client = budgeted
    budgets = rig.scheduler.budgets
    budgets.refresh(rig.scheduler.source.config)
    assert budgets.budgets is not None and budgets.budgets.ledger is not None
    limit = budgets.budgets.limits[IntegrationKind.ITGLUE]
    # another process of the MSP spent it all: a real ledger entry in the shared state
    assert budgets.budgets.ledger.spend("itglue", BUDGET, limit, rig.clock.now()).granted == BUDGET
    rig.cycle()
    assert box.itglue.requests == []  # contoso was not started at all
    itglue = next(r for r in client.get("/api/v1/budgets").json()["items"] if r["integration"] == "itglue")
    assert itglue["used"] == BUDGET and itglue["left"] == 0 and itglue["deferred_total"] == 1
    # the customer's own page says why it waits, though no run of it was started
    slot = rig.state.schedule()["contoso"]
    deferred = client.get("/api/v1/customers/contoso").json()["deferred"]
    assert deferred is not None and deferred["until"] == iso(slot.next_run_at or 0.0)
    assert deferred["reason"].startswith("request budget exhausted until ")
    assert f"IT Glue ({BUDGET} requests per hour for the whole MSP)" in deferred["reason"]
    assert client.get("/api/v1/customers/fabrikam").json()["deferred"] is None  # it ran
    # once the budget is back contoso runs (its creates need more than 5 an hour, so that run
    # ends deferred too): what is shown is that run's own reason, not the older deferral
    rig.clock.advance(3600 + 300)
    rig.cycle()
    rig.clock.advance(11)
    rig.cycle()
    rec = rig.record("contoso")
    assert rec.last_finished_at is not None and rec.last_finished_at > slot.next_run_at  # type: ignore[operator]
    deferred = client.get("/api/v1/customers/contoso").json()["deferred"]
    assert deferred == {"reason": rec.last_message, "until": iso(rec.next_run_at or 0.0)}
    assert not deferred["reason"].startswith("request budget exhausted until ")
    # and a deferral record older than the last run is not shown for a run that went through
    rig.state.put_record("deferral", "fabrikam", {"at": 1.0, "until": 2.0, "reason": "old"})
    assert client.get("/api/v1/customers/fabrikam").json()["deferred"] is None


def test_customer_detail_says_last_full_read_next_verification_and_why_deferred(
    budgeted: tuple[Sandbox, Rig, TestClient],
) -> None:
    _, rig, client = budgeted
    rig.cycle()
    hours = rig.scheduler.source.config.settings_doc.spec.verify_links_every_hours

    fabrikam = client.get("/api/v1/customers/fabrikam").json()
    assert fabrikam["deferred"] is None and fabrikam["customer"]["last_run"]["result"] == "applied"
    reads = {r["integration"]: r for r in fabrikam["reads"]}
    assert set(reads) == {"hudu", "autotask"}
    for kind in (IntegrationKind.HUDU, IntegrationKind.AUTOTASK):
        last = FullRead.parse(rig.store.get_cursor("fabrikam", cursor_name(kind)))
        assert last is not None  # the engine's record of the accepted full read
        row = reads[kind.value]
        assert row["last_full_read"] == iso(last.at) and row["linked_id"] == last.target
        assert row["next_verification"] == iso(last.at + verify_after("fabrikam", kind, hours))
        assert not row["stale_target"]
        due = parse_iso(row["next_verification"]) - parse_iso(row["last_full_read"])
        assert 0.9 * hours * 3600 - 1 <= due <= hours * 3600

    contoso = client.get("/api/v1/customers/contoso").json()
    assert contoso["customer"]["last_run"]["result"] == "deferred"
    deferred = contoso["deferred"]
    assert "budget exhausted until" in deferred["reason"]
    rec = rig.record("contoso")
    assert rec.next_run_at is not None and deferred["until"] == iso(rec.next_run_at)
    assert {r["integration"] for r in contoso["reads"]} >= {"itglue"}

    # the customer's link to IT Glue changes: the recorded read is of another organization
    rig.store.put_cursor("contoso", cursor_name(IntegrationKind.ITGLUE), FullRead(1.0, "other-org").dump())
    row = next(
        r for r in client.get("/api/v1/customers/contoso").json()["reads"] if r["integration"] == "itglue"
    )
    assert row["stale_target"] and row["last_full_read"] == "1970-01-01T00:00:01Z"


def parse_iso(text: str) -> float:
    from datetime import datetime

    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
