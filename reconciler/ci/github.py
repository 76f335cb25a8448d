"""CI edge: the GitHub REST calls behind the plan and apply actions.

A sticky comment (one per pull request and key, found again by a hidden HTML
marker and edited in place), the pull requests of a commit, and the newest
artifact of a name from a trusted run (downloaded and unpacked with size and
path checks). Requests go through `HttpApi`: retries, Retry-After, and errors
that never carry the token. The token is a `SecretStr`, sent only to the API
origin: httpx drops it when a download redirects to blob storage, and a
`Link: next` page on another scheme, host or port is refused, not followed.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
from pydantic import SecretStr

from reconciler import __version__
from reconciler.config.base import TlsOptions
from reconciler.errors import ProviderError
from reconciler.providers.http import HttpApi, build_client
from reconciler.providers.paging import Page, next_link, paginate
from reconciler.providers.tlsauth import ApiKeyAuth

API_URL = "https://api.github.com"
MAX_ARTIFACT_BYTES = 50_000_000
WHERE = "github"


@dataclass(frozen=True)
class Comment:
    id: int
    url: str
    created: bool  # False: an existing comment was updated


@dataclass(frozen=True)
class Artifact:
    id: int
    name: str
    created_at: str
    run_id: int
    head_sha: str
    head_branch: str
    same_repository: bool  # the run's head is this repository (not a fork)


def _message(body: Any) -> str | None:
    return body.get("message") if isinstance(body, dict) else None


class GitHub:
    """The REST calls for one repository (`owner/name`)."""

    def __init__(
        self,
        repo: str,
        token: SecretStr,
        api_url: str = API_URL,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise ProviderError(WHERE, f"repository must be OWNER/NAME, not {repo!r}")
        self.repo = repo
        self.api_url = api_url
        client = build_client(
            WHERE,
            TlsOptions(),
            Path.cwd(),
            base_url=api_url.rstrip("/"),
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": f"reconciler/{__version__}",
            },
            auth=ApiKeyAuth("Authorization", SecretStr(f"Bearer {token.get_secret_value()}")),
            timeout=30.0,
            transport=transport,
        )
        self.api = HttpApi(client, WHERE, extract_error=_message)

    def close(self) -> None:
        self.api.client.close()

    # --- pagination ---------------------------------------------------------------------
    def _pages(self, path: str, params: dict[str, str], items: Callable[[Any], list[Any]]) -> Iterator[Any]:
        def fetch(link: Hashable | None) -> Page[Any]:
            # the first page with our query; the next ones by the Link header (it carries the query)
            url = str(link or path)
            response = self.api.request("GET", url, params=None if link else {**params, "per_page": "100"})
            try:
                body = response.json()
            except ValueError:
                raise ProviderError(WHERE, f"GET {httpx.URL(url).path}: answer is not JSON") from None
            following = response.links.get("next", {}).get("url")
            what = f"GET {response.url.path} (the token would go with it)"
            return Page(items(body), next_link(following, self.api_url, where=WHERE, what=what))

        return paginate(fetch, where=WHERE, what=f"GET {path}")

    # --- sticky comment -----------------------------------------------------------------
    def comments(self, issue: int) -> Iterator[dict[str, Any]]:
        return self._pages(f"/repos/{self.repo}/issues/{issue}/comments", {}, lambda b: list(b))

    def upsert_comment(self, issue: int, marker: str, body: str) -> Comment:
        """Edit the first comment carrying `marker`, or create one. `body` must contain it."""
        assert marker in body, "the marker must be part of the body, or the next run cannot find it"
        for existing in self.comments(issue):
            if marker not in (existing.get("body") or ""):
                continue
            response = self.api.request(
                "PATCH",
                f"/repos/{self.repo}/issues/comments/{existing['id']}",
                json={"body": body},
                ok=(403, 404),
            )
            if response.is_success:
                data = response.json()
                return Comment(int(data["id"]), str(data.get("html_url", "")), created=False)
            break  # not ours to edit (someone copied the marker): post a new one
        data = self.api.post_json(f"/repos/{self.repo}/issues/{issue}/comments", json={"body": body})
        return Comment(int(data["id"]), str(data.get("html_url", "")), created=True)

    # --- pull requests and artifacts ----------------------------------------------------
    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        return list(self._pages(f"/repos/{self.repo}/commits/{sha}/pulls", {}, lambda b: list(b)))

    def repository_id(self) -> int:
        return int(self.api.get_json(f"/repos/{self.repo}")["id"])

    def artifacts(self, name: str) -> list[Artifact]:
        """Unexpired artifacts called `name`, newest first."""
        repo_id = self.repository_id()
        out = []
        for a in self._pages(
            f"/repos/{self.repo}/actions/artifacts", {"name": name}, lambda b: b["artifacts"]
        ):
            run = a.get("workflow_run") or {}
            if a.get("name") != name or a.get("expired"):
                continue
            out.append(
                Artifact(
                    int(a["id"]),
                    name,
                    str(a.get("created_at", "")),
                    int(run.get("id", 0)),
                    str(run.get("head_sha", "")),
                    str(run.get("head_branch", "")),
                    run.get("head_repository_id") == repo_id and run.get("repository_id") == repo_id,
                )
            )
        return sorted(out, key=lambda a: (a.created_at, a.id), reverse=True)

    def download_artifact(self, artifact: Artifact, dest: Path) -> list[Path]:
        """Unpack the artifact's zip into `dest`; refuse paths that leave it and oversized archives."""
        response = self.api.request(
            "GET", f"/repos/{self.repo}/actions/artifacts/{artifact.id}/zip", follow_redirects=True
        )
        if len(response.content) > MAX_ARTIFACT_BYTES:
            raise ProviderError(WHERE, f"artifact {artifact.name} is larger than {MAX_ARTIFACT_BYTES} bytes")
        try:
            archive = zipfile.ZipFile(io.BytesIO(response.content))
        except zipfile.BadZipFile:
            raise ProviderError(WHERE, f"artifact {artifact.name}: the download is not a zip file") from None
        written: list[Path] = []
        with archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_ARTIFACT_BYTES:
                raise ProviderError(
                    WHERE, f"artifact {artifact.name} unpacks to more than {MAX_ARTIFACT_BYTES} bytes"
                )
            for info in archive.infolist():
                rel = PurePosixPath(info.filename)
                if rel.is_absolute() or ".." in rel.parts:
                    raise ProviderError(WHERE, f"artifact {artifact.name}: unsafe path {info.filename!r}")
                if info.is_dir():
                    continue
                target = dest.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(info))
                written.append(target)
        return written
