"""CLI: `reconciler ci gitlab-comment`, the sticky merge-request comment on GitLab.

The same body as `ci comment` on GitHub (the Markdown plan, or why there is none),
posted as one note per merge request and key. GitLab settings come from the job's
predefined variables (CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID,
CI_COMMIT_SHA, CI_PIPELINE_URL); the token only from the environment: GITLAB_TOKEN
(a project access token with api scope, sent as PRIVATE-TOKEN), else CI_JOB_TOKEN
(sent as JOB-TOKEN), never from an option.
"""

from __future__ import annotations

import os

import click
from pydantic import SecretStr

from reconciler.ci.comment import Origin
from reconciler.ci.gitlab import GitLab
from reconciler.cli.ci_common import CommentInput, comment_options
from reconciler.errors import ReconcilerError


def _gitlab(project: str | None) -> GitLab:
    env = os.environ
    api_url = env.get("CI_API_V4_URL")
    if not api_url:
        raise ReconcilerError("CI_API_V4_URL is not set; run in a GitLab CI job or set it")
    project = project or env.get("CI_PROJECT_ID") or ""
    token, job = env.get("GITLAB_TOKEN"), False
    if not token:
        token, job = env.get("CI_JOB_TOKEN"), True
    if not token:
        raise ReconcilerError("neither GITLAB_TOKEN nor CI_JOB_TOKEN is set")
    return GitLab(project, SecretStr(token), api_url, job_token=job)


def _origin(key: str, artifact: str) -> Origin:
    env = os.environ
    sha = env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") or env.get("CI_COMMIT_SHA", "")
    return Origin(key, sha, env.get("CI_PIPELINE_URL", ""), artifact)


@click.command("gitlab-comment")
@comment_options("Where the saved plan is kept (named in the footer).")
@click.option("--mr", type=int, help="Merge request IID (default: $CI_MERGE_REQUEST_IID).")
@click.option("--project", help="Project id or path (default: $CI_PROJECT_ID).")
def gitlab_comment(comment: CommentInput, mr: int | None, project: str | None) -> None:
    """Post or update the sticky merge-request note with PLANFILE (or with a failure)."""
    body = comment.body(_origin)
    if mr is None:
        iid = os.environ.get("CI_MERGE_REQUEST_IID", "")
        if not iid.isdigit():
            click.echo("not a merge-request pipeline (no CI_MERGE_REQUEST_IID): nothing posted", err=True)
            return
        mr = int(iid)
    gitlab = _gitlab(project)
    try:
        posted = gitlab.upsert_note(mr, body.splitlines()[0], body)
    finally:
        gitlab.close()
    click.echo(f"{'created' if posted.created else 'updated'} the plan comment on {posted.url}", err=True)
