"""Golden renders of the quickstart plan (text and JSON); JSON against plan.schema.json.

Regenerate after an intended change with: UPDATE_GOLDEN=1 pytest tests/engine/test_render.py
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import jsonschema
import pytest

from reconciler.config import load_valid_config
from reconciler.core.plan import LinkRecord, Plan
from reconciler.core.render import render_json, render_text
from reconciler.engine import Engine
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"


def quickstart_plan(qs: Path) -> Plan:
    plan = Engine.open(load_valid_config(qs)).plan()
    return Plan("<digest>", "2026-01-01T00:00:00+00:00", plan.customers, plan.selected)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; UPDATE_GOLDEN=1 to accept"


def test_text_golden(quickstart: Path) -> None:
    check_golden("quickstart-plan.txt", render_text(quickstart_plan(quickstart)))


def test_text_colour_only_when_asked(quickstart: Path) -> None:
    plan = quickstart_plan(quickstart)
    assert "\x1b[" not in render_text(plan)
    assert "\x1b[32m" in render_text(plan, color=True)


def test_json_golden_and_schema(quickstart: Path) -> None:
    text = render_json(quickstart_plan(quickstart))
    check_golden("quickstart-plan.json", text)
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(text), schema)


def test_json_round_trips_to_the_same_plan(quickstart: Path) -> None:
    plan = quickstart_plan(quickstart)
    assert Plan.from_dict(json.loads(render_json(plan))) == plan


def test_skipped_users_are_counted_per_reason_and_named_with_verbose(quickstart: Path) -> None:
    plan = quickstart_plan(quickstart)
    contoso = next(cp for cp in plan.customers if cp.customer == "contoso")
    assert contoso.skipped_counts() == {"disabled": 1, "unlicensed": 1}
    text = render_text(plan)
    assert "skipped 2 directory users: 1 disabled, 1 unlicensed (--verbose names them)" in text
    names = [s.user for s in contoso.skipped]
    assert not any(n in text for n in names)
    verbose = render_text(plan, verbose=True)
    for s in contoso.skipped:
        assert f"    {s.line()}" in verbose
    data = json.loads(render_json(plan))
    by_name = {c["customer"]: c for c in data["customers"]}
    assert by_name["contoso"]["skipped_counts"] == {"disabled": 1, "unlicensed": 1}
    assert {s["reason"] for s in by_name["contoso"]["skipped"]} == {"disabled", "unlicensed"}


def test_a_plan_saved_in_format_1_reads_as_the_same_plan(quickstart: Path) -> None:
    """CI applies plans saved by the previous version: format 1 (create-record with
    `new_entry` / `new_contact`) still reads, into exactly today's plan."""
    old = json.loads((GOLDEN / "quickstart-plan.format1.json").read_text(encoding="utf-8"))
    assert old["format"] == 1
    assert any("new_contact" in c for cp in old["customers"] for c in cp["changes"])
    assert without_skipped(Plan.from_dict(old)) == without_skipped(
        without_fingerprints(quickstart_plan(quickstart))
    )


def without_fingerprints(plan: Plan) -> Plan:
    """Today's plan as formats 1 and 2 carried it: links without a fingerprint."""
    customers = tuple(
        dataclasses.replace(
            cp,
            changes=tuple(
                dataclasses.replace(c, fingerprint="") if isinstance(c, LinkRecord) else c for c in cp.changes
            ),
        )
        for cp in plan.customers
    )
    return dataclasses.replace(plan, customers=customers)


def without_skipped(plan: Plan) -> Plan:
    """A plan without its explanations: formats before 4 had no `skipped` users (a
    few were free-text notes); everything else must read the same. tailspin's
    selection changed since those plans were saved (R22 groups, R23 roles)."""
    return dataclasses.replace(
        plan,
        customers=tuple(
            dataclasses.replace(cp, skipped=(), notes=(), reads=())
            for cp in plan.customers
            if cp.customer != "tailspin"
        ),
    )


def test_a_plan_saved_in_format_2_reads_as_the_same_plan(quickstart: Path) -> None:
    """Format 2 (before links carried a fingerprint) still reads; apply then keeps no
    fingerprint for those links, and `plan --refresh-only` says so."""
    old = json.loads((GOLDEN / "quickstart-plan.format2.json").read_text(encoding="utf-8"))
    assert old["format"] == 2
    today = quickstart_plan(quickstart)
    assert without_skipped(Plan.from_dict(old)) == without_skipped(without_fingerprints(today))
    assert any(c.get("fingerprint") for cp in today.to_dict()["customers"] for c in cp["changes"])


def test_a_plan_saved_in_format_3_reads_as_the_same_plan_without_skipped_users(quickstart: Path) -> None:
    old = json.loads((GOLDEN / "quickstart-plan.format3.json").read_text(encoding="utf-8"))
    assert old["format"] == 3 and not any("skipped" in cp for cp in old["customers"])
    assert without_skipped(Plan.from_dict(old)) == without_skipped(quickstart_plan(quickstart))


def test_a_plan_saved_in_format_4_reads_as_the_same_plan_without_reads(quickstart: Path) -> None:
    """Format 4 (before plans said which integrations were listed, #16) still reads."""
    old = json.loads((GOLDEN / "quickstart-plan.format4.json").read_text(encoding="utf-8"))
    assert (
        old["format"] == 4 and not any("reads" in cp for cp in old["customers"]) and "config_parts" not in old
    )
    today = quickstart_plan(quickstart)
    assert today.customers[0].reads and all(r.listed for cp in today.customers for r in cp.reads)
    read = Plan.from_dict(old)
    assert all(cp.reads == () for cp in read.customers)
    assert read == dataclasses.replace(
        today, customers=tuple(dataclasses.replace(cp, reads=()) for cp in today.customers)
    )


def test_a_plan_saved_in_format_5_reads_as_the_same_plan(quickstart: Path) -> None:
    """Format 6 added update-record and archive-record (R25, R8); a format 5 plan has
    neither and reads as the plan of today."""
    old = json.loads((GOLDEN / "quickstart-plan.format5.json").read_text(encoding="utf-8"))
    assert old["format"] == 5 and "update_record" not in old["summary"] and "config_parts" not in old
    assert Plan.from_dict(old) == quickstart_plan(quickstart)


def test_an_unknown_plan_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported plan format 9; this version reads 1, 2, 3, 4, 5, 6"):
        Plan.from_dict({"format": 9})
