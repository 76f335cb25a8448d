"""The GitHub REST client against the fake GitHub API on loopback."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from pydantic import SecretStr

from reconciler.ci.github import GitHub
from reconciler.errors import ProviderError
from reconciler.testing.github import FakeGitHub
from reconciler.testing.httpsim import SimRequest, SimResponse

MARKER = "<!-- reconciler-plan key=. -->"


def client(fake: FakeGitHub, token: str | None = None) -> GitHub:
    return GitHub(fake.full_name, SecretStr(token or fake.token), fake.url)


def test_sticky_comment_is_created_once_then_updated(github: FakeGitHub) -> None:
    gh = client(github)
    github.add_comment(7, "LGTM")
    first = gh.upsert_comment(7, MARKER, f"{MARKER}\nplan one")
    second = gh.upsert_comment(7, MARKER, f"{MARKER}\nplan two")
    assert first.created and not second.created
    assert first.id == second.id
    bodies = [c.body for c in github.issue_comments(7)]
    assert bodies == ["LGTM", f"{MARKER}\nplan two"]
    assert github.count("POST") == 1 and github.count("PATCH") == 1


def test_the_marker_is_found_past_the_first_page(github: FakeGitHub) -> None:
    for i in range(130):
        github.add_comment(7, f"chatter {i}")
    gh = client(github)
    gh.upsert_comment(7, MARKER, f"{MARKER}\nv1")
    for i in range(100):
        github.add_comment(7, f"more chatter {i}")
    gh.upsert_comment(7, MARKER, f"{MARKER}\nv2")
    ours = [c for c in github.issue_comments(7) if MARKER in c.body]
    assert [c.body for c in ours] == [f"{MARKER}\nv2"]
    assert github.count("GET", "/repos/msp/policies/issues/7/comments") >= 4  # it paged


def test_another_key_gets_its_own_comment(github: FakeGitHub) -> None:
    gh = client(github)
    gh.upsert_comment(7, MARKER, f"{MARKER}\nroot")
    other = "<!-- reconciler-plan key=eu -->"
    gh.upsert_comment(7, other, f"{other}\neu")
    assert len(github.issue_comments(7)) == 2


def test_a_copied_marker_in_someone_elses_comment_is_not_edited(github: FakeGitHub) -> None:
    github.add_comment(7, f"quoting the bot: {MARKER}", user="mallory")
    posted = client(github).upsert_comment(7, MARKER, f"{MARKER}\nplan")
    assert posted.created
    assert github.issue_comments(7)[0].body == f"quoting the bot: {MARKER}"


def test_errors_name_the_call_but_never_the_token(github: FakeGitHub) -> None:
    with pytest.raises(ProviderError) as bad_token:
        client(github, token="wrong-token-value").upsert_comment(7, MARKER, MARKER)
    assert "HTTP 401" in str(bad_token.value) and "Bad credentials" in str(bad_token.value)
    assert "wrong-token-value" not in str(bad_token.value)
    with pytest.raises(ProviderError) as too_long:
        client(github).upsert_comment(7, MARKER, MARKER + "x" * 70_000)
    assert "HTTP 422" in str(too_long.value)
    assert github.token not in str(too_long.value)


def test_artifact_download_follows_the_redirect_without_the_token(github: FakeGitHub, tmp_path: Path) -> None:
    github.add_artifact("reconciler-plan", {"reconciler.plan.json": b"{}"}, head_sha="abc", head_branch="f")
    newer = github.add_artifact(
        "reconciler-plan", {"reconciler.plan.json": b"[]"}, head_sha="abc", head_branch="f"
    )
    github.add_artifact("reconciler-plan", {"x": b""}, head_sha="abc", fork=True)
    github.add_artifact("reconciler-plan", {"x": b""}, head_sha="abc", expired=True)
    gh = client(github)
    found = [a for a in gh.artifacts("reconciler-plan") if a.same_repository]
    assert [a.id for a in found] == [newer.id, newer.id - 1]
    files = gh.download_artifact(found[0], tmp_path)
    assert files == [tmp_path / "reconciler.plan.json"]
    assert files[0].read_bytes() == b"[]"
    blob = [r for r in github.requests if r.path.startswith("/blob/")]
    assert blob and all("authorization" not in r.headers for r in blob)  # the fake refuses it anyway


def test_an_artifact_with_paths_leaving_the_directory_is_refused(github: FakeGitHub, tmp_path: Path) -> None:
    a = github.add_artifact("reconciler-state", {"../../evil.db": b"x"}, head_branch="main")
    gh = client(github)
    with pytest.raises(ProviderError, match="unsafe path"):
        gh.download_artifact(
            next(x for x in gh.artifacts("reconciler-state") if x.id == a.id), tmp_path / "d"
        )
    assert not (tmp_path / "evil.db").exists()


def test_pull_requests_of_a_merge_commit(github: FakeGitHub) -> None:
    github.add_pull(12, head_sha="head12", merge_commit_sha="merge12")
    pulls = client(github).pulls_for_commit("merge12")
    assert [(p["number"], p["head"]["sha"]) for p in pulls] == [(12, "head12")]


def test_zip_helper_round_trips() -> None:
    # the fake's artifacts are real zip files
    from reconciler.testing.github import FakeArtifact

    data = FakeArtifact(1, "n", {"a/b.txt": b"hi"}, 1, "", "").zip()
    assert zipfile.ZipFile(io.BytesIO(data)).read("a/b.txt") == b"hi"


@pytest.mark.parametrize("origin", ["localhost", "http://127.0.0.1:1", "https"])
def test_a_next_page_link_to_another_origin_is_not_followed_with_the_token(
    github: FakeGitHub, origin: str
) -> None:
    for i in range(150):
        github.add_comment(7, f"chatter {i}")
    handle = github.handle
    if origin == "localhost":  # same server, another host name: another origin
        foreign = github.url.replace("127.0.0.1", "localhost")
    elif origin == "https":  # same host and port, another scheme
        foreign = github.url.replace("http://", "https://")
    else:
        foreign = origin

    def tampered(request: SimRequest) -> SimResponse:
        response = handle(request)
        if "Link" in response.headers:
            response.headers["Link"] = response.headers["Link"].replace(github.url, foreign)
        return response

    github.handle = tampered  # type: ignore[method-assign]
    with pytest.raises(ProviderError, match=r"next page link points at .*; not followed") as info:
        client(github).upsert_comment(7, MARKER, f"{MARKER}\nplan")
    assert github.token not in str(info.value) and "page=2" not in str(info.value)
    assert github.count("GET", "/repos/msp/policies/issues/7/comments") == 1  # page 1 only
    assert not any(r.headers.get("host", "").startswith("localhost") for r in github.requests)
    assert github.count("POST") == 0
