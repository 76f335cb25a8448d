"""`state show|rm|import|mv` (#17) through the real entry point on the quickstart:
a plan-like preview, confirmation (a real pty) or --auto-approve, and what the
next plan does afterwards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.entry import run, run_pty

CAROL = "carol@contoso.com"  # her IT Glue entry 508 was created by reconciler: it carries our marker


@pytest.fixture
def applied(quickstart: Path) -> Path:
    assert run(["apply", "-c", str(quickstart), "--auto-approve"]).code == 0
    return quickstart


def cli(root: Path, *args: str, code: int = 0) -> str:
    result = (
        run([*args[:2], "-c", str(root), *args[2:]]) if args[0] == "state" else run([*args, "-c", str(root)])
    )
    assert result.code == code, result.stdout + result.stderr
    return result.stdout + result.stderr


def plan(root: Path, customer: str = "contoso") -> str:
    return cli(root, "plan", "--customer", customer)


def show(root: Path, customer: str, account: str) -> dict[str, Any]:
    data = json.loads(cli(root, "state", "show", customer, account, "--format", "json"))
    assert data["format_version"] == 2 and data["kind"] == "state-show"
    (row,) = data["accounts"]
    return dict(row)


def test_show(applied: Path) -> None:
    text = cli(applied, "state", "show", "contoso", CAROL)
    assert f"account {CAROL} (key end-user/entra:" in text and "link: itglue record 508" in text
    assert "welcome: sent" in text
    row = show(applied, "contoso", CAROL)
    assert row["links"] == {"itglue": "508"} and row["welcome"] == "sent"
    assert "no managed account 'nobody'" in cli(applied, "state", "show", "contoso", "nobody", code=1)


def test_rm_account_keeps_a_welcome_tombstone(applied: Path) -> None:
    out = cli(applied, "state", "rm", "contoso", "alice@contoso.com", "--auto-approve")
    assert "- contoso: account alice@contoso.com" in out
    assert "~ contoso: welcome record (sent) kept: alice@contoso.com is not welcomed again (R16)" in out
    again = plan(applied)
    assert "+ add account alice@contoso.com" in again
    assert "send welcome email to alice@contoso.com" not in again  # R16: once, ever


def test_rm_account_with_forget_welcome_welcomes_again(applied: Path) -> None:
    cli(applied, "state", "rm", "contoso", "alice@contoso.com", "--forget-welcome", "--auto-approve")
    assert "send welcome email to alice@contoso.com" in plan(applied)


def test_rm_link_detaches_until_import(applied: Path) -> None:
    out = cli(applied, "state", "rm", "contoso", CAROL, "--integration", "itglue", "--auto-approve")
    assert "- contoso: link carol@contoso.com -> itglue record 508 (the record is kept)" in out
    after = plan(applied)
    # not linked again by its marker, and nothing created for her instead
    assert "link carol@contoso.com" not in after and 'create itglue password entry "Carol' not in after
    assert f"{CAROL}: its itglue link was removed with `reconciler state rm` (record 508)" in after
    assert show(applied, "contoso", CAROL)["detached"] == {"itglue": "508"}
    out = cli(applied, "state", "import", "contoso", CAROL, "itglue", "508", "--auto-approve")
    assert "+ contoso: link carol@contoso.com -> itglue record 508" in out
    row = show(applied, "contoso", CAROL)
    assert row["links"] == {"itglue": "508"} and row["detached"] == {}
    assert "No changes." in plan(applied) or CAROL not in plan(applied)


def test_import_is_refused_where_a_pin_decides_and_for_a_missing_record(applied: Path) -> None:
    pinned = cli(
        applied, "state", "import", "contoso", "grace@contoso.com", "itglue", "501", "--auto-approve", code=1
    )
    assert "the YAML pins grace@contoso.com's itglue link to record 502 (R18)" in pinned
    missing = cli(applied, "state", "import", "contoso", CAROL, "itglue", "999", "--auto-approve", code=1)
    assert "itglue has no record '999' for this customer" in missing


def test_mv_keeps_links_only_to_the_same_organization(applied: Path) -> None:
    out = cli(applied, "state", "mv", "contoso", CAROL, "fabrikam", "--auto-approve")
    assert "+ fabrikam: welcome record (sent) moves with it (R16)" in out
    assert "fabrikam is not linked to the same itglue organization or company" in out
    row = show(applied, "fabrikam", CAROL)
    assert row["welcome"] == "sent" and row["links"] == {}
    assert CAROL not in cli(applied, "state", "list", "--customer", "contoso")
    # same organization: contoso's IT Glue organization moved to tailspin (a tenant merge;
    # one organization links one customer, #12; contoso keeps its passwords in Hudu now),
    # so the link is kept
    contoso = applied / "customers" / "contoso.yaml"
    doc = yaml.safe_load(contoso.read_text())
    del doc["spec"]["integrations"]["itglueOrganizationId"], doc["spec"]["pins"]
    doc["spec"]["integrations"]["huduCompanyId"] = "9999"
    contoso.write_text(yaml.safe_dump(doc))
    tailspin = applied / "customers" / "tailspin.yaml"
    doc = yaml.safe_load(tailspin.read_text())
    doc["spec"]["integrations"]["itglueOrganizationId"] = "4001"
    tailspin.write_text(yaml.safe_dump(doc))
    out = cli(applied, "state", "mv", "contoso", "alice@contoso.com", "tailspin", "--auto-approve")
    assert "~ tailspin: link alice@contoso.com -> itglue record 501 (both customers link itglue 4001)" in out
    assert show(applied, "tailspin", "alice@contoso.com")["links"] == {"itglue": "501"}


def test_a_saved_plan_is_stale_after_an_edit(applied: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    cli(applied, "state", "rm", "contoso", "alice@contoso.com", "--auto-approve")
    cli(applied, "plan", "-o", str(saved))  # adds alice back
    cli(applied, "state", "rm", "contoso", CAROL, "--auto-approve")
    stale = run(["apply", "-c", str(applied), str(saved)])
    assert stale.code == 1 and "plan again" in stale.stderr


def test_confirmation(applied: Path) -> None:
    refused = run(["state", "rm", "-c", str(applied), "contoso", CAROL])
    assert refused.code == 1 and "no terminal to confirm on; use --auto-approve" in refused.stderr
    assert show(applied, "contoso", CAROL)["links"] == {"itglue": "508"}
    no_json = run(["state", "rm", "-c", str(applied), "contoso", CAROL, "--format", "json"])
    assert no_json.code == 1 and "--auto-approve" in no_json.stderr
    # on a terminal: the preview, then the question; "n" changes nothing
    declined = run_pty(["state", "rm", "-c", str(applied), "contoso", CAROL], answer="n\n")
    assert (
        "- contoso: account carol@contoso.com" in declined.stdout
        and "Change the state? [y/N]" in declined.stdout
    )
    assert "Nothing changed." in declined.stdout
    accepted = run_pty(["state", "rm", "-c", str(applied), "contoso", CAROL], answer="y\n")
    assert accepted.code == 0 and "State changed" in accepted.stdout
    assert CAROL not in cli(applied, "state", "list")


def test_json_of_an_edit(applied: Path) -> None:
    data = json.loads(cli(applied, "state", "rm", "contoso", CAROL, "--auto-approve", "--format", "json"))
    assert data["kind"] == "state-edit" and data["command"] == "rm" and data["applied"] is True
    assert {"action": "remove", "customer": "contoso", "what": f"account {CAROL}"} in data["changes"]
    assert re.fullmatch(r"\d+", str(len(data["changes"])))
