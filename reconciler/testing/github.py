"""Test helpers: a fake GitHub REST API, the few endpoints `reconciler ci` uses.

It speaks the real wire format: pages with `per_page`/`page` and a `Link` header,
`Authorization: Bearer` checked on every API call, 422 for a comment body over
65,536 characters, 403 when editing someone else's comment, artifact downloads
answered with a 302 to another origin (blob storage), which refuses requests
that still carry the API token.

    repo = FakeGitHub(token="t0k").start()
    repo.add_pull(number=7, head_sha="abc", merge_commit_sha="def")
    repo.add_artifact("reconciler-plan", {"reconciler.plan.json": b"..."}, head_sha="abc")
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from dataclasses import dataclass
from typing import Any

from reconciler.testing.httpsim import SimRequest, SimResponse, Simulator

BODY_LIMIT = 65_536
REPO_ID = 4242


@dataclass
class FakeComment:
    id: int
    issue: int
    body: str
    user: str = "github-actions[bot]"

    def json(self, base: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "body": self.body,
            "user": {"login": self.user, "type": "Bot"},
            "html_url": f"{base}/issues/{self.issue}#issuecomment-{self.id}",
        }


@dataclass
class FakeArtifact:
    id: int
    name: str
    files: dict[str, bytes]
    run_id: int
    head_sha: str
    head_branch: str
    head_repository_id: int = REPO_ID
    expired: bool = False
    created_at: str = ""

    def zip(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in self.files.items():
                z.writestr(name, data)
        return buf.getvalue()


class FakeGitHub(Simulator):
    def __init__(self, token: str, owner: str = "msp", repo: str = "policies") -> None:
        super().__init__(None, tls=False)
        self.token, self.owner, self.repo = token, owner, repo
        self.comments: dict[int, FakeComment] = {}
        self.pulls: list[dict[str, Any]] = []
        self.artifacts: list[FakeArtifact] = []
        self._ids = 1000
        self._ids_lock = threading.Lock()

    # --- setup --------------------------------------------------------------------
    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    def next_id(self) -> int:
        with self._ids_lock:
            self._ids += 1
            return self._ids

    def add_comment(self, issue: int, body: str, user: str = "someone") -> FakeComment:
        c = FakeComment(self.next_id(), issue, body, user)
        self.comments[c.id] = c
        return c

    def add_pull(self, number: int, head_sha: str, merge_commit_sha: str, merged: bool = True) -> None:
        self.pulls.append(
            {
                "number": number,
                "head": {"sha": head_sha},
                "merge_commit_sha": merge_commit_sha,
                "merged_at": "2026-01-01T00:00:00Z" if merged else None,
            }
        )

    def add_artifact(
        self,
        name: str,
        files: dict[str, bytes],
        *,
        head_sha: str = "",
        head_branch: str = "",
        run_id: int = 0,
        fork: bool = False,
        expired: bool = False,
    ) -> FakeArtifact:
        ident = self.next_id()
        a = FakeArtifact(
            ident,
            name,
            files,
            run_id or ident + 50_000,
            head_sha,
            head_branch,
            REPO_ID + 1 if fork else REPO_ID,
            expired,
            f"2026-01-01T00:{len(self.artifacts):02d}:00Z",
        )
        self.artifacts.append(a)
        return a

    def issue_comments(self, issue: int) -> list[FakeComment]:
        return sorted((c for c in self.comments.values() if c.issue == issue), key=lambda c: c.id)

    # --- routing ------------------------------------------------------------------
    def handle(self, request: SimRequest) -> SimResponse:
        if request.path.startswith("/blob/"):
            if "authorization" in request.headers:
                return SimResponse(
                    400, b"<Error>Authorization header not allowed</Error>", {}, "application/xml"
                )
            ident = int(request.path.rsplit("/", 1)[1])
            found = next((a for a in self.artifacts if a.id == ident), None)
            return SimResponse(200, found.zip(), {}, "application/zip") if found else SimResponse(404)
        if request.headers.get("authorization") not in (f"Bearer {self.token}", f"token {self.token}"):
            return SimResponse(401, {"message": "Bad credentials"})
        base = f"/repos/{self.full_name}"
        path = request.path
        if path == base and request.method == "GET":
            return SimResponse(200, {"id": REPO_ID, "full_name": self.full_name})
        if m := re.fullmatch(rf"{base}/issues/(\d+)/comments", path):
            issue = int(m.group(1))
            if request.method == "GET":
                items = [c.json(self.html_base) for c in self.issue_comments(issue)]
                return self._page(request, items, lambda page: page)
            if request.method == "POST":
                body = str(request.json().get("body", ""))
                if len(body) > BODY_LIMIT:
                    return self._too_long()
                c = FakeComment(self.next_id(), issue, body, "github-actions[bot]")
                self.comments[c.id] = c
                return SimResponse(201, c.json(self.html_base))
        if (m := re.fullmatch(rf"{base}/issues/comments/(\d+)", path)) and request.method == "PATCH":
            comment = self.comments.get(int(m.group(1)))
            if comment is None:
                return SimResponse(404, {"message": "Not Found"})
            if comment.user != "github-actions[bot]":
                return SimResponse(403, {"message": "Resource not accessible by integration"})
            body = str(request.json().get("body", ""))
            if len(body) > BODY_LIMIT:
                return self._too_long()
            comment.body = body
            return SimResponse(200, comment.json(self.html_base))
        if (m := re.fullmatch(rf"{base}/commits/(\w+)/pulls", path)) and request.method == "GET":
            sha = m.group(1)
            pulls = [p for p in self.pulls if sha in (p["merge_commit_sha"], p["head"]["sha"])]
            return self._page(request, pulls, lambda page: page)
        if path == f"{base}/actions/artifacts" and request.method == "GET":
            name = request.q("name")
            items = [self._artifact_json(a) for a in reversed(self.artifacts) if name in (None, a.name)]
            return self._page(request, items, lambda page: {"total_count": len(items), "artifacts": page})
        if (m := re.fullmatch(rf"{base}/actions/artifacts/(\d+)/zip", path)) and request.method == "GET":
            ident = int(m.group(1))
            if not any(a.id == ident for a in self.artifacts):
                return SimResponse(404, {"message": "Not Found"})
            # another origin, as blob storage is: same server, but "localhost" instead of the IP
            return SimResponse(
                302, None, {"Location": f"{self.url.replace('127.0.0.1', 'localhost')}/blob/{ident}"}
            )
        return SimResponse(404, {"message": "Not Found"})

    @property
    def html_base(self) -> str:
        return f"https://github.example/{self.full_name}"

    def _artifact_json(self, a: FakeArtifact) -> dict[str, Any]:
        return {
            "id": a.id,
            "name": a.name,
            "expired": a.expired,
            "created_at": a.created_at,
            "archive_download_url": f"{self.url}/repos/{self.full_name}/actions/artifacts/{a.id}/zip",
            "workflow_run": {
                "id": a.run_id,
                "repository_id": REPO_ID,
                "head_repository_id": a.head_repository_id,
                "head_branch": a.head_branch,
                "head_sha": a.head_sha,
            },
        }

    def _page(self, request: SimRequest, items: list[Any], wrap: Any) -> SimResponse:
        per_page = min(int(request.q("per_page", "30") or 30), 100)
        page = int(request.q("page", "1") or 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            query = "&".join(
                f"{k}={v[0]}" for k, v in sorted(request.query.items()) if k not in ("page", "per_page")
            )
            nxt = (
                f"{self.url}{request.path}?{query + '&' if query else ''}per_page={per_page}&page={page + 1}"
            )
            headers["Link"] = f'<{nxt}>; rel="next"'
        return SimResponse(200, wrap(chunk), headers)

    @staticmethod
    def _too_long() -> SimResponse:
        return SimResponse(
            422,
            {
                "message": "Validation Failed",
                "errors": [
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": "body is too long (maximum is 65536 characters)",
                    }
                ],
            },
        )
