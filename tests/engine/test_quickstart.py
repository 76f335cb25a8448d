"""End to end on the offline quickstart: plan -> apply -> plan, saved plans, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def entries(qs: Path, customer: str, kind: str) -> list[dict[str, object]]:
    data = json.loads((qs / "live" / customer / f"{kind}.json").read_text())
    return data.get("entries") or data.get("contacts") or []


def test_plan_apply_plan_converges(quickstart: Path) -> None:
    code, out = run("plan", "-c", str(quickstart), "--detailed-exitcode")
    assert code == 2, out
    assert (
        "Plan: 11 to add, 0 to change, 0 to remove, 6 to link, 6 records to create, 5 welcome emails, 1 conflict."
        in out
    )
    code, out = run("apply", "-c", str(quickstart), "--auto-approve")
    assert code == 0, out
    assert "Apply complete: 28 changes applied, 0 failed." in out
    code, out = run("plan", "-c", str(quickstart), "--detailed-exitcode")
    assert code == 0, out
    assert "Plan: 0 to add, 0 to change, 0 to remove, 1 conflict. 1 customer paused." in out
    # apply wrote to the file-backed targets like a real system: one new entry per created account
    created = [e for e in entries(quickstart, "contoso", "itglue") if e.get("marker")]
    assert sorted(e["username"] for e in created) == [
        "carol@contoso.com",
        "frank@contoso.com",
        "heidi@contoso.com",
    ]
    assert len(list((quickstart / "live" / "contoso" / "outbox").iterdir())) == 5
    # a second apply changes nothing
    code, out = run("apply", "-c", str(quickstart), "--auto-approve")
    assert code == 0 and "Nothing to apply." in out
    assert len(entries(quickstart, "contoso", "itglue")) == 10


def test_saved_plan_is_applied_exactly_and_only_once(quickstart: Path, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    code, _ = run("plan", "-c", str(quickstart), "-o", str(planfile))
    assert code == 0
    # live data changes after the plan: apply still does exactly what was planned
    ent = quickstart / "live" / "contoso" / "entra.json"
    data = json.loads(ent.read_text())
    data["users"].append({"id": "late", "upn": "late@contoso.com", "licensed": True})
    ent.write_text(json.dumps(data))
    code, out = run("apply", "-c", str(quickstart), str(planfile))
    assert code == 0, out
    code, out = run("state", "list", "-c", str(quickstart), "--customer", "contoso", "--format", "json")
    assert "late@contoso.com" not in out and "alice@contoso.com" in out
    # the same plan again is stale: the state moved on
    code, out = run("apply", "-c", str(quickstart), str(planfile))
    assert code == 1 and "plan again" in out


def test_plan_is_stale_when_the_config_changed(quickstart: Path, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    run("plan", "-c", str(quickstart), "-o", str(planfile))
    policy = quickstart / "policies" / "entra-standard.yaml"
    policy.write_text(policy.read_text().replace("selfServe: true", "selfServe: false"))
    code, out = run("apply", "-c", str(quickstart), str(planfile))
    assert code == 1 and out.count("\n") == 1, out
    assert (
        "the config changed since this plan was made: ImportPolicy entra-standard changed "
        f"({policy}); plan again"
    ) in out


def test_a_stale_plan_names_the_documents_and_template_that_changed(quickstart: Path, tmp_path: Path) -> None:
    """#12: which customers, policies and templates changed, not only "stale"; a comment or a
    reordering changes nothing; a plan saved before plans named their parts (format 5) is
    still refused, with the general message."""
    planfile = tmp_path / "plan.json"
    run("plan", "-c", str(quickstart), "-o", str(planfile))
    contoso = quickstart / "customers" / "contoso.yaml"
    contoso.write_text("# a comment changes nothing\n" + contoso.read_text())
    code, out = run("plan", "-c", str(quickstart), "-o", str(tmp_path / "same.json"))
    assert (
        json.loads((tmp_path / "same.json").read_text())["config_digest"]
        == json.loads(planfile.read_text())["config_digest"]
    )
    fabrikam = quickstart / "customers" / "fabrikam.yaml"
    fabrikam.write_text(fabrikam.read_text().replace("  labels:\n", "  labels:\n    team: blue\n", 1))
    template = quickstart / "templates" / "welcome.txt"
    template.write_text(template.read_text() + "\nP.S. one more line\n")
    code, out = run("apply", "-c", str(quickstart), str(planfile))
    assert code == 1 and out.count("\n") == 1 and "Traceback" not in out, out
    assert "the config changed since this plan was made: " in out
    assert (
        f"Customer fabrikam changed ({fabrikam}), the welcome template templates/welcome.txt changed" in out
    )
    assert "Customer contoso" not in out and out.rstrip().endswith("; plan again")

    old = json.loads(planfile.read_text())
    old["format"], _ = 5, old.pop("config_parts")
    planfile.write_text(json.dumps(old))
    code, out = run("apply", "-c", str(quickstart), str(planfile))
    assert code == 1 and "the config changed since this plan was made; plan again" in out


def test_a_plan_made_stale_by_an_apply_says_which_customer_and_what_ran(
    quickstart: Path, tmp_path: Path
) -> None:
    planfile = tmp_path / "plan.json"
    run("plan", "-c", str(quickstart), "-o", str(planfile))
    code, out = run("apply", "-c", str(quickstart), "--auto-approve", "--customer", "contoso")
    assert code == 0, out
    code, out = run("apply", "-c", str(quickstart), str(planfile))
    assert code == 1 and out.count("\n") == 1, out
    assert "contoso: state changed since this plan was made (serial 0 -> " in out
    assert ": reconciler apply applied 16 changes at 20" in out and out.rstrip().endswith("; plan again")


def test_apply_without_a_terminal_needs_auto_approve(quickstart: Path) -> None:
    code, out = run("apply", "-c", str(quickstart))
    assert code == 1 and "--auto-approve" in out
    code, out = run("state", "list", "-c", str(quickstart))
    assert "alice" not in out


def test_show_renders_a_saved_plan_in_every_format(quickstart: Path, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    run("plan", "-c", str(quickstart), "-o", str(planfile))
    _, text = run("show", str(planfile))
    assert "conflict: bob@contoso.com in itglue" in text
    _, md = run("show", str(planfile), "--format", "markdown")
    assert md.startswith("## reconciler plan") and "<details>" in md
    _, js = run("show", str(planfile), "--format", "json")
    assert json.loads(js)["summary"]["conflicts"] == 1


def test_customer_filter_and_unknown_customer(quickstart: Path) -> None:
    code, out = run("plan", "-c", str(quickstart), "--customer", "northwind")
    assert code == 0 and "northwind" in out and "contoso" not in out
    code, out = run("plan", "-c", str(quickstart), "--customer", "nope")
    assert code == 1 and "unknown customer 'nope'" in out and "Traceback" not in out


def test_mass_removal_is_refused_with_exit_3(quickstart: Path) -> None:
    ent = quickstart / "live" / "contoso" / "entra.json"
    data = json.loads(ent.read_text())
    data["users"] += [{"id": f"x{i}", "upn": f"x{i}@contoso.com", "licensed": True} for i in range(10)]
    ent.write_text(json.dumps(data))
    assert run("apply", "-c", str(quickstart), "--auto-approve")[0] == 0
    data["users"] = data["users"][:4]
    ent.write_text(json.dumps(data))
    code, out = run("plan", "-c", str(quickstart), "--customer", "contoso")
    assert code == 3 and "REFUSED" in out and "--allow-mass-removal" in out
    code, out = run("apply", "-c", str(quickstart), "--customer", "contoso", "--auto-approve")
    assert code == 3
    assert "x9@contoso.com" in run("state", "list", "-c", str(quickstart), "--customer", "contoso")[1]
    code, out = run(
        "apply", "-c", str(quickstart), "--customer", "contoso", "--auto-approve", "--allow-mass-removal"
    )
    assert code == 0, out
    assert "x9@contoso.com" not in run("state", "list", "-c", str(quickstart), "--customer", "contoso")[1]


def test_a_broken_live_file_fails_one_customer_with_its_location(quickstart: Path) -> None:
    (quickstart / "live" / "northwind" / "ad.json").write_text('{"users": [\n  {"upn": }\n]}')
    code, out = run("plan", "-c", str(quickstart))
    assert code == 1
    assert "northwind/ad.json:2:11: invalid JSON" in out
    assert "customer contoso: 16 changes" in out  # the others are still planned


def test_a_wrongly_typed_live_field_fails_that_customer_only(quickstart: Path) -> None:
    ent = quickstart / "live" / "contoso" / "entra.json"
    data = json.loads(ent.read_text())
    data["users"][0]["proxy_addresses"] = 5
    ent.write_text(json.dumps(data))
    code, out = run("plan", "-c", str(quickstart))
    assert code == 1 and "Traceback" not in out
    assert "item 0: field 'proxy_addresses' must be a list of strings" in out
    assert "customer fabrikam: 8 changes" in out


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a corrupt state file
def test_corrupt_state_and_plan_files_give_one_clear_line(quickstart: Path, tmp_path: Path) -> None:
    state = quickstart / ".reconciler" / "state.db"
    state.parent.mkdir()
    state.write_bytes(b"this is not a database" * 100)
    code, out = run("plan", "-c", str(quickstart))
    assert code == 1 and "cannot open the state database" in out and "Traceback" not in out
    state.unlink()
    bogus = tmp_path / "plan.json"
    bogus.write_text("[]")
    code, out = run("show", str(bogus))
    assert code == 1 and "not a reconciler plan file" in out


def test_apply_rechecks_pause_and_the_guard_whatever_the_plan_says(quickstart: Path, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    assert run("apply", "-c", str(quickstart), "--auto-approve")[0] == 0
    # an edited plan: tailspin (paused) marked ok, and every contoso account removed
    run("plan", "-c", str(quickstart), "-o", str(planfile))
    data = json.loads(planfile.read_text())
    state = json.loads(run("state", "list", "-c", str(quickstart), "--format", "json")[1])
    contoso = next(c for c in state["customers"] if c["customer"] == "contoso")
    for cp in data["customers"]:
        if cp["customer"] == "tailspin":
            cp["status"] = "ok"
        if cp["customer"] == "contoso":
            cp["changes"] = [
                {
                    "kind": "remove",
                    "account_key": a["key"],
                    "label": a["upn"],
                    "rule": "R8",
                    "reason": "edited",
                    "account": a,
                }
                for a in contoso["accounts"]
            ]
            for change in cp["changes"]:
                for k in ("links", "welcome"):
                    change["account"].pop(k)
    planfile.write_text(json.dumps(data))
    code, out = run("apply", "-c", str(quickstart), str(planfile))
    assert code == 3, out
    assert "tailspin: not applied: the customer is paused (R10)" in out
    assert "contoso: not applied: would remove all 6 accounts" in out
    assert "yolanda" not in run("state", "list", "-c", str(quickstart))[1]
    assert "alice@contoso.com" in run("state", "list", "-c", str(quickstart))[1]


def test_a_plan_and_a_saved_plan_say_who_is_applying_a_customer(quickstart: Path, tmp_path: Path) -> None:
    """The lease comes before the freshness check: a second apply is told who holds the
    customer, not "plan again"; a plan meanwhile says so at the top."""
    from reconciler.config import load_valid_config
    from reconciler.state.backend import open_state

    planfile = tmp_path / "plan.json"
    assert run("plan", "-c", str(quickstart), "-o", str(planfile))[0] in (0, 2)
    backend = open_state(load_valid_config(quickstart))
    try:
        lease = backend.store.lock("contoso", "reconciler daemon")
        with backend.store.batch(fence=lease):  # the daemon has committed a batch of contoso
            backend.store.bump_serial("contoso")
        code, out = run("plan", "-c", str(quickstart))
        assert out.startswith("note: contoso is being applied right now by reconciler daemon (pid "), out
        code, out = run("apply", "-c", str(quickstart), str(planfile))
        assert code == 1 and "contoso: locked by reconciler daemon (pid" in out and "plan again" not in out
        backend.store.release(lease)
        code, out = run("apply", "-c", str(quickstart), str(planfile))
        assert code == 1 and "plan again" in out  # the holder is gone, its commit stays
    finally:
        backend.close()
