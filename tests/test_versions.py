"""Versions that resolve (#17): every pinned reference to reconciler's own
repository (actions, pre-commit hooks, init's workflows, GitLab's install) is
`v{package version}`, and `scripts/release` makes exactly that tag."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.cli.init import scaffold
from tests.ci.test_ci_workflows import shellcheck

ROOT = Path(__file__).resolve().parent.parent
# `uses: OWNER/NAME/.github/actions/...@vX`, `git+URL@vX`, pre-commit's `rev: vX`
PIN = re.compile(r"(?:/\.github/actions/[\w-]+@|reconciler@|git\+\S+@|\brev: )v(\d+\.\d+\.\d+)\b")


def pins(text: str) -> list[str]:
    return PIN.findall(text)


def test_the_package_has_one_version() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["version"] == __version__


def test_every_pinned_reference_is_the_package_version() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = 0
    for rel in tracked:
        if rel.startswith("tests/") or not rel.endswith((".yml", ".yaml", ".md", ".sh")):
            continue
        for version in pins((ROOT / rel).read_text(encoding="utf-8", errors="replace")):
            assert version == __version__, f"{rel} pins v{version}, the package is {__version__}"
            found += 1
    for ci in ("github", "gitlab"):
        for rel, data in scaffold(ci).items():
            for version in pins(data.decode()):
                assert version == __version__, f"init --ci {ci}: {rel} pins v{version}"
                found += 1
    assert found >= 6  # the examples, both workflows, the hooks, GitLab's install


def test_init_pins_the_repository_it_was_told() -> None:
    files = scaffold("github", "https://github.example.com/acme/reconciler-fork.git")
    plan = files[".github/workflows/reconciler-plan.yml"].decode()
    assert f"uses: acme/reconciler-fork/.github/actions/reconciler-plan@v{__version__}\n" in plan
    hooks = files[".pre-commit-config.yaml"].decode()
    assert f"repo: https://github.example.com/acme/reconciler-fork\n    rev: v{__version__}\n" in hooks
    gitlab = scaffold("gitlab", "https://gitlab.example.com/tools/reconciler")[".gitlab-ci.yml"].decode()
    assert f"git+https://gitlab.example.com/tools/reconciler@v{__version__}" in gitlab
    assert b"reconciler-dev" not in b"".join(files.values())


def test_init_refuses_a_repository_that_is_not_a_url(tmp_path: Path) -> None:
    from tests.cli.entry import run

    result = run(["init", str(tmp_path / "r"), "--repo", "acme/fork"])
    assert result.code == 1 and result.stderr == "--repo 'acme/fork': expected https://HOST/OWNER/NAME\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """This commit of the repository, cloned, with an identity to commit as."""
    dest = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(dest)], check=True)
    for key, value in (("user.name", "Release Test"), ("user.email", "release@test.invalid")):
        git(dest, "config", key, value)
    for tag in git(dest, "tag", "--list").split():
        git(dest, "tag", "-d", tag)
    return dest


def release(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(repo / "scripts" / "release"), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": str(repo.parent)},
        check=False,
    )


def test_release_script_passes_shellcheck() -> None:
    shellcheck(ROOT / "scripts" / "release")


def test_release_tags_the_package_version(clone: Path) -> None:
    version = tomllib.loads((clone / "pyproject.toml").read_text())["project"]["version"]
    done = release(clone)
    assert done.returncode == 0, done.stderr
    assert git(clone, "rev-parse", f"v{version}^{{commit}}") == git(clone, "rev-parse", "HEAD")
    again = release(clone)
    assert again.returncode == 1 and f"tag v{version} exists already" in again.stderr


def test_release_refuses_a_dirty_tree(clone: Path) -> None:
    (clone / "README.md").write_text("edited\n")
    done = release(clone)
    assert done.returncode == 1 and "uncommitted changes" in done.stderr
    assert git(clone, "tag", "--list") == ""


def test_release_of_a_new_version_moves_every_pin(clone: Path) -> None:
    done = release(clone, "9.8.7")
    assert done.returncode == 0, done.stderr
    assert git(clone, "log", "-1", "--format=%s") == "Release 9.8.7"
    assert git(clone, "rev-parse", "v9.8.7^{commit}") == git(clone, "rev-parse", "HEAD")
    assert '__version__ = "9.8.7"' in (clone / "reconciler" / "__init__.py").read_text()
    plan = (clone / "examples" / "github" / "reconciler-plan.yml").read_text()
    gitlab = (clone / "examples" / "gitlab" / ".gitlab-ci.yml").read_text()
    assert pins(plan) == ["9.8.7"] and pins(gitlab) == ["9.8.7"]
    assert "## 9.8.7 (" in (clone / "CHANGELOG.md").read_text()
    assert git(clone, "status", "--porcelain") == ""
