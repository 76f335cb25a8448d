"""The saved plan (`plan -o`) of a generated snapshot is byte-identical to the text the
generic writer gives (`jsonlayout.dumps(plan.to_dict(), expand=4)`) and to a golden
file written before the one-pass writer (reconciler/core/planfile.py) existed.

The snapshot: the quickstart, with 60 generated contoso users whose names hold quotes,
backslashes, control characters and non-ASCII text, their IT Glue entries (matches,
duplicates, none), applied once, then edited (renames, removals, a vanished linked
entry), so the plan holds every kind of change and conflicts.

Regenerate after an intended change of the plan format with:
UPDATE_GOLDEN=1 pytest tests/engine/test_saved_plan.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.cli.plan import load_plan
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "generated-saved-plan.json"
NAMES = ['Zoë "Zed"', "Back\\slash", "Tab\there", "漢字 名前", "Émile 🙂", "O'Brien", "plain"]


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _edit(path: Path, key: str, change: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data[key] = change(data.get(key, [])) if callable(change) else change
    path.write_text(json.dumps(data), encoding="utf-8")


def generated(qs: Path) -> Path:
    """The quickstart with the generated users, applied once and then edited."""
    contoso = qs / "live" / "contoso"
    users = [
        {
            "id": f"9{i:07d}-0000-4000-8000-000000000000",
            "upn": f"gen{i}@contoso.com",
            "mail": f"gen{i}@contoso.com",
            "given_name": NAMES[i % len(NAMES)],
            "surname": f"Sür{i}",
            "display_name": f"{NAMES[i % len(NAMES)]} {i}",
            "licensed": True,
            "proxy_addresses": [f"SMTP:gen{i}@contoso.com"],
        }
        for i in range(60)
    ]
    entries = [
        {
            "id": str(9000 + i),
            "name": f"{NAMES[i % len(NAMES)]} M365",
            "username": f"gen{i}@contoso.com",
            "category": "Office 365",
        }
        for i in range(0, 60, 2)  # half match one entry, half get one created
    ] + [
        {"id": f"d{i}", "name": "dup", "username": f"GEN{i}@contoso.com", "category": "Azure AD"}
        for i in range(0, 60, 20)
    ]
    _edit(contoso / "entra.json", "users", lambda old: old + users)
    _edit(contoso / "itglue.json", "entries", lambda old: old + entries)
    code, out = _run("apply", "-c", str(qs), "--auto-approve")
    assert code == 0, out
    # since: 3 renamed, 2 gone from the directory, 3 new (one with an entry), one linked
    # entry deleted outside
    _edit(
        contoso / "entra.json",
        "users",
        lambda old: (
            [
                {**u, "display_name": f'Renamed "{u["display_name"]}"'}
                if u["upn"] in ("gen1@contoso.com", "gen4@contoso.com", "gen7@contoso.com")
                else u
                for u in old
                if u["upn"] not in ("gen10@contoso.com", "gen11@contoso.com")
            ]
            + [
                {
                    **users[3],
                    "id": f"8{i:07d}-0000-4000-8000-000000000000",
                    "upn": f"new{i}@contoso.com",
                    "mail": f"new{i}@contoso.com",
                }
                for i in range(3)
            ]
        ),
    )
    found = {"id": "9999", "name": "Ñew", "username": "new1@contoso.com", "category": "Office 365"}
    _edit(contoso / "itglue.json", "entries", lambda old: [e for e in old if e["id"] != "9002"] + [found])
    out_file = qs / "plan.json"
    code, out = _run("plan", "-c", str(qs), "-o", str(out_file))
    assert code == 0, out
    return out_file


def _normalized(text: str) -> str:
    text = re.sub(r'"created_at": "[^"]*"', '"created_at": "<created>"', text)
    text = re.sub(r'"(last_full_read|verify_by)": "[^"]*"', r'"\1": "<time>"', text)
    return re.sub(r'"config_digest": "[0-9a-f]*"', '"config_digest": "<digest>"', text)


@pytest.fixture
def saved(quickstart: Path) -> Path:
    return generated(quickstart)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the state is not what is tested
def test_the_saved_plan_of_a_generated_snapshot_is_unchanged(saved: Path) -> None:
    text = _normalized(saved.read_text(encoding="utf-8"))
    kinds = set(re.findall(r'"kind": "([a-z-]+)"', text))
    assert kinds >= {"add", "update", "remove", "link", "create-record", "recreate-record", "send-welcome"}
    assert '"conflicts": [\n    {' in text and "\\u6f22" in text and '\\"' in text and "\\\\" in text
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), f"{GOLDEN.name} differs; UPDATE_GOLDEN=1 to accept"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_one_pass_writer_gives_the_generic_text_byte_for_byte(saved: Path) -> None:
    from reconciler.core.planfile import plan_text, reference_text

    written = saved.read_text(encoding="utf-8")
    plan = load_plan(saved)
    assert plan_text(plan) == reference_text(plan) == written
