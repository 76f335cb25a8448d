"""State identity (#12): a lost, emptied or foreign state never re-welcomes anyone.

The real CLI on the offline quickstart (file twins of IT Glue, Hudu, ConnectWise,
Autotask and the SMTP outbox), with its real SQLite state file: deleted, truncated
to 0 bytes, or swapped for another copy's; then `state rebuild`, killed with
SIGKILL half-way and run again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.engine.test_crash import cli, crash

STATE = Path(".reconciler") / "state.db"
MARKED = ("contoso", "fabrikam", "northwind")  # customers whose records carry our marker


def drop_state(qs: Path, how: str) -> None:
    db = qs / STATE
    for extra in (db.with_name("state.db-wal"), db.with_name("state.db-shm")):
        extra.unlink(missing_ok=True)
    if how == "delete":
        db.unlink()
    else:
        db.write_bytes(b"")


def outbox(qs: Path) -> list[str]:
    box = qs / "live" / "contoso" / "outbox"
    return sorted(p.name for p in box.iterdir()) if box.exists() else []


def lineages(qs: Path) -> set[str]:
    out = set()
    for path in (qs / "live").glob("*/*.json"):
        for rec in json.loads(path.read_text()).get("entries", []) + json.loads(path.read_text()).get(
            "contacts", []
        ):
            if rec.get("lineage"):
                out.add(rec["lineage"])
    return out


def state_lineage(qs: Path) -> str:
    import sqlite3

    with sqlite3.connect(qs / STATE) as db:
        return str(db.execute("SELECT value FROM meta WHERE key='lineage'").fetchone()[0])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # moves the state file
def test_a_lost_state_is_refused_then_rebuilt_without_welcoming_anyone_again(quickstart: Path) -> None:
    qs = str(quickstart)
    assert cli("apply", "-c", qs, "--auto-approve").returncode == 0
    sent = outbox(quickstart)
    assert len(sent) == 5
    assert lineages(quickstart) == {state_lineage(quickstart)}  # records name the state that made them

    for how in ("delete", "zero-bytes"):
        drop_state(quickstart, how)
        refused = cli("apply", "-c", qs, "--auto-approve")
        assert refused.returncode == 3, refused.stdout + refused.stderr
        for name in MARKED:
            assert f"the state holds no accounts for {name} but" in refused.stdout, refused.stdout
        assert "reconciler state rebuild --customer contoso" in refused.stdout
        assert outbox(quickstart) == sent  # nobody welcomed twice

    # rebuild, killed with SIGKILL while it records links: nothing half-done is kept
    killed = crash("before-put-link", 2, "state", "rebuild", "-c", qs)
    assert killed.returncode == -9, killed.stderr
    assert cli("state", "unlock", "-c", qs, "--customer", "contoso").returncode == 0
    rebuilt = cli("state", "rebuild", "-c", qs)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "contoso: re-adopted " in rebuilt.stdout and "(welcome: unknown, not resent)" in rebuilt.stdout
    assert "adopted lineage " in rebuilt.stdout  # the records came from the lost state
    contoso_line = next(line for line in rebuilt.stdout.splitlines() if line.startswith("contoso:"))
    assert "already in state" not in contoso_line  # the killed run committed nothing
    listed = cli("state", "list", "-c", qs, "--customer", "contoso").stdout
    assert "welcome unknown" in listed

    plan = cli("plan", "-c", qs, "--format", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    contoso = next(c for c in json.loads(plan.stdout)["customers"] if c["customer"] == "contoso")
    welcomed = {c["label"] for c in contoso["changes"] if c["kind"] == "send-welcome"}
    marked = {
        e["username"]
        for e in json.loads((quickstart / "live" / "contoso" / "itglue.json").read_text())["entries"]
        if e.get("marker")
    }
    assert marked and not welcomed & marked  # a marked account is never welcomed again
    assert not [c for c in contoso["changes"] if c["kind"] in ("create-record", "recreate-record")]
    # accounts only linked to records that existed before carry no marker of ours; a
    # record matching them (alice, grace: one each; bob: two, in conflict) proves they
    # were handled before, so they are never welcomed again either (R16)
    assert "3 accounts without a marker whose existing records match" in contoso_line, contoso_line
    assert not welcomed, welcomed
    linked = {c["label"] for c in contoso["changes"] if c["kind"] == "link"}
    assert {"alice@contoso.com", "grace@contoso.com"} <= linked  # linked by the usual rules (R12)
    assert len(outbox(quickstart)) == len(sent)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # moves the state file
def test_a_state_of_another_lineage_is_refused_naming_both(quickstart: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(ROOT / "examples" / "quickstart", other, ignore=shutil.ignore_patterns(".reconciler"))
    assert cli("apply", "-c", str(quickstart), "--auto-approve").returncode == 0
    assert cli("apply", "-c", str(other), "--auto-approve").returncode == 0
    ours, theirs = state_lineage(quickstart), state_lineage(other)
    assert ours != theirs

    drop_state(quickstart, "delete")  # a copied repository's state in place of ours
    shutil.copy(other / STATE, quickstart / STATE)
    refused = cli("plan", "-c", str(quickstart))
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"state lineage {theirs} differs from lineage {ours} carried by" in refused.stdout

    rebuilt = cli("state", "rebuild", "-c", str(quickstart), "--customer", "contoso")
    assert rebuilt.returncode == 0 and f"adopted lineage {ours}" in rebuilt.stdout, rebuilt.stdout
    plan = cli("plan", "-c", str(quickstart), "--customer", "contoso", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
