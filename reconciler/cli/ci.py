"""CLI: `reconciler ci ...`, the steps of the GitHub Action and the example pipelines.

- `ci comment`: post or update the one sticky pull-request comment with the plan
  (or with why there is none), and write the same Markdown to the job summary.
- `ci fetch`: download the newest artifact of a name from a trusted run (the plan
  reviewed in a pull request, or the state of the last apply).
- `ci apply`: apply the reviewed plan if still fresh; else plan again and apply
  only if nothing differs, or stop (exit 2) for a new review.

GitHub settings come from the runner's environment (GITHUB_REPOSITORY,
GITHUB_API_URL, GITHUB_EVENT_PATH, ...); the token only from GITHUB_TOKEN, never
from an option, so it shows in no process list and no log.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic import SecretStr

from reconciler.ci.comment import Origin
from reconciler.ci.github import API_URL, Artifact, GitHub
from reconciler.ci.review import plan_differences
from reconciler.cli.ci_common import CommentInput, comment_options
from reconciler.cli.ci_gitlab import gitlab_comment
from reconciler.cli.common import config_dir_option
from reconciler.cli.plan import apply as apply_command
from reconciler.cli.plan import load_plan, plan_exit_code, render, save_plan
from reconciler.config import load_valid_config
from reconciler.core.plan import Plan
from reconciler.engine import Engine
from reconciler.errors import EXIT_CHANGES, ReconcilerError, StalePlanError


def _event() -> dict[str, Any]:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _github(repo: str | None) -> GitHub:
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        raise ReconcilerError("GITHUB_TOKEN is not set; pass the workflow's token in the environment")
    repo = repo or os.environ.get("GITHUB_REPOSITORY")
    if not repo:
        raise ReconcilerError("no repository: pass --repo OWNER/NAME or set GITHUB_REPOSITORY")
    return GitHub(repo, SecretStr(token), os.environ.get("GITHUB_API_URL") or API_URL)


def _origin(key: str, artifact: str) -> Origin:
    env = os.environ
    head = (_event().get("pull_request") or {}).get("head") or {}
    run_url = ""
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        run_url = f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return Origin(key, str(head.get("sha") or env.get("GITHUB_SHA", "")), run_url, artifact)


repo_option = click.option("--repo", help="OWNER/NAME (default: $GITHUB_REPOSITORY).")


@click.group()
def ci() -> None:
    """Steps for CI pipelines: pull-request comment, artifacts, apply of a reviewed plan."""


@ci.command()
@comment_options("Name of the artifact holding the saved plan.")
@click.option("--pr", type=int, help="Pull request number (default: from $GITHUB_EVENT_PATH).")
@repo_option
@click.option("--post/--no-post", default=None, help="Post to the pull request (default: when one is known).")
@click.option("--summary", type=click.Path(path_type=Path, dir_okay=False), help="Append the body here.")
def comment(
    comment: CommentInput, pr: int | None, repo: str | None, post: bool | None, summary: Path | None
) -> None:
    """Post or update the sticky pull-request comment with PLANFILE (or with a failure)."""
    body = comment.body(_origin)
    if summary is not None:
        with summary.open("a", encoding="utf-8") as fh:
            fh.write(body)
    if pr is None:
        number = _event().get("pull_request", {}).get("number")
        pr = int(number) if number is not None else None
    if post is False or (post is None and pr is None):
        return
    if pr is None:
        raise ReconcilerError("--post needs a pull request: pass --pr N or run on a pull_request event")
    github = _github(repo)
    try:
        posted = github.upsert_comment(pr, body.splitlines()[0], body)
    finally:
        github.close()
    click.echo(
        f"{'created' if posted.created else 'updated'} the plan comment on #{pr}: {posted.url}", err=True
    )


@ci.command()
@click.argument("name")
@click.option("-o", "--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--head-sha", help="From a run of this commit (a pull request's head).")
@click.option("--pr-of-commit", help="From a run of the head of the pull request merged as this commit.")
@click.option("--branch", help="From a run on this branch (say, main).")
@click.option("--run-id", type=int, help="From this workflow run.")
@click.option("--allow-forks", is_flag=True, help="Also trust runs of pull requests from forks.")
@click.option("--missing-ok", is_flag=True, help="Exit 0 when there is no such artifact.")
@repo_option
def fetch(
    name: str,
    out: Path,
    head_sha: str | None,
    pr_of_commit: str | None,
    branch: str | None,
    run_id: int | None,
    allow_forks: bool,
    missing_ok: bool,
    repo: str | None,
) -> None:
    """Download the newest artifact NAME of a trusted run into OUT.

    Prints `name=value` lines (artifact-id, run-id, head-sha, pr) on stdout, for $GITHUB_OUTPUT.
    """
    if sum(x is not None for x in (head_sha, pr_of_commit, branch, run_id)) != 1:
        raise click.UsageError("give exactly one of --head-sha, --pr-of-commit, --branch, --run-id")
    github = _github(repo)
    try:
        pr = ""
        if pr_of_commit is not None:
            pulls = [p for p in github.pulls_for_commit(pr_of_commit) if p.get("merged_at")]
            merged = [p for p in pulls if p.get("merge_commit_sha") == pr_of_commit] or pulls
            if not merged:
                return _missing(missing_ok, f"commit {pr_of_commit[:12]} is not from a merged pull request")
            pr, head_sha = str(merged[0]["number"]), str(merged[0]["head"]["sha"])
            click.echo(f"pr={pr}")

        def wanted(a: Artifact) -> bool:
            if not (a.same_repository or allow_forks):
                return False
            if run_id is not None:
                return a.run_id == run_id
            return a.head_sha == head_sha if head_sha is not None else a.head_branch == branch

        found = [a for a in github.artifacts(name) if wanted(a)]
        if not found:
            return _missing(missing_ok, f"no artifact {name!r} from a trusted run matches")
        artifact = found[0]
        out.mkdir(parents=True, exist_ok=True)
        files = github.download_artifact(artifact, out)
    finally:
        github.close()
    click.echo(f"artifact-id={artifact.id}\nrun-id={artifact.run_id}\nhead-sha={artifact.head_sha}")
    click.echo(
        f"downloaded artifact {name} of run {artifact.run_id} ({len(files)} files) into {out}", err=True
    )


def _missing(ok: bool, message: str) -> None:
    if not ok:
        raise ReconcilerError(message)
    click.echo(f"{message}; nothing downloaded", err=True)


@ci.command("apply")
@config_dir_option
@click.option(
    "--reviewed",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The plan people reviewed (a missing file means there was none).",
)
@click.option(
    "-o", "--out", "out", type=click.Path(path_type=Path, dir_okay=False), help="Save a new plan here."
)
@click.pass_context
def ci_apply(ctx: click.Context, config_dir: Path, reviewed: Path | None, out: Path | None) -> None:
    """Apply the reviewed plan if still fresh; else plan again and apply only what was reviewed.

    Exit 0 applied (or nothing to do), 1 error, 2 not applied: the plan needs a
    (new) review and was saved with -o, 3 a customer was refused by a safety guard,
    4 a customer's apply was deferred by quiet hours.
    """
    engine = Engine.open(load_valid_config(config_dir))
    the_plan = load_plan(reviewed) if reviewed is not None and reviewed.is_file() else None
    if the_plan is None:
        fresh = engine.plan()
        if not fresh.summary().has_changes:
            click.echo("No reviewed plan and nothing to change.")
            ctx.exit(plan_exit_code(fresh, False))
        _stop(ctx, fresh, out, ["there is no reviewed plan for this commit"])
    planfile = reviewed
    try:
        engine.check_fresh(the_plan)
    except StalePlanError as exc:
        click.echo(f"The reviewed plan is stale ({exc}); planning again to compare.", err=True)
        fresh = engine.plan(the_plan.selected)
        differences = plan_differences(the_plan, fresh)
        if differences:
            _stop(ctx, fresh, out, differences)
        click.echo("The new plan makes exactly the reviewed changes; applying it.", err=True)
        planfile = out or config_dir / ".reconciler" / "replanned.plan.json"
        planfile.parent.mkdir(parents=True, exist_ok=True)
        save_plan(fresh, planfile)
    finally:
        engine.store.close()
    ctx.invoke(apply_command, config_dir=config_dir, planfile=planfile, auto_approve=True)


def _stop(ctx: click.Context, fresh: Plan, out: Path | None, why: list[str]) -> NoReturn:
    click.echo(render(fresh, "text"), nl=False)
    if out is not None:
        save_plan(fresh, out)
    if not fresh.summary().has_changes:
        click.echo("The plan changed, but nothing is left to apply.", err=True)
        ctx.exit(plan_exit_code(fresh, False))
    click.echo("Not applied: this plan needs a review:", err=True)
    for line in why:
        click.echo(f"  {line}", err=True)
    ctx.exit(max(EXIT_CHANGES, plan_exit_code(fresh, False)))


ci.add_command(gitlab_comment)

COMMANDS = (ci,)
