"""CI edge: the GitLab REST calls behind the sticky merge-request comment.

The same Markdown plan as on GitHub (reconciler/ci/comment.py), as one note per
merge request and key: found again by its hidden marker and edited in place.

    GET  /api/v4/projects/:id/merge_requests/:iid/notes            (paged: X-Next-Page)
    POST /api/v4/projects/:id/merge_requests/:iid/notes            {"body": ...}
    PUT  /api/v4/projects/:id/merge_requests/:iid/notes/:note_id   {"body": ...}

`:id` is the numeric project id (CI_PROJECT_ID) or the URL-encoded path
(`group%2Fproject`). The token is a `SecretStr` sent as `PRIVATE-TOKEN` (a
project or personal access token with `api` scope) or `JOB-TOKEN` (CI_JOB_TOKEN;
whether an instance lets the job token write notes is unconfirmed, so a 401/403
says to use GITLAB_TOKEN). Requests go through `HttpApi`: retries, Retry-After,
errors that never carry the token.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from reconciler import __version__
from reconciler.ci.github import Comment
from reconciler.config.base import TlsOptions
from reconciler.errors import HttpError, ProviderError
from reconciler.providers.http import HttpApi, build_client
from reconciler.providers.paging import Page, paginate
from reconciler.providers.tlsauth import ApiKeyAuth

WHERE = "gitlab"
NOTE_LIMIT = 1_000_000  # characters in one note (GitLab's limit; the plan comment stays far below)
PER_PAGE = 100


def _message(body: Any) -> str | None:
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        return str(message) if message else None
    return None


def project_ref(project: str) -> str:
    """The `:id` of a project: a number as is, a path URL-encoded (`a/b` -> `a%2Fb`)."""
    project = project.strip()
    if not project:
        raise ProviderError(WHERE, "no project: pass --project ID|PATH or set CI_PROJECT_ID")
    return project if project.isdigit() else quote(project, safe="")


class GitLab:
    """The notes calls for one project."""

    def __init__(
        self,
        project: str,
        token: SecretStr,
        api_url: str,
        job_token: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.project = project_ref(project)
        self.api_url = api_url.rstrip("/")
        self.job_token = job_token
        client = build_client(
            WHERE,
            TlsOptions(),
            Path.cwd(),
            base_url=self.api_url,
            headers={"Accept": "application/json", "User-Agent": f"reconciler/{__version__}"},
            auth=ApiKeyAuth("JOB-TOKEN" if job_token else "PRIVATE-TOKEN", token),
            timeout=30.0,
            transport=transport,
        )
        self.api = HttpApi(client, WHERE, extract_error=_message)

    def close(self) -> None:
        self.api.client.close()

    def _notes_path(self, iid: int) -> str:
        # the base URL ends in /api/v4; httpx joins relative paths onto it
        return f"projects/{self.project}/merge_requests/{iid}/notes"

    def notes(self, iid: int) -> Iterator[dict[str, Any]]:
        """Every note of merge request `iid`, oldest first, page by page (X-Next-Page)."""
        path = self._notes_path(iid)

        def fetch(page: Hashable | None) -> Page[dict[str, Any]]:
            params = {
                "per_page": str(PER_PAGE),
                "page": str(page or 1),
                "sort": "asc",
                "order_by": "created_at",
            }
            response = self._call("GET", path, params=params)
            try:
                body = response.json()
            except ValueError:
                raise ProviderError(WHERE, f"GET {path}: answer is not JSON") from None
            if not isinstance(body, list):
                raise ProviderError(WHERE, f"GET {path}: expected a list of notes")
            following = response.headers.get("X-Next-Page", "").strip()
            return Page(
                [n for n in body if isinstance(n, dict)], int(following) if following.isdigit() else None
            )

        return paginate(fetch, where=WHERE, what=f"GET {path}")

    def upsert_note(self, iid: int, marker: str, body: str) -> Comment:
        """Edit the first note carrying `marker`, or create one. `body` must contain it."""
        assert marker in body, "the marker must be part of the body, or the next run cannot find it"
        if len(body) > NOTE_LIMIT:
            raise ProviderError(WHERE, f"the comment is longer than GitLab's {NOTE_LIMIT} characters")
        path = self._notes_path(iid)
        for note in self.notes(iid):
            if note.get("system") or marker not in str(note.get("body") or ""):
                continue
            response = self._call("PUT", f"{path}/{int(note['id'])}", json={"body": body}, ok=(403, 404))
            if response.is_success:
                return Comment(int(response.json()["id"]), self._url(iid, response.json()), created=False)
            break  # not ours to edit (someone copied the marker): post a new one
        response = self._call("POST", path, json={"body": body}, idempotent=False)
        data = response.json()
        return Comment(int(data["id"]), self._url(iid, data), created=True)

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.api.request(method, path, **kwargs)
        except HttpError as exc:
            if exc.status in (401, 403):
                how = (
                    "the job token may not write merge-request notes on this instance; set GITLAB_TOKEN "
                    "(a project access token with api scope)"
                    if self.job_token
                    else "check that GITLAB_TOKEN is valid and has api scope"
                )
                raise ProviderError(WHERE, f"{exc.message}: {how}") from None
            raise

    def _url(self, iid: int, note: dict[str, Any]) -> str:
        return f"merge request !{iid}, note {note.get('id')}"
