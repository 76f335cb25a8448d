"""Test helpers: a fake GitLab REST API, the merge-request notes `reconciler ci
gitlab-comment` uses, in GitLab's wire format.

`PRIVATE-TOKEN` or `JOB-TOKEN` checked on every call (401 otherwise, or 403 for a
job token when `job_token_can_write` is off); pages with `per_page`/`page` and
the X-Page, X-Per-Page, X-Next-Page (empty on the last page), X-Prev-Page,
X-Total, X-Total-Pages and Link headers; system notes mixed in as GitLab has
them; 403 when editing someone else's note; the project as its numeric id or its
URL-encoded path.

    gl = FakeGitLab(token="glpat-x").start()
    gl.add_note(7, "a reviewer's remark", author="alice")
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from reconciler.testing.httpsim import SimRequest, SimResponse, Simulator

BOT = "project_42_bot"
NOTE_LIMIT = 1_000_000


@dataclass
class FakeNote:
    id: int
    iid: int
    body: str
    author: str = BOT
    system: bool = False

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": None,
            "body": self.body,
            "author": {"id": 1, "username": self.author, "name": self.author},
            "created_at": "2026-12-01T12:00:00.000Z",
            "updated_at": "2026-12-01T12:00:00.000Z",
            "system": self.system,
            "noteable_id": 9000 + self.iid,
            "noteable_type": "MergeRequest",
            "noteable_iid": self.iid,
            "resolvable": False,
            "confidential": False,
        }


class FakeGitLab(Simulator):
    def __init__(
        self, token: str, job_token: str = "", project_id: int = 42, path: str = "msp/policies"
    ) -> None:
        super().__init__(None, tls=False)
        self.token, self.job_token = token, job_token
        self.project_id, self.path = project_id, path
        self.job_token_can_write = True
        self.notes: dict[int, FakeNote] = {}
        self.calls: list[tuple[str, str, str]] = []  # method, path, which auth header
        self._ids = 5000
        self._ids_lock = threading.Lock()

    def next_id(self) -> int:
        with self._ids_lock:
            self._ids += 1
            return self._ids

    def add_note(self, iid: int, body: str, author: str = "someone", system: bool = False) -> FakeNote:
        note = FakeNote(self.next_id(), iid, body, author, system)
        self.notes[note.id] = note
        return note

    def mr_notes(self, iid: int) -> list[FakeNote]:
        return sorted((n for n in self.notes.values() if n.iid == iid), key=lambda n: n.id)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v4"

    # --- routing ------------------------------------------------------------------
    def handle(self, request: SimRequest) -> SimResponse:
        auth = self._auth(request)
        self.calls.append((request.method, request.path, auth))
        if not auth:
            return SimResponse(401, {"message": "401 Unauthorized"})
        m = re.fullmatch(r"/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes(?:/(\d+))?", request.path)
        if m is None:
            return SimResponse(404, {"error": "404 Not Found"})
        if unquote(m.group(1)) not in (str(self.project_id), self.path):
            return SimResponse(404, {"message": "404 Project Not Found"})
        iid, note_id = int(m.group(2)), m.group(3)
        writing = request.method in ("POST", "PUT")
        if writing and auth == "JOB-TOKEN" and not self.job_token_can_write:
            return SimResponse(403, {"message": "403 Forbidden"})
        if note_id is None and request.method == "GET":
            return self._page(request, [n.json() for n in self.mr_notes(iid)])
        if note_id is None and request.method == "POST":
            body = str((request.json() or {}).get("body", ""))
            if problem := self._invalid(body):
                return problem
            note = FakeNote(self.next_id(), iid, body)
            self.notes[note.id] = note
            return SimResponse(201, note.json())
        if note_id is not None and request.method == "PUT":
            found = self.notes.get(int(note_id))
            if found is None or found.iid != iid:
                return SimResponse(404, {"message": "404 Note Not Found"})
            if found.author != BOT or found.system:
                return SimResponse(403, {"message": "403 Forbidden"})
            body = str((request.json() or {}).get("body", ""))
            if problem := self._invalid(body):
                return problem
            found.body = body
            return SimResponse(200, found.json())
        return SimResponse(405, {"error": "405 Method Not Allowed"})

    def _auth(self, request: SimRequest) -> str:
        if self.token and request.headers.get("private-token") == self.token:
            return "PRIVATE-TOKEN"
        if self.job_token and request.headers.get("job-token") == self.job_token:
            return "JOB-TOKEN"
        return ""

    @staticmethod
    def _invalid(body: str) -> SimResponse | None:
        if not body:
            return SimResponse(400, {"message": {"note": ["can't be blank"]}})
        if len(body) > NOTE_LIMIT:
            return SimResponse(
                400, {"message": {"note": [f"is too long (maximum is {NOTE_LIMIT} characters)"]}}
            )
        return None

    def _page(self, request: SimRequest, items: list[Any]) -> SimResponse:
        per_page = max(1, min(100, int(request.q("per_page") or 20)))
        page = max(1, int(request.q("page") or 1))
        pages = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = f"{self.url}{request.path}?per_page={per_page}"
        links = [f'<{base}&page={page + 1}>; rel="next"'] if page < pages else []
        links += [f'<{base}&page=1>; rel="first"', f'<{base}&page={pages}>; rel="last"']
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "Link": ", ".join(links),
        }
        return SimResponse(200, chunk, headers)
