"""`reconciler init`: a new policy repository validates, plans and applies at once."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from reconciler import __version__
from reconciler.cli import main
from reconciler.cli.init import scaffold
from reconciler.config import load_valid_config
from reconciler.config.schema import all_schemas
from tests.ci.cisupport import ROOT


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_init_then_validate_plan_apply(tmp_path: Path) -> None:
    repo = tmp_path / "policies"
    made = run("init", str(repo))
    assert made.exit_code == 0, made.output
    assert f"reconciler validate -c {repo}" in made.output
    assert run("validate", "-c", str(repo)).output.endswith(
        "valid (1 customer, 1 import policy, 0 admin import policies)\n"
    )
    plan_file = repo / "example.plan.json"
    plan = run("plan", "-c", str(repo), "-o", str(plan_file), "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert (
        "Plan: 2 to add, 0 to change, 0 to remove, 1 to link, 1 record to create, 0 conflicts." in plan.output
    )
    applied = run("apply", "-c", str(repo), str(plan_file))
    assert applied.exit_code == 0 and "Apply complete: 4 changes applied, 0 failed." in applied.output
    again = run("plan", "-c", str(repo), "--detailed-exitcode")
    assert (again.exit_code, again.output) == (0, "No changes.\n")
    ignored = (repo / ".gitignore").read_text().split()
    assert ".reconciler/" in ignored and "*.plan.json" in ignored


def test_the_scaffold_has_everything(tmp_path: Path) -> None:
    run("init", str(tmp_path / "r"))
    files = sorted(str(p.relative_to(tmp_path / "r")) for p in (tmp_path / "r").rglob("*") if p.is_file())
    assert files == [
        ".github/workflows/reconciler-apply.yml",
        ".github/workflows/reconciler-plan.yml",
        ".gitignore",
        ".pre-commit-config.yaml",
        "README.md",
        "customers/example.yaml",
        "live/README.md",
        "live/example/entra.json",
        "live/example/itglue.json",
        "policies/standard.yaml",
        "schemas/admin-import-policy.schema.json",
        "schemas/customer.schema.json",
        "schemas/import-policy.schema.json",
        "schemas/settings.schema.json",
        "settings.yaml",
        "templates/welcome.txt",
    ]
    for name, text in all_schemas().items():
        assert (tmp_path / "r" / "schemas" / name).read_text() == text
    for path in (tmp_path / "r").rglob("*"):
        if path.is_file():
            assert "__RECONCILER_VERSION__" not in path.read_text()
    plan = (tmp_path / "r" / ".github" / "workflows" / "reconciler-plan.yml").read_text()
    assert f"/.github/actions/reconciler-plan@v{__version__}\n" in plan
    for doc in ("settings.yaml", "policies/standard.yaml", "customers/example.yaml"):
        first = (tmp_path / "r" / doc).read_text().splitlines()[0]
        schema = first.removeprefix("# yaml-language-server: $schema=")
        assert (tmp_path / "r" / Path(doc).parent / schema).is_file(), first


def test_gitlab_and_no_ci(tmp_path: Path) -> None:
    run("init", "--ci", "gitlab", str(tmp_path / "g"))
    assert (tmp_path / "g" / ".gitlab-ci.yml").is_file() and not (tmp_path / "g" / ".github").exists()
    run("init", "--ci", "none", str(tmp_path / "n"))
    assert not (tmp_path / "n" / ".gitlab-ci.yml").exists() and not (tmp_path / "n" / ".github").exists()
    assert run("validate", "-c", str(tmp_path / "g")).exit_code == 0


def test_each_readme_describes_its_own_ci(tmp_path: Path) -> None:
    """#17 item 9: `--ci gitlab` used to get a README about GitHub workflows."""
    for ci in ("github", "gitlab", "none"):
        run("init", "--ci", ci, str(tmp_path / ci))
    github = (tmp_path / "github" / "README.md").read_text()
    gitlab = (tmp_path / "gitlab" / "README.md").read_text()
    none = (tmp_path / "none" / "README.md").read_text()
    assert (
        ".github/workflows/reconciler-plan.yml" in github
        and ".gitlab-ci.yml" not in github.split("GitLab:")[0]
    )
    assert "## CI (GitLab)" in gitlab and ".gitlab-ci.yml" in gitlab and ".github/" not in gitlab
    assert ".github/" not in none and ".gitlab-ci.yml" not in none and "--ci github" in none
    for text in (github, gitlab, none):
        assert "__CI_SECTION__" not in text and "\n\n\n" not in text


