"""End to end through the CLI against every simulator and a real SMTP server (the sandbox):
contacts matched by email, by name, created, conflicts and a pin; one welcome email per
account across applies and across a send whose answer is lost; none without an email;
flags in state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.core.model import parse_marker
from reconciler.testing.sandbox import AT_COMPANY, CW_COMPANY, Sandbox, SandboxError


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox.start(tmp_path / "sandbox")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def recipients(box: Sandbox) -> list[str]:
    return sorted(to for r in box.smtp.messages for to in r.rcpt_tos)


def test_plan_apply_converges_with_contacts_and_one_welcome_email_each(box: Sandbox) -> None:
    cfg = str(box.root)
    assert run("validate", "-c", cfg)[0] == 0

    code, out = run("plan", "-c", cfg, "--detailed-exitcode")
    assert code == 2, out
    # ConnectWise: by email, by name, created, an inactive contact never matches, a duplicate conflicts
    assert "link alice.adams@contoso.test to connectwise record 1001 (R14" in out
    assert "link bob.brown@contoso.test to connectwise record 1002 (R14" in out
    assert 'create connectwise contact "Carol Clark" <carol.clark@contoso.test>' in out
    assert 'create connectwise contact "Frank Fisher"' in out
    assert "conflict: dave.davis@contoso.test in connectwise: 2 records match" in out
    # Autotask: by second email, created, a duplicate by name conflicts
    assert "link kate.king@fabrikam.test to autotask record" in out
    assert 'create autotask contact "Jack Jones" <jack.jones@fabrikam.test>' in out
    assert "conflict: ivy.irwin@fabrikam.test in autotask: 2 records match" in out
    assert "erin.evans@contoso.test: no email address; no welcome email (R16)" in out
    assert "uma.unlicensed" not in out
    # Halo PSA (R24): by email, created, two users with one email conflict (never the first)
    assert "link nina.north@wingtip.test to halo record" in out
    assert 'create halo contact "Paula Park" <paula.park@wingtip.test>' in out
    assert "conflict: oscar.olsen@wingtip.test in halo: 2 records match" in out

    code, out = run("apply", "-c", cfg, "--auto-approve")
    assert code == 0, out
    assert "0 failed" in out
    welcomed = recipients(box)
    assert len(welcomed) == 15 and len(set(welcomed)) == 15
    assert "erin.evans@contoso.test" not in welcomed
    assert all(r.tls and r.authenticated for r in box.smtp.messages)
    assert len(list((box.root / "outbox").glob("*.eml"))) == 15

    # what the real clients created carries our markers where a rerun looks for them
    created_cw = [c for c in box.connectwise.contacts_of(CW_COMPANY) if c["integratorTags"]]
    assert sorted(c["firstName"] for c in created_cw) == ["Carol", "Erin", "Frank", "Grace"]
    assert all(parse_marker(c["integratorTags"][0]) for c in created_cw)
    (jack,) = [c for c in box.autotask.contacts_of(AT_COMPANY) if c["note"]]
    assert jack["firstName"] == "Jack" and parse_marker(jack["note"]).startswith("fabrikam/")  # type: ignore[union-attr]

    (paula,) = [u for u in box.halo.users_of(box.halo_client) if u["notes"]]
    assert paula["firstname"] == "Paula" and parse_marker(paula["notes"]).startswith("wingtip/")  # type: ignore[union-attr]

    code, out = run("plan", "-c", cfg, "--detailed-exitcode")
    assert code == 0, out
    assert "Plan: 0 to add, 0 to change, 0 to remove, 4 conflicts." in out
    code, out = run("apply", "-c", cfg, "--auto-approve")
    assert code == 0 and "Nothing to apply." in out
    assert len(recipients(box)) == 15  # never a second welcome email
    assert len(box.connectwise.contacts_of(CW_COMPANY)) == 9  # 5 seeded + 4 created, none twice


def test_a_pin_resolves_the_conflict(box: Sandbox) -> None:
    cfg = str(box.root)
    assert run("apply", "-c", cfg, "--auto-approve")[0] == 0
    contoso = box.root / "customers" / "contoso.yaml"
    text = contoso.read_text()
    for commented, line in (
        ("  # pins:", "  pins:"),
        ("  #   - account:", "    - account:"),
        ("  #     integration:", "      integration:"),
        ("  #     recordId:", "      recordId:"),
    ):
        text = text.replace(commented, line)
    contoso.write_text(text)
    code, out = run("plan", "-c", cfg)
    assert "link dave.davis@contoso.test to connectwise record 1003 (R18: pinned" in out
    assert "conflict: dave.davis" not in out
    assert run("apply", "-c", cfg, "--auto-approve")[0] == 0
    code, out = run("state", "list", "-c", cfg, "--customer", "contoso", "--format", "json")
    assert code == 0, out
    (contoso_state,) = json.loads(out)["customers"]
    dave = next(a for a in contoso_state["accounts"] if a["upn"] == "dave.davis@contoso.test")
    assert dave["links"]["connectwise"] == "1003"


def test_flags_are_in_state(box: Sandbox) -> None:
    cfg = str(box.root)
    assert run("apply", "-c", cfg, "--auto-approve")[0] == 0
    code, out = run("state", "list", "-c", cfg, "--format", "json")
    assert code == 0, out
    state = {c["customer"]: c["accounts"] for c in json.loads(out)["customers"]}
    assert all(a["self_serve"] and a["password_remember"] for a in state["fabrikam"])  # m365-full
    assert all(a["self_serve"] and not a["password_remember"] for a in state["northwind"])  # m365-basic
    assert {a["welcome"] for a in state["northwind"]} == {"sent"}


def test_a_send_whose_answer_is_lost_is_never_repeated(box: Sandbox) -> None:
    cfg = str(box.root)
    box.smtp.drop_during_data = True  # the server takes the message, the connection dies before "250"
    code, out = run("apply", "-c", cfg, "--customer", "northwind", "--auto-approve")
    assert code == 1, out
    assert "may have been delivered" in out
    assert recipients(box) == ["liam.lee@northwind.test", "mia.moore@northwind.test"]

    box.smtp.drop_during_data = False
    code, out = run("plan", "-c", cfg, "--customer", "northwind")
    assert out.count("a welcome email send was interrupted") == 2
    code, out = run("apply", "-c", cfg, "--customer", "northwind", "--auto-approve")
    assert code == 0
    assert recipients(box) == ["liam.lee@northwind.test", "mia.moore@northwind.test"]  # still one each


def test_only_an_empty_dir_or_a_previous_sandbox_is_used(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SandboxError, match="not empty and is not a sandbox"):
        Sandbox.start(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"

    first = Sandbox.start(tmp_path / "sb")
    first.stop()
    (tmp_path / "sb" / "outbox" / "old.eml").write_text("x")
    second = Sandbox.start(tmp_path / "sb")  # a previous sandbox is rewritten from scratch
    second.stop()
    assert not (tmp_path / "sb" / "outbox" / "old.eml").exists()
    assert oct((tmp_path / "sb" / "secrets" / "smtp-password").stat().st_mode & 0o777) == "0o600"


def test_tailwind_selects_a_group_with_exclusions_and_admins_by_role(box: Sandbox) -> None:
    cfg = str(box.root)
    code, out = run("plan", "-c", cfg, "--customer", "tailwind", "-v")
    assert code == 0, out
    assert "add account olivia.owens@tailwind.test (R22" in out
    assert "add account paul.price@tailwind.test (R22" in out
    assert "add account rita.root@tailwind.test (R23" in out  # Global Administrator, no licence needed
    assert "svc-backup@tailwind.test: not imported: excluded by UPN pattern svc-* (R22)" in out
    assert "guest_partner.test#EXT#@tailwind.test: not imported: guest" in out
    assert "quinn.quest@tailwind.test: not imported: not in a selected group (Staff) (R22)" in out
    assert run("apply", "-c", cfg, "--customer", "tailwind", "--auto-approve")[0] == 0
    code, out = run("state", "list", "-c", cfg, "--customer", "tailwind", "--format", "json")
    (state,) = json.loads(out)["customers"]
    assert sorted((a["upn"], a["account_class"]) for a in state["accounts"]) == [
        ("olivia.owens@tailwind.test", "end-user"),
        ("paul.price@tailwind.test", "end-user"),
        ("rita.root@tailwind.test", "admin"),
    ]
