"""The Markdown plan (the pull-request comment): golden files and the size limit.

Regenerate the golden files with UPDATE_GOLDEN=1 after an intended change, and
read the diff before committing it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from reconciler.core.model import Account, AccountClass, DirSource
from reconciler.core.plan import AddAccount, CustomerPlan, Plan, Status
from reconciler.core.render import render_markdown
from tests.ci.cisupport import GOLDEN, make_plan, refused_config


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing; run with UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; UPDATE_GOLDEN=1 rewrites it"


def test_quickstart_plan_golden(quickstart: Path) -> None:
    text = render_markdown(make_plan(quickstart))
    check_golden("quickstart-plan.md", text)
    # what the golden file must show, whatever it is regenerated to
    head = text.partition("<details>")[0]
    assert head.index("**Plan:") < head.index("> [!WARNING]") < head.index("| customer |")
    assert "**contoso** conflict: `bob@contoso.com` in itglue" in head
    assert "| tailspin | paused |" in head
    assert text.count("<details>") == text.count("</details>") == 4


def test_refused_plan_golden(tmp_path: Path) -> None:
    plan = make_plan(refused_config(tmp_path))
    assert [cp.status for cp in plan.customers] == [Status.REFUSED, Status.OK]
    text = render_markdown(plan)
    check_golden("refused-plan.md", text)
    warning = text[text.index("> [!WARNING]") : text.index("| customer |")]
    assert (
        "**acme** refused, nothing is applied for it: would remove 8 of 12 accounts (67% &gt; 30% limit)"
        in warning
    )
    assert "- remove account erin@acme.com" in text
    assert "+ add account olivia@globex.com" in text


def test_rendering_is_deterministic(quickstart: Path) -> None:
    first, second = make_plan(quickstart), make_plan(quickstart)
    assert render_markdown(first) == render_markdown(second)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", render_markdown(first))


def _big_plan(customers: int, changes: int) -> Plan:
    cps = []
    for i in range(customers):
        account = Account(f"u{i}", AccountClass.END_USER, (DirSource.ENTRA,), f"user{i}@c{i}.example")
        cps.append(
            CustomerPlan(
                f"customer-{i:03d}",
                Status.OK,
                0,
                tuple(
                    AddAccount(f"k{j}", f"user{j}@c{i}.example", "R1", "selected", account)
                    for j in range(changes)
                ),
            )
        )
    cps.append(CustomerPlan("quiet", Status.OK, 0))
    return Plan("d" * 64, "2026-01-01T00:00:00+00:00", tuple(cps))


@pytest.mark.parametrize("limit", [3_000, 20_000, 65_536])
def test_long_plan_is_cut_at_a_line_with_blocks_closed(limit: int) -> None:
    plan = _big_plan(40, 60)
    full = render_markdown(plan)
    assert len(full) > limit
    text = render_markdown(plan, limit=limit, cut_note="See the artifact.")
    assert len(text) <= limit
    assert text.startswith("## reconciler plan\n\n**Plan: 2400 to add")
    assert text.count("<details>") == text.count("</details>")
    assert len(re.findall(r"^```", text, re.M)) % 2 == 0
    note = text[text.rindex("</details>") :]
    assert "> [!NOTE]" in note and "See the artifact." in note
    sections = re.findall(r"<details>.*?</details>", full, re.S)
    complete = sum(section in text for section in sections)
    assert 0 < complete < 40 or limit == 3_000
    assert f"the details of {40 - complete} of 40 customers are not shown in full" in note
    assert full.startswith(text[: text.index("<details>")])  # nothing before the details was cut
    assert "1 customer has no changes." in text
    assert "| quiet |" not in text


def test_short_plan_is_not_cut() -> None:
    plan = _big_plan(2, 2)
    assert render_markdown(plan, limit=65_536) == render_markdown(plan)
    assert "Cut here" not in render_markdown(plan, limit=65_536)


def test_backticks_in_directory_data_cannot_break_out_of_code() -> None:
    evil = "x```</details>` <img src=x>@c.example"
    account = Account("e", AccountClass.END_USER, (DirSource.ENTRA,), evil)
    plan = Plan("d", "t", (CustomerPlan("c", Status.OK, 0, (AddAccount("e", evil, "R1", "r", account),)),))
    text = render_markdown(plan)
    fence = "````"
    assert f"{fence}diff\n+ add account {evil}" in text
    assert re.findall(r"^</details>$", text, re.M) == ["</details>"]
    assert text.index(f"+ add account {evil}") < text.index(f"\n{fence}\n") < text.index("\n</details>")
