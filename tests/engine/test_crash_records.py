"""Crash-and-rerun for record updates (R25) and archives (R8 `onRemoval: archive`):
kill -9 a real apply right after a record was updated, archived or set inactive
(its fingerprint, or the account's removal, not committed yet), then rerun.

The rerun converges: the updated record is not written again (it already holds
the directory's values, so nothing is planned), the archived record is not
archived twice and its account is removed, a third plan is empty, no record is
duplicated, and every marker is still in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.engine.test_crash import cli, crash

VICTOR, VICTOR_CONTACT = "0000fab0-0000-0000-0000-000000000015", "7001"  # examples/quickstart/live/northwind


def live(qs: Path, customer: str, kind: str) -> list[dict[str, Any]]:
    data = json.loads((qs / "live" / customer / f"{kind}.json").read_text())
    rows: list[dict[str, Any]] = data.get("entries", data.get("contacts", []))
    return rows


def edit_users(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data["users"])
    path.write_text(json.dumps(data))


def ours(rows: list[dict[str, Any]], customer: str) -> dict[str, dict[str, Any]]:
    """Records we created, by the directory id in their marker."""
    out = {}
    for r in rows:
        if (r.get("marker") or "").startswith(f"{customer}/"):
            key = r["marker"].rsplit(":", 1)[1]
            assert key not in out, f"duplicate record for {key}"
            out[key] = r
    return out


def prepare(qs: Path) -> tuple[str, str, str]:
    """After one clean apply: rename one contoso user whose entry we created and
    unlicense another (archive); for northwind, own first names and remove one
    user (set inactive). Returns (renamed id, archived id, renamed contact id)."""
    assert cli("apply", "-c", str(qs), "--auto-approve").returncode == 0
    policy = qs / "policies" / "entra-standard.yaml"
    policy.write_text(policy.read_text() + "  onRemoval: archive\n")
    customer = qs / "customers" / "northwind.yaml"
    customer.write_text(
        customer.read_text().replace(
            "      contactMatching: true\n",
            "      contactMatching: true\n    recordFields: {firstName: directory}\n    onRemoval: archive\n",
        )
    )
    created = sorted(ours(live(qs, "contoso", "itglue"), "contoso"))
    renamed, archived = created[0], created[1]
    (contact,) = ours(live(qs, "northwind", "autotask"), "northwind")  # walter: created by us

    def contoso(users: list[dict[str, Any]]) -> None:
        for u in users:
            if u["id"].lower() == renamed:
                u["display_name"] = "Renamed Person"
            if u["id"].lower() == archived:
                u["licensed"] = False

    def northwind(users: list[dict[str, Any]]) -> None:
        for u in users:
            if u["id"].lower() == contact:
                u["given_name"] = "Newfirst"
            if u["id"].lower() == VICTOR:  # linked by name to a contact we did not create
                u["enabled"] = False

    edit_users(qs / "live" / "contoso" / "entra.json", contoso)
    edit_users(qs / "live" / "northwind" / "ad.json", northwind)
    shown = cli("plan", "-c", str(qs))
    for text in ("update itglue record", "archive itglue record", "update autotask record",
                 "set inactive autotask record", 'entryName: "', 'firstName: "'):  # fmt: skip
        assert text in shown.stdout, shown.stdout
    return renamed, archived, contact


@pytest.mark.parametrize(
    "point",
    [
        "after-update-entry",
        "before-archive-entry",  # the account must not be forgotten before its record is archived
        "after-archive-entry",
        "after-update-contact",
        "after-deactivate-contact",
    ],
)
def test_kill_after_an_update_or_archive_then_rerun_converges(
    quickstart: Path, point: str, backend: str
) -> None:
    qs = str(quickstart)
    renamed, archived, contact = prepare(quickstart)
    before = {k: dict(v) for k, v in ours(live(quickstart, "contoso", "itglue"), "contoso").items()}

    killed = crash(point, 1, "apply", "-c", qs, "--auto-approve")
    assert killed.returncode == -9, killed.stderr
    for customer in ("contoso", "northwind"):  # PostgreSQL keeps the dead holder's lease until broken
        cli("state", "unlock", "-c", qs, "--customer", customer)
    rerun = cli("apply", "-c", qs, "--auto-approve")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    final = cli("plan", "-c", qs, "--detailed-exitcode")
    assert final.returncode == 0, final.stdout + final.stderr
    assert "Plan: 0 to add, 0 to change, 0 to remove, 1 conflict." in final.stdout

    entries = ours(live(quickstart, "contoso", "itglue"), "contoso")  # no duplicates (asserted inside)
    assert set(entries) == set(before)  # archived, never deleted; nothing created again
    assert entries[renamed]["name"] == "Renamed Person"
    assert entries[archived].get("archived") is True
    for key, entry in entries.items():
        assert entry["marker"] == before[key]["marker"] and entry.get("lineage") == before[key].get("lineage")
    contacts = ours(live(quickstart, "northwind", "autotask"), "northwind")
    assert set(contacts) == {contact} and contacts[contact]["first_name"] == "Newfirst"
    by_id = {c["id"]: c for c in live(quickstart, "northwind", "autotask")}
    assert by_id[VICTOR_CONTACT].get("active") is False and len(by_id) == 3
