"""`reconciler ci apply`, `ci comment` and `ci fetch` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from reconciler.cli import main
from reconciler.cli.plan import save_plan
from reconciler.testing.github import FakeGitHub
from tests.ci.cisupport import make_plan


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def state_serials(config: Path) -> dict[str, int]:
    out = json.loads(run("state", "list", "-c", str(config), "--format", "json").output)
    return {c["customer"]: c["serial"] for c in out["customers"]}


def add_contoso_user(config: Path, upn: str) -> None:
    entra = config / "live" / "contoso" / "entra.json"
    data = json.loads(entra.read_text())
    data["users"].append(dict(data["users"][0], id=f"id-{upn}", upn=upn, mail=upn))
    entra.write_text(json.dumps(data))


def test_a_fresh_reviewed_plan_is_applied_as_is(quickstart: Path, tmp_path: Path) -> None:
    reviewed = tmp_path / "reviewed.json"
    save_plan(make_plan(quickstart), reviewed)
    result = run(
        "ci", "apply", "-c", str(quickstart), "--reviewed", str(reviewed), "-o", str(tmp_path / "n.json")
    )
    assert result.exit_code == 0, result.output
    assert "Apply complete: 28 changes applied, 0 failed." in result.output
    assert "stale" not in result.output
    assert not (tmp_path / "n.json").exists()
    assert run("plan", "-c", str(quickstart), "--detailed-exitcode").exit_code == 0


def touch_config(path: Path) -> None:
    """A config edit that plans nothing new (a comment alone no longer makes a plan stale)."""
    text = path.read_text()
    assert "  labels:\n" in text
    path.write_text(text.replace("  labels:\n", '  labels:\n    touched: "yes"\n', 1))


def test_a_stale_plan_that_plans_the_same_again_is_applied(quickstart: Path, tmp_path: Path) -> None:
    reviewed = tmp_path / "reviewed.json"
    save_plan(make_plan(quickstart), reviewed)
    # the config changes in a way that changes nothing planned: the plan is stale, not different
    touch_config(quickstart / "customers" / "contoso.yaml")
    result = run(
        "ci", "apply", "-c", str(quickstart), "--reviewed", str(reviewed), "-o", str(tmp_path / "n.json")
    )
    assert result.exit_code == 0, result.output
    assert "The reviewed plan is stale (the config changed since this plan was made" in result.output
    assert "The new plan makes exactly the reviewed changes; applying it." in result.output
    assert "Apply complete: 28 changes applied" in result.output


def test_a_stale_plan_that_now_differs_stops_for_review(quickstart: Path, tmp_path: Path) -> None:
    reviewed = tmp_path / "reviewed.json"
    save_plan(make_plan(quickstart), reviewed)
    before = state_serials(quickstart)
    touch_config(quickstart / "customers" / "contoso.yaml")
    add_contoso_user(quickstart, "zoe@contoso.com")
    new = tmp_path / "new.json"
    result = run("ci", "apply", "-c", str(quickstart), "--reviewed", str(reviewed), "-o", str(new))
    assert result.exit_code == 2, result.output
    assert "Not applied: this plan needs a review:" in result.output
    assert "contoso: new: add account zoe@contoso.com" in result.output
    assert "Apply complete" not in result.output
    assert state_serials(quickstart) == before  # nothing applied
    assert "zoe@contoso.com" in new.read_text()
    # the new plan, once reviewed, applies (it is fresh)
    again = run("ci", "apply", "-c", str(quickstart), "--reviewed", str(new))
    assert again.exit_code == 0, again.output
    assert "Apply complete: 31 changes applied" in again.output


def test_without_a_reviewed_plan_changes_are_not_applied(quickstart: Path, tmp_path: Path) -> None:
    new = tmp_path / "new.json"
    result = run(
        "ci", "apply", "-c", str(quickstart), "--reviewed", str(tmp_path / "missing.json"), "-o", str(new)
    )
    assert result.exit_code == 2
    assert "there is no reviewed plan for this commit" in result.output
    assert new.is_file()
    save_plan(make_plan(quickstart), tmp_path / "r.json")
    run("ci", "apply", "-c", str(quickstart), "--reviewed", str(tmp_path / "r.json"))
    quiet = run("ci", "apply", "-c", str(quickstart))
    assert quiet.exit_code == 0 and "No reviewed plan and nothing to change." in quiet.output


def gh_env(fake: FakeGitHub, event: Path | None = None) -> dict[str, str]:
    env = {
        "GITHUB_TOKEN": fake.token,
        "GITHUB_REPOSITORY": fake.full_name,
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "77",
        "GITHUB_SHA": "mergesha",
    }
    if event is not None:
        env["GITHUB_EVENT_PATH"] = str(event)
    return env


def test_comment_reads_the_pull_request_from_the_event(
    quickstart: Path, tmp_path: Path, github: FakeGitHub
) -> None:
    plan = tmp_path / "p.json"
    save_plan(make_plan(quickstart), plan)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 5, "head": {"sha": "headsha123"}}}))
    summary = tmp_path / "summary.md"
    for _ in range(2):
        result = run("ci", "comment", str(plan), "--summary", str(summary), env=gh_env(github, event))
        assert result.exit_code == 0, result.output
    [posted] = github.issue_comments(5)
    assert posted.body.startswith("<!-- reconciler-plan key=default -->\n## reconciler plan\n")
    assert (
        "commit headsha123 · [workflow run](https://github.example/msp/policies/actions/runs/77)"
        in posted.body
    )
    assert summary.read_text() == posted.body * 2
    assert github.token not in result.output


def test_comment_without_a_pull_request_only_writes(
    quickstart: Path, tmp_path: Path, github: FakeGitHub
) -> None:
    plan = tmp_path / "p.json"
    save_plan(make_plan(quickstart), plan)
    out = tmp_path / "body.md"
    result = run("ci", "comment", str(plan), "--body-out", str(out), env={"GITHUB_EVENT_PATH": ""})
    assert result.exit_code == 0 and out.read_text().startswith("<!-- reconciler-plan")
    assert github.requests == []
    missing_token = run("ci", "comment", str(plan), "--pr", "3", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert missing_token.exit_code == 1 and "GITHUB_TOKEN is not set" in missing_token.output


@pytest.mark.parametrize("fork", [False, True])
def test_fetch_takes_the_plan_of_the_merged_pull_requests_head(
    tmp_path: Path, github: FakeGitHub, fork: bool
) -> None:
    github.add_pull(9, head_sha="head9", merge_commit_sha="mergesha")
    github.add_artifact(
        "reconciler-plan", {"reconciler.plan.json": b"old"}, head_sha="head9", head_branch="b"
    )
    github.add_artifact("reconciler-plan", {"reconciler.plan.json": b"other"}, head_sha="otherhead")
    github.add_artifact("reconciler-plan", {"reconciler.plan.json": b"new"}, head_sha="head9", fork=fork)
    out = tmp_path / "reviewed"
    result = run(
        "ci", "fetch", "reconciler-plan", "-o", str(out), "--pr-of-commit", "mergesha", env=gh_env(github)
    )
    assert result.exit_code == 0, result.output
    assert "pr=9\n" in result.output and "head-sha=head9\n" in result.output
    assert (out / "reconciler.plan.json").read_text() == ("old" if fork else "new")


def test_fetch_of_state_by_branch_and_when_there_is_none(tmp_path: Path, github: FakeGitHub) -> None:
    missing = run(
        "ci", "fetch", "reconciler-state", "-o", str(tmp_path / "s"), "--branch", "main", env=gh_env(github)
    )
    assert (
        missing.exit_code == 1
        and "no artifact 'reconciler-state' from a trusted run matches" in missing.output
    )
    ok = run(
        "ci",
        "fetch",
        "reconciler-state",
        "-o",
        str(tmp_path / "s"),
        "--branch",
        "main",
        "--missing-ok",
        env=gh_env(github),
    )
    assert ok.exit_code == 0 and "nothing downloaded" in ok.output
    github.add_artifact("reconciler-state", {"state.db": b"db"}, head_branch="main")
    github.add_artifact(
        "reconciler-state", {"state.db": b"from a fork's main"}, head_branch="main", fork=True
    )
    got = run(
        "ci", "fetch", "reconciler-state", "-o", str(tmp_path / "s"), "--branch", "main", env=gh_env(github)
    )
    assert got.exit_code == 0, got.output
    assert (tmp_path / "s" / "state.db").read_bytes() == b"db"


def test_github_and_gitlab_comments_share_one_set_of_options() -> None:
    """Review D2: one decorator declares the comment options of both commands."""
    from reconciler.cli.ci import comment
    from reconciler.cli.ci_gitlab import gitlab_comment

    def shared(command: click.Command) -> dict[str, tuple[object, ...]]:
        return {
            p.name or "": (
                tuple(p.opts),
                p.default,
                getattr(p, "help", None) if p.name != "artifact" else None,
            )
            for p in command.params
            if p.name in {"planfile", "failed_step", "log_file", "key", "title", "artifact", "body_out"}
        }

    github, gitlab = shared(comment), shared(gitlab_comment)
    assert len(github) == 7 and github == gitlab
