"""Whether a fresh plan still does what a reviewed plan did."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from reconciler.ci.review import plan_differences
from reconciler.core.plan import Status
from tests.ci.cisupport import make_plan


def test_a_plan_made_again_from_the_same_inputs_does_the_same(quickstart: Path) -> None:
    assert plan_differences(make_plan(quickstart), make_plan(quickstart)) == []


def test_a_new_user_and_a_status_change_are_differences(quickstart: Path) -> None:
    reviewed = make_plan(quickstart)
    entra = quickstart / "live" / "contoso" / "entra.json"
    data = json.loads(entra.read_text())
    data["users"].append(dict(data["users"][0], id="new-id", upn="zoe@contoso.com", mail="zoe@contoso.com"))
    entra.write_text(json.dumps(data))
    fresh = make_plan(quickstart)
    found = plan_differences(reviewed, fresh)
    assert "contoso: new: add account zoe@contoso.com (R1: selected by the import settings)" in found
    assert all(line.startswith("contoso:") for line in found)

    paused = dataclasses.replace(fresh.customers[0], status=Status.PAUSED)
    fresh2 = dataclasses.replace(fresh, customers=(paused, *fresh.customers[1:]))
    assert "contoso: status ok -> paused" in plan_differences(fresh, fresh2)


def test_a_customer_missing_from_either_plan_is_a_difference(quickstart: Path) -> None:
    plan = make_plan(quickstart)
    fewer = dataclasses.replace(plan, customers=plan.customers[1:])
    assert plan_differences(plan, fewer) == ["contoso: not in the new plan"]
    assert plan_differences(fewer, plan) == ["contoso: only in the new plan"]
