"""#17 item 3: customers that validate but will do nothing get a located warning
(in `validate`, its JSON and `plan`), and `validate --live` in snapshot mode, which
can never check anything, is an error. Through the real CLI on the quickstart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main

IDLE = "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata:\n  name: adatum\nspec: {}\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_customer_without_import_settings_is_a_located_warning(quickstart: Path) -> None:
    (quickstart / "customers" / "adatum.yaml").write_text(IDLE)
    code, out, err = run("validate", "-c", str(quickstart))
    assert code == 0, err
    where = quickstart / "customers" / "adatum.yaml"
    assert err.splitlines() == [
        f"{where}:5:1: warning: customer 'adatum' is in no import policy and has no import or "
        "adminImport settings: it imports nothing (R20)"
    ]
    assert out.startswith(f"{quickstart}: valid (5 customers, ") and "1 warning)" in out
    code, out, err = run("plan", "-c", str(quickstart), "--customer", "adatum")
    assert code == 0 and "imports nothing (R20)" in err  # the plan says it too, on stderr
    code, out, err = run("plan", "-c", str(quickstart), "--customer", "contoso")
    assert "adatum" not in err  # only the customers the command works on


def test_snapshot_mode_without_the_customers_files(quickstart: Path) -> None:
    (quickstart / "live" / "northwind" / "ad.json").unlink()  # AD import, no ad.json
    (quickstart / "live" / "fabrikam" / "entra.json").unlink()  # password sync needs it (R3)
    shutil.rmtree(quickstart / "live" / "tailspin")
    code, out, err = run("validate", "-c", str(quickstart))
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 3, err
    fabrikam, northwind, tailspin = sorted(lines)
    assert fabrikam.startswith(f"{quickstart / 'customers' / 'fabrikam.yaml'}:") and fabrikam.endswith(
        "warning: snapshot mode: live/fabrikam/entra.json does not exist: password sync "
        "(policy ad-groups-sync) finds no Entra match (R3)"
    )
    assert northwind.endswith(
        "warning: snapshot mode: live/northwind/ad.json does not exist: the Active Directory "
        "import (customer) sees no users"
    )
    assert ":9:3: warning: snapshot mode: there is no live/tailspin/ for customer 'tailspin'" in tailspin
    code, out, _ = run("validate", "-c", str(quickstart), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["valid"] and len(data["warnings"]) == 3
    assert {w["file"] for w in data["warnings"]} == {
        str(quickstart / "customers" / f"{n}.yaml") for n in ("fabrikam", "northwind", "tailspin")
    }
    assert all(w["line"] > 0 and w["message"].startswith("warning: ") for w in data["warnings"])


def test_a_missing_snapshot_directory_is_one_warning_at_settings(quickstart: Path) -> None:
    shutil.rmtree(quickstart / "live")
    code, _, err = run("validate", "-c", str(quickstart))
    assert code == 0
    assert err.splitlines() == [
        f"{quickstart / 'settings.yaml'}:13:5: warning: snapshot directory live does not exist: "
        "every customer reads as empty"
    ]


def test_validate_live_in_snapshot_mode_is_an_error(quickstart: Path) -> None:
    code, out, err = run("validate", "-c", str(quickstart), "--live")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{quickstart / 'settings.yaml'}:12:3: validate --live: Settings spec.snapshot is set "
        "(offline mode), so there is no live directory to check; drop --live, or remove "
        "spec.snapshot to talk to the real systems"
    ]
    assert not (quickstart / ".reconciler").exists()
    code, out, _ = run("validate", "-c", str(quickstart), "--live", "--format", "json")
    data = json.loads(out)
    assert code == 1 and not data["valid"] and data["problems"][0]["line"] == 12


def test_validate_live_in_snapshot_mode_with_a_live_notification_target_warns(quickstart: Path) -> None:
    """A PSA ticket queue is checked live even offline (daemon/notify/checks.py): then
    --live is not useless, only the directories are not checked; say so."""
    settings = quickstart / "settings.yaml"
    settings.write_text(
        settings.read_text()
        + "  notifications:\n    - {name: at, type: autotask-ticket, queueId: 1, statusId: 1, priorityId: 1, closedStatusId: 5}\n"
    )
    _, _, err = run("validate", "-c", str(quickstart), "--live")
    assert (
        f"{settings}:12:3: warning: validate --live: Settings spec.snapshot is set (offline mode): "
        "directory selections are read from files and not checked live; only notification targets are"
    ) in err.splitlines()