def test_enabling_welcome_email_in_an_init_repository_works(tmp_path: Path) -> None:
    """#17 item 9: init wrote no templates/, so turning welcomeEmail on failed."""
    repo = tmp_path / "r"
    run("init", str(repo))
    policy = repo / "policies" / "standard.yaml"
    policy.write_text(policy.read_text().replace("welcomeEmail: false", "welcomeEmail: true"))
    assert run("validate", "-c", str(repo)).exit_code == 0
    applied = run("apply", "-c", str(repo), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    sent = sorted((repo / "live" / "example" / "outbox").iterdir())
    assert sent, applied.output
    body = sent[0].read_text()
    assert "Your account " in body and "{upn}" not in body


def test_init_never_overwrites(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    (repo / "customers").mkdir(parents=True)
    (repo / "customers" / "example.yaml").write_text("mine\n")
    (repo / "README.md").write_text("mine\n")
    result = run("init", str(repo))
    assert result.exit_code == 1
    assert (
        result.output == f"{repo}: refusing to overwrite existing files: README.md, customers/example.yaml\n"
    )
    assert sorted(p.name for p in repo.rglob("*")) == ["README.md", "customers", "example.yaml"]
    assert (repo / "README.md").read_text() == "mine\n"


def uncomment(text: str, start: str) -> str:
    """The commented-out block that starts with the line `start`, commented in."""
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.strip() == start)
    indent = len(lines[i]) - len(lines[i].lstrip())
    j = i
    while (
        j < len(lines) and lines[j].startswith(" " * indent + "#") and not lines[j].strip().startswith("# (")
    ):
        lines[j] = re.sub(r"^(\s*)# ?", r"\1", lines[j], count=1)
        j += 1
    return "\n".join(lines) + "\n"


def test_the_commented_examples_are_valid_config(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    run("init", str(repo))
    settings = repo / "settings.yaml"
    settings.write_text(uncomment(settings.read_text(), "# connections:"))
    customer = repo / "customers" / "example.yaml"
    text = uncomment(customer.read_text(), "# activeDirectory:")
    customer.write_text(
        uncomment(text, "# pins:                          # R18: when several records match an account")
    )
    config = load_valid_config(repo)
    spec = config.settings_doc.spec
    assert spec.connections.graph is not None and spec.connections.smtp is not None
    doc = config.customers["example"].doc
    assert doc.spec.directories.active_directory is not None and len(doc.spec.pins) == 1


def test_the_wheel_ships_the_templates(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("reconciler-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = ROOT / "reconciler" / "templates"
    expected = {str(p.relative_to(ROOT)) for p in templates.rglob("*") if p.is_file()}
    assert expected and expected <= names, expected - names
    assert len(scaffold("github")) == 16


def test_precommit_manifest_and_config_are_valid(tmp_path: Path) -> None:
    run("init", str(tmp_path / "r"))
    for cmd, path in (
        ("validate-manifest", ROOT / ".pre-commit-hooks.yaml"),
        ("validate-config", tmp_path / "r" / ".pre-commit-config.yaml"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "pre_commit", cmd, str(path)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    used = {
        h["id"]
        for r in yaml.safe_load((tmp_path / "r" / ".pre-commit-config.yaml").read_text())["repos"]
        for h in r["hooks"]
    }
    assert used == hooks == {"reconciler-validate", "reconciler-schemas"}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_precommit_hooks_run_on_a_new_repository(tmp_path: Path) -> None:
    """pre-commit installs this repository's hooks (pip, in their own env) and runs them."""
    repo = tmp_path / "r"
    run("init", str(repo))
    git(repo, "init", "-q")
    (repo / "customers" / "example.yaml").write_text(
        (repo / "customers" / "example.yaml").read_text().replace("tenantId:", "tenantIdd:")
    )
    (repo / "schemas" / "customer.schema.json").write_text("{}\n")
    git(repo, "add", "-A")
    env = {
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "--all-files"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert re.search(r"reconciler validate\.+Failed", out), out
    assert "customers/example.yaml:14:7: unknown field 'spec.directories.entra.tenantIdd'" in out
    assert re.search(r"reconciler JSON Schemas up to date\.+Failed", out), out
    assert (repo / "schemas" / "customer.schema.json").read_text() == all_schemas()["customer.schema.json"]
