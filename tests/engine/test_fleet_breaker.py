"""The fleet breaker (#12): one policy edit that makes many customers remove accounts
holds all of them; directory churn alone never trips it. The real CLI on an offline
fleet of six Entra customers (file twins, real SQLite state)."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.core.fleet import FleetHold, fleet_breaker, fleet_hold, fleet_limit
from reconciler.core.model import Account, AccountClass, DirSource
from reconciler.core.plan import CustomerPlan, RemoveAccount, Status
from tests.core.builders import entra
from tests.engine.test_crash import cli

NAMES = [f"c{i}" for i in range(6)]


def write_fleet(root: Path, self_serve: bool) -> None:
    (root / "live").mkdir(parents=True, exist_ok=True)
    docs = [
        "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\n"
        "spec:\n  snapshot: {dir: live}\n",
        "apiVersion: reconciler.dev/v1\nkind: ImportPolicy\nmetadata: {name: std}\nspec:\n"
        f"  appliesTo: {{labelSelector: {{matchLabels: {{plan: std}}}}}}\n  source: entra\n"
        f"  options: {{selfServe: {str(self_serve).lower()}}}\n",
    ]
    for i, name in enumerate(NAMES):
        docs.append(
            f"apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {{name: {name}, labels: {{plan: std}}}}\n"
            f"spec:\n  directories: {{entra: {{tenantId: 00000000-0000-4000-8000-{i:012d}}}}}\n"
        )
    (root / "fleet.yaml").write_text("---\n".join(docs))


def write_users(root: Path, count: int) -> None:
    for name in NAMES:
        users = [
            {"id": f"{name}-u{n}", "upn": f"u{n}@{name}.test", "licensed": True, "enabled": True}
            for n in range(count)
        ]
        (root / "live" / name).mkdir(parents=True, exist_ok=True)
        (root / "live" / name / "entra.json").write_text(json.dumps({"format": 1, "users": users}))


def test_a_settings_change_that_removes_accounts_everywhere_is_held(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    write_fleet(root, self_serve=False)
    write_users(root, 4)
    assert cli("apply", "-c", str(root), "--auto-approve").returncode == 0

    # directory churn alone (one user leaves every tenant): never held
    write_users(root, 3)
    churn = cli("plan", "-c", str(root))
    assert churn.returncode == 0, churn.stdout + churn.stderr
    assert "fleet breaker" not in churn.stdout
    assert cli("apply", "-c", str(root), "--auto-approve").returncode == 0

    # one policy edit (every customer's settings change) while each also removes one
    write_fleet(root, self_serve=True)
    write_users(root, 2)
    held = cli("apply", "-c", str(root), "--auto-approve")
    assert held.returncode == 3, held.stdout + held.stderr
    assert held.stdout.count("held by fleet breaker") >= 6
    assert "6 customers whose settings changed would remove accounts (limit 2 of a fleet of 6)" in held.stdout
    state = json.loads(cli("state", "list", "-c", str(root), "--format", "json").stdout)  # nothing applied
    assert all(len(c["accounts"]) == 3 for c in state["customers"])

    forced = cli("apply", "-c", str(root), "--auto-approve", "--allow-fleet-removal")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert cli("plan", "-c", str(root), "--detailed-exitcode").returncode == 0


def test_the_limit_and_who_counts() -> None:
    assert [fleet_limit(n) for n in (1, 10, 20, 30, 100, 1000)] == [2, 2, 2, 3, 5, 5]
    user = entra(1)
    acct = Account("end-user/entra:e-1", AccountClass.END_USER, (DirSource.ENTRA,), user.upn)
    removing = (RemoveAccount(acct.key, acct.upn, "R8", "gone", acct),)
    plans = [CustomerPlan(f"c{i}", Status.OK, 1, removing) for i in range(4)]
    kept, why = fleet_breaker(plans, ["c0", "c1"], 10, "d" * 64)  # only two changed: under the limit
    assert why is None and kept == plans
    held, why = fleet_breaker(plans, ["c0", "c1", "c2"], 10, "d" * 64)
    hold = fleet_hold(plans, ["c0", "c1", "c2"], 10, "d" * 64)
    assert hold is not None and sorted(hold.customers) == ["c0", "c1", "c2"]
    assert why is not None and why.startswith(f"held by fleet breaker {hold.short}: 3 customers")
    assert [cp.status for cp in held] == [Status.REFUSED] * 3 + [Status.OK]
    # the digest names what is held: another config, or other removals, is another hold
    assert fleet_hold(plans, ["c0", "c1", "c2"], 10, "e" * 64).digest != hold.digest  # type: ignore[union-attr]
    assert fleet_hold(plans, ["c0", "c1", "c3"], 10, "d" * 64).digest != hold.digest  # type: ignore[union-attr]
    assert FleetHold.from_dict(hold.to_dict()) == hold
