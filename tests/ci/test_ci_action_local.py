"""The composite actions' steps, run locally against the quickstart and the fake GitHub API.

One pull request is planned twice (one sticky comment, updated), merged and
applied from the reviewed plan's artifact, with the state kept as an artifact
for the next plan; a broken config and a guard refusal show in the comment.
The install step really pip-installs this working tree (once per runner temp).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli.plan import load_plan
from reconciler.core.render import render_markdown
from reconciler.testing.github import FakeGitHub
from tests.ci.actionrunner import ActionRun, Runner
from tests.ci.cisupport import QUICKSTART, ROOT, refused_config

PLAN_ACTION = ROOT / ".github" / "actions" / "reconciler-plan" / "action.yml"
APPLY_ACTION = ROOT / ".github" / "actions" / "reconciler-apply" / "action.yml"


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runner-temp")  # shared: the venv is installed once


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    github = FakeGitHub(token="ghs_test_token_for_the_fake")
    github.start()
    try:
        yield github
    finally:
        github.stop()


def checkout(tmp: Path, name: str, source: Path = QUICKSTART) -> Path:
    work = tmp / name
    shutil.copytree(source, work, ignore=shutil.ignore_patterns(".reconciler"))
    return work


def pr_runner(fake: FakeGitHub, workspace: Path, temp: Path, run_id: int, head: str = "head1") -> Runner:
    event = {"pull_request": {"number": 7, "head": {"sha": head, "ref": "feature"}}}
    return Runner(fake, workspace, temp, event, f"merge-preview-{run_id}", "7/merge", run_id)


def assert_ok(run: ActionRun) -> None:
    assert run.outcome == "success", run.log


def test_plan_on_a_pull_request_then_apply_after_the_merge(
    fake: FakeGitHub, tmp_path: Path, runner_temp: Path
) -> None:
    fake.add_comment(7, "Please review")
    # 1. plan, twice: one comment, edited in place
    ws = checkout(tmp_path, "pr-ws")
    first = pr_runner(fake, ws, runner_temp, 101).run_action(PLAN_ACTION)
    assert_ok(first)
    assert first.outputs == {"exitcode": "2", "plan-file": "reconciler.plan.json"}
    assert "nothing downloaded" in first.step("Restore the state of the last apply").log
    plan = load_plan(ws / "reconciler.plan.json")
    [comment] = [c for c in fake.issue_comments(7) if c.user == "github-actions[bot]"]
    assert comment.body.startswith("<!-- reconciler-plan key=. -->\n")
    assert render_markdown(plan).rstrip("\n") in comment.body
    assert "**contoso** conflict: `bob@contoso.com`" in comment.body
    assert (
        "commit head1 · [workflow run](https://github.example/msp/policies/actions/runs/101)" in comment.body
    )
    assert first.summary == comment.body
    second = pr_runner(fake, ws, runner_temp, 102).run_action(PLAN_ACTION)
    assert_ok(second)
    assert [c.id for c in fake.issue_comments(7) if c.user == "github-actions[bot]"] == [comment.id]
    assert "runs/102" in fake.comments[comment.id].body
    assert [a.run_id for a in fake.artifacts if a.name == "reconciler-plan"] == [101, 102]
    for run in (first, second):
        assert fake.token not in run.log

    # 2. merged as merge1: apply takes the reviewed plan of the head commit, keeps the state
    fake.add_pull(7, head_sha="head1", merge_commit_sha="merge1")
    main_ws = checkout(tmp_path, "main-ws")
    push = Runner(fake, main_ws, runner_temp, {"ref": "refs/heads/main"}, "merge1", "main", 201)
    applied = push.run_action(APPLY_ACTION)
    assert_ok(applied)
    assert applied.outputs == {"exitcode": "0"}
    log = applied.step("Apply the reviewed plan").log
    assert "pr=7" in log and "Apply complete: 28 changes applied, 0 failed." in log
    assert "stale" not in log
    [state] = [a for a in fake.artifacts if a.name == "reconciler-state"]
    assert (state.run_id, state.head_branch, sorted(state.files)) == (201, "main", ["state.db"])
    assert applied.step("Upload the plan that needs a review").outcome == "skipped"

    # the weekly run applies no reviewed plan: nothing to change, and the state is kept fresh
    weekly = Runner(fake, main_ws, runner_temp, {}, "merge1", "main", 202, event_name="schedule")
    scheduled = weekly.run_action(APPLY_ACTION)
    assert_ok(scheduled)
    assert "No reviewed plan and nothing to change." in scheduled.log, scheduled.log
    assert "pr=" not in scheduled.log
    assert [a.run_id for a in fake.artifacts if a.name == "reconciler-state"] == [201, 202]

    # 3. the next pull request plans against that state (and the live systems, which
    #    in snapshot mode are the files apply wrote on the main runner)
    ws2 = checkout(tmp_path, "pr2-ws")
    shutil.copytree(main_ws / "live", ws2 / "live", dirs_exist_ok=True)
    third = pr_runner(fake, ws2, runner_temp, 301, head="head2").run_action(PLAN_ACTION)
    assert_ok(third)
    assert (
        "downloaded artifact reconciler-state of run 202"
        in third.step("Restore the state of the last apply").log
    )
    assert third.outputs["exitcode"] == "0"
    body = fake.comments[comment.id].body
    assert "**Plan: 0 to add, 0 to change, 0 to remove, 1 conflict. 1 customer paused.**" in body


def test_apply_stops_when_the_plan_changed_after_review(
    fake: FakeGitHub, tmp_path: Path, runner_temp: Path
) -> None:
    ws = checkout(tmp_path, "pr-ws")
    assert_ok(pr_runner(fake, ws, runner_temp, 401).run_action(PLAN_ACTION))
    fake.add_pull(7, head_sha="head1", merge_commit_sha="merge2")
    main_ws = checkout(tmp_path, "main-ws")
    # meanwhile main moved: another customer file changed, and a new user appeared
    northwind = main_ws / "customers" / "northwind.yaml"
    # a real edit (a comment alone no longer makes a plan stale)
    text = northwind.read_text()
    assert "metadata:\n" in text and "labels:" not in text
    northwind.write_text(text.replace("metadata:\n", "metadata:\n  labels:\n    edited: on-main\n", 1))
    entra = main_ws / "live" / "contoso" / "entra.json"
    data = json.loads(entra.read_text())
    data["users"].append(dict(data["users"][0], id="zoe", upn="zoe@contoso.com", mail="zoe@contoso.com"))
    entra.write_text(json.dumps(data))
    push = Runner(fake, main_ws, runner_temp, {"ref": "refs/heads/main"}, "merge2", "main", 402)
    stopped = push.run_action(APPLY_ACTION)
    assert stopped.outcome == "failure"
    assert stopped.outputs == {"exitcode": "2"}
    log = stopped.step("Apply the reviewed plan").log
    assert "contoso: new: add account zoe@contoso.com" in log and "Apply complete" not in log
    [review] = [a for a in fake.artifacts if a.name == "reconciler-plan" and a.run_id == 402]
    assert b"zoe@contoso.com" in review.files["reconciler.plan.json"]
    notes = [c for c in fake.issue_comments(7) if "key=.:apply" in c.body]
    assert len(notes) == 1 and "### Not applied: the plan changed after review" in notes[0].body
    # a person reviewed the stopped run's plan and starts apply with it
    dispatch = Runner(fake, main_ws, runner_temp, {"inputs": {}}, "merge2", "main", 403)
    applied = dispatch.run_action(APPLY_ACTION, {"plan-run-id": "402"})
    assert_ok(applied)
    assert "Apply complete: 31 changes applied" in applied.step("Apply the reviewed plan").log


def test_a_broken_config_replaces_the_plan_in_the_comment(
    fake: FakeGitHub, tmp_path: Path, runner_temp: Path
) -> None:
    ws = checkout(tmp_path, "pr-ws")
    assert_ok(pr_runner(fake, ws, runner_temp, 501).run_action(PLAN_ACTION))
    (ws / "customers" / "contoso.yaml").write_text(
        (ws / "customers" / "contoso.yaml").read_text().replace("tenantId:", "tenantIdd:")
    )
    broken = pr_runner(fake, ws, runner_temp, 502).run_action(PLAN_ACTION)
    assert broken.outcome == "failure"
    assert broken.outputs == {"exitcode": "1", "plan-file": ""}
    assert not (ws / "reconciler.plan.json").exists()
    assert broken.step("Upload the saved plan").outcome == "skipped"
    [comment] = fake.issue_comments(7)
    assert "> `reconciler validate` failed, so there is no plan for this commit." in comment.body
    assert "artifact" not in comment.body  # no plan was saved
    assert "contoso.yaml:11:7: unknown field 'spec.directories.entra.tenantIdd'" in comment.body


def test_a_guard_refusal_fails_the_check_and_is_shown(
    fake: FakeGitHub, tmp_path: Path, runner_temp: Path
) -> None:
    ws = refused_config(tmp_path)
    run = pr_runner(fake, ws, runner_temp, 601).run_action(PLAN_ACTION, {"state-artifact": ""})
    assert run.outcome == "failure"
    assert run.outputs == {"exitcode": "3", "plan-file": "reconciler.plan.json"}
    assert run.step("Upload the saved plan").outcome == "success"  # for the record, even when refused
    [comment] = fake.issue_comments(7)
    assert "> **acme** refused, nothing is applied for it: would remove 8 of 12 accounts" in comment.body
    lenient = pr_runner(fake, ws, runner_temp, 602).run_action(
        PLAN_ACTION, {"state-artifact": "", "fail-on-refusal": "false"}
    )
    assert_ok(lenient)
    assert lenient.outputs["exitcode"] == "3"
