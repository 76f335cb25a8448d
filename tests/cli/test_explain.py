"""`reconciler explain CUSTOMER USER`: one person's whole decision, on the quickstart."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_a_conflict_names_the_candidate_records(quickstart: Path) -> None:
    code, out = run("explain", "-c", str(quickstart), "contoso", "BOB@contoso.com")
    assert code == 0, out
    assert "found in Entra: bob@contoso.com" in out
    assert "end-user import: policy entra-standard (source entra)" in out
    assert "itglue: conflict: nothing linked or created (R18)" in out
    assert 'candidate 504 "Bob Baker"' in out and 'candidate 505 "Bob Baker copy"' in out


def test_a_skipped_user_says_why_in_json(quickstart: Path) -> None:
    code, out = run("explain", "-c", str(quickstart), "contoso", "dave@contoso.com", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert (data["format_version"], data["kind"], data["imported"]) == (2, "explanation", False)
    assert (data["customer"], data["query"]) == ("contoso", "dave@contoso.com")
    assert data["decisions"] == [
        {
            "class": "end-user",
            "outcome": "not imported",
            "rule": "R1",
            "reason": "not imported: no licence assigned",
        }
    ]
    assert data["found"][0]["state"] == "(enabled, unlicensed)"
    assert (data["found"][0]["enabled"], data["found"][0]["licensed"]) == (True, False)


def test_json_of_an_imported_person_and_of_nobody(quickstart: Path) -> None:
    code, out = run("explain", "-c", str(quickstart), "fabrikam", "judy", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["imported"] is True and data["found"][0]["directory"] == "Active Directory"
    assert data["entra_match"][0]["by"] and data["policies"]
    result = CliRunner().invoke(
        main, ["explain", "-c", str(quickstart), "contoso", "nobody@nowhere.test", "--format", "json"]
    )
    assert result.exit_code == 1
    nobody = json.loads(result.stdout)  # still one JSON document on stdout, the error on stderr
    assert (nobody["kind"], nobody["found"], nobody["imported"]) == ("explanation", [], False)
    assert (
        result.stderr.strip() == "contoso: no directory user or managed account matches 'nobody@nowhere.test'"
    )


def test_password_sync_match_and_links_after_apply(quickstart: Path) -> None:
    code, out = run("apply", "-c", str(quickstart), "--auto-approve")
    assert code in (0, 3), out
    code, out = run("explain", "-c", str(quickstart), "fabrikam", "judy@fabrikam.com")
    assert code == 0, out
    assert "found in Active Directory: judy@fabrikam.com" in out
    assert "password sync (R3): judy@fabrikam.com -> Entra" in out
    assert "managed account end-user/ad:" in out
    assert "connectwise: linked to record 301 (kept)" in out
    by_sam = run("explain", "-c", str(quickstart), "fabrikam", "judy")[1]
    assert "managed account end-user/ad:" in by_sam  # sAMAccountName finds the same person


def test_an_unknown_person_is_one_line_and_exit_1(quickstart: Path) -> None:
    code, out = run("explain", "-c", str(quickstart), "contoso", "nobody@nowhere.test")
    assert code == 1
    assert (
        out.strip().splitlines()[-1]
        == "contoso: no directory user or managed account matches 'nobody@nowhere.test'"
    )
