"""The sticky merge-request comment on GitLab (#17), against a loopback fake in
GitLab's wire format (notes API, PRIVATE-TOKEN / JOB-TOKEN, X-Next-Page paging),
through the real `reconciler ci gitlab-comment` entry point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from reconciler.ci.comment import marker
from reconciler.ci.gitlab import GitLab, project_ref
from reconciler.errors import ProviderError
from reconciler.testing.gitlab import BOT, FakeGitLab
from tests.cli.entry import run

TOKEN = "glpat-secret-token-value"
JOB = "job-token-value-123"


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab(token=TOKEN, job_token=JOB)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def planfile(quickstart: Path, tmp_path: Path) -> Path:
    out = tmp_path / "plan.json"
    assert run(["plan", "-c", str(quickstart), "-o", str(out)]).code == 0
    return out


def ci_env(gitlab: FakeGitLab, **extra: str) -> dict[str, str]:
    return {
        "CI_API_V4_URL": gitlab.api_url,
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "7",
        "CI_COMMIT_SHA": "0123456789abcdef0123",
        "CI_PIPELINE_URL": "https://gitlab.example/msp/policies/-/pipelines/99",
        **extra,
    }


def test_project_ref() -> None:
    assert project_ref("42") == "42"
    assert project_ref("group/sub/project") == "group%2Fsub%2Fproject"


def test_comment_is_created_once_then_edited_in_place(gitlab: FakeGitLab, planfile: Path) -> None:
    gitlab.add_note(7, "looks good to me", author="alice")
    gitlab.add_note(7, "added 1 commit", author="alice", system=True)
    first = run(["ci", "gitlab-comment", str(planfile)], extra_env=ci_env(gitlab, GITLAB_TOKEN=TOKEN))
    assert first.code == 0, first.stderr
    assert "created the plan comment on merge request !7" in first.stderr
    ours = [n for n in gitlab.mr_notes(7) if n.author == BOT]
    assert len(ours) == 1 and ours[0].body.startswith(marker("default"))
    assert "**Plan: " in ours[0].body and "commit 0123456789ab" in ours[0].body
    again = run(["ci", "gitlab-comment", str(planfile)], extra_env=ci_env(gitlab, GITLAB_TOKEN=TOKEN))
    assert again.code == 0 and "updated the plan comment" in again.stderr
    assert [n.id for n in gitlab.mr_notes(7) if n.author == BOT] == [ours[0].id]
    assert {auth for _, _, auth in gitlab.calls} == {"PRIVATE-TOKEN"}
    assert TOKEN not in first.stderr + again.stderr


def test_the_marker_is_found_beyond_the_first_page(gitlab: FakeGitLab) -> None:
    for i in range(230):  # three pages of 100
        gitlab.add_note(7, f"remark {i}", author="bob")
    mark = marker("prod")
    old = gitlab.add_note(7, f"{mark}\nold plan", author=BOT)
    api = GitLab("msp/policies", SecretStr(TOKEN), gitlab.api_url)
    try:
        posted = api.upsert_note(7, mark, f"{mark}\nnew plan")
    finally:
        api.close()
    assert not posted.created and posted.id == old.id and gitlab.notes[old.id].body.endswith("new plan")
    pages = [p for m, p, _ in gitlab.calls if m == "GET"]
    assert len(pages) == 3 and all("%2F" in p for p in pages)


def test_someone_elses_copy_of_the_marker_is_not_edited(gitlab: FakeGitLab) -> None:
    mark = marker("default")
    theirs = gitlab.add_note(7, f"quoting: {mark}", author="carol")
    api = GitLab("42", SecretStr(TOKEN), gitlab.api_url)
    try:
        posted = api.upsert_note(7, mark, f"{mark}\nplan")
    finally:
        api.close()
    assert posted.created and gitlab.notes[theirs.id].body == f"quoting: {mark}"


def test_the_job_token_is_used_without_gitlab_token(gitlab: FakeGitLab, planfile: Path) -> None:
    done = run(["ci", "gitlab-comment", str(planfile)], extra_env=ci_env(gitlab, CI_JOB_TOKEN=JOB))
    assert done.code == 0, done.stderr
    assert {auth for _, _, auth in gitlab.calls} == {"JOB-TOKEN"}
    gitlab.job_token_can_write = False
    refused = run(["ci", "gitlab-comment", str(planfile)], extra_env=ci_env(gitlab, CI_JOB_TOKEN=JOB))
    assert refused.code == 1
    assert "HTTP 403" in refused.stderr and "set GITLAB_TOKEN" in refused.stderr
    assert JOB not in refused.stderr and "Traceback" not in refused.stderr


def test_a_bad_token_is_one_clear_line(gitlab: FakeGitLab, planfile: Path) -> None:
    bad = run(["ci", "gitlab-comment", str(planfile)], extra_env=ci_env(gitlab, GITLAB_TOKEN="wrong"))
    assert bad.code == 1
    assert bad.stderr.count("\n") == 1 and "HTTP 401" in bad.stderr and "api scope" in bad.stderr


def test_failure_comment_and_no_merge_request(gitlab: FakeGitLab, tmp_path: Path) -> None:
    log = tmp_path / "validate.log"
    log.write_text("customers/acme.yaml:3:12: metadata.name: bad\n")
    env = ci_env(gitlab, GITLAB_TOKEN=TOKEN)
    done = run(["ci", "gitlab-comment", "--failed", "validate", "--log", str(log)], extra_env=env)
    assert done.code == 0, done.stderr
    (note,) = gitlab.mr_notes(7)
    assert "`reconciler validate` failed" in note.body and "metadata.name: bad" in note.body
    branch = {k: v for k, v in env.items() if k != "CI_MERGE_REQUEST_IID"}
    skipped = run(["ci", "gitlab-comment", "--failed", "plan", "--log", str(log)], extra_env=branch)
    assert skipped.code == 0 and "nothing posted" in skipped.stderr


def test_errors_name_the_host_not_the_token() -> None:
    api = GitLab("42", SecretStr(TOKEN), "http://127.0.0.1:9/api/v4")
    api.api.retry = type(api.api.retry)(max_attempts=1)
    try:
        with pytest.raises(ProviderError) as err:
            api.upsert_note(7, "<!-- m -->", "<!-- m -->\nbody")
    finally:
        api.close()
    assert "127.0.0.1:9/api/v4/projects/42/merge_requests/7/notes: connection refused" in str(err.value)
    assert TOKEN not in str(err.value)
