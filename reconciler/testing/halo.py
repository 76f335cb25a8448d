"""Test helpers: a Halo PSA simulator (clients, their sites and users).

Speaks the wire format of APIS.md section 9 (facts from maintained open-source
clients; Halo's own docs are not public, so the weak points are marked there):

- `POST /auth/token` (`?tenant=` for hosted instances), form `grant_type=
  client_credentials`, `client_id`, `client_secret`, `scope` -> `{token_type,
  access_token, expires_in}`; a wrong secret answers 401 `{"error": "invalid_client"}`;
- `GET /api/Users` with `client_id`, `includeinactive`, `search`, and Halo's paging
  `pageinate=true`, `page_size`, `page_no` (from 1) -> `{"record_count", "users"}`;
  without `pageinate`, `count` caps what comes back;
- `POST /api/Users` with a JSON array: items without `id` are created (each needs
  `name` and `site_id`), items with `id` update; answers the saved user (one item)
  or the list of them; `GET /api/Users/{id}` one user;
- `GET /api/Site?client_id=` -> `{"record_count", "sites"}`;
- tickets, ticket types and actions: reconciler.testing.halo_tickets.

Paths are case-insensitive (`/api/users` works too), as Halo's are said to be.
Every `/api` call needs `Authorization: Bearer <token>` from `/auth/token`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from reconciler.testing.halo_tickets import HaloTicketDesk
from reconciler.testing.httpsim import SimRequest, SimResponse, Simulator, TestCA

USER_FIELDS = (
    "id", "name", "firstname", "surname", "emailaddress", "site_id", "site_name", "client_id",
    "client_name", "inactive", "notes", "login", "phonenumber",
)  # fmt: skip
TOKEN_LIFETIME = 3600


class HaloSimulator(Simulator):
    def __init__(
        self,
        ca: TestCA | None = None,
        *,
        client_id: str = "halo-client",
        client_secret: str = "halo-secret",  # noqa: S107 - a simulator's fixed test credential
        tenant: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ca)
        self.client_id, self.client_secret, self.tenant = client_id, client_secret, tenant
        self.clock = clock
        self.clients: dict[int, str] = {}
        self.sites: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, float] = {}  # token -> expiry
        self.token_requests = 0
        self.desk = HaloTicketDesk()  # tickets, ticket types, actions (reconciler.testing.halo_tickets)
        self._next_id = 500
        self._ids = threading.Lock()

    # --- seeding and inspection -------------------------------------------------------
    def add_client(self, name: str, sites: tuple[str, ...] = ("Main",)) -> int:
        with self._lock:
            client_id = self._new_id()
            self.clients[client_id] = name
            for site in sites:
                sid = self._new_id()
                self.sites[sid] = {"id": sid, "name": site, "client_id": client_id, "client_name": name}
            return client_id

    def site_of(self, client_id: int, name: str = "Main") -> int:
        return next(
            int(s["id"]) for s in self.sites.values() if s["client_id"] == client_id and s["name"] == name
        )

    def add_user(
        self, client_id: int, first: str, last: str, email: str | None = None, *, inactive: bool = False,
        notes: str = "",
    ) -> dict[str, Any]:  # fmt: skip
        with self._lock:
            site = min(s["id"] for s in self.sites.values() if s["client_id"] == client_id)
            fields: dict[str, Any] = {"name": f"{first} {last}", "firstname": first, "surname": last}
            fields.update(emailaddress=email or "", site_id=site, inactive=inactive, notes=notes)
            return self._save(fields)

    def users_of(self, client_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(u) for u in self.users.values() if u["client_id"] == client_id]

    # --- HTTP -------------------------------------------------------------------------
    def error_response(self, status: int, retry_after: str | None) -> SimResponse:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return SimResponse(status, f"injected fault {status}".encode(), headers, "text/plain")

    def handle(self, request: SimRequest) -> SimResponse:
        path = request.path.lower().rstrip("/")
        if path == "/auth/token" and request.method == "POST":
            return self._token(request)
        if not path.startswith("/api/"):
            return SimResponse(404, b"Not found", content_type="text/plain")
        if not self._authorised(request):
            return SimResponse(401, b"Unauthorized", content_type="text/plain")
        if path == "/api/users" and request.method == "GET":
            return self._list_users(request)
        if path == "/api/users" and request.method == "POST":
            return self._post_users(request)
        if path.startswith("/api/users/") and request.method == "GET":
            with self._lock:
                user = self.users.get(_int(path.rsplit("/", 1)[1]) or -1)
                if user is not None:
                    return SimResponse(200, dict(user))
            return SimResponse(404, b"User not found", content_type="text/plain")
        if path == "/api/site" and request.method == "GET":
            client = _int(request.q("client_id"))
            sites = [s for s in self.sites.values() if client is None or s["client_id"] == client]
            return SimResponse(200, {"record_count": len(sites), "sites": sites})
        answer = self.desk.handle(request, path, self.clients)
        if answer is not None:
            return answer
        return SimResponse(
            404, f"{request.method} {request.path} is not simulated".encode(), content_type="text/plain"
        )

    def _token(self, request: SimRequest) -> SimResponse:
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if self.tenant is not None and request.q("tenant") != self.tenant:
            return SimResponse(400, {"error": "invalid_request", "error_description": "unknown tenant"})
        if form.get("grant_type") != "client_credentials":
            return SimResponse(400, {"error": "unsupported_grant_type"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return SimResponse(
                401, {"error": "invalid_client", "error_description": "Invalid client credentials"}
            )
        if "all" not in (form.get("scope") or "").split():
            return SimResponse(400, {"error": "invalid_scope"})
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + TOKEN_LIFETIME
        return SimResponse(
            200, {"token_type": "Bearer", "access_token": token, "expires_in": TOKEN_LIFETIME, "scope": "all"}
        )

    def expire_tokens(self) -> None:
        """Every token issued so far is past its lifetime (the next call answers 401)."""
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def _authorised(self, request: SimRequest) -> bool:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        return self.tokens.get(token, 0.0) > self.clock()

    def _list_users(self, request: SimRequest) -> SimResponse:
        client = _int(request.q("client_id"))
        inactive = (request.q("includeinactive") or "").lower() == "true"
        search = (request.q("search") or "").lower()
        with self._lock:
            rows = [
                dict(u) for u in sorted(self.users.values(), key=lambda u: u["id"])
                if (client is None or u["client_id"] == client) and (inactive or not u["inactive"])
                and (not search or search in f"{u['name']} {u['emailaddress']}".lower())
            ]  # fmt: skip
        if (request.q("pageinate") or "").lower() == "true":
            size, number = _int(request.q("page_size")) or 50, _int(request.q("page_no")) or 1
            page = rows[(number - 1) * size : number * size]
        else:
            page = rows[: _int(request.q("count")) or len(rows)]
        return SimResponse(200, {"record_count": len(rows), "users": page})

    def _post_users(self, request: SimRequest) -> SimResponse:
        try:
            body = request.json()
        except ValueError:
            return SimResponse(400, b"The body is not valid JSON", content_type="text/plain")
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            return SimResponse(400, b"The body must be a JSON array of users", content_type="text/plain")
        saved = []
        with self._lock:
            for item in body:
                problem = self._problem(item)
                if problem:
                    return SimResponse(400, problem.encode(), content_type="text/plain")
            for item in body:
                saved.append(self._save(item))
        return SimResponse(201, saved[0] if len(saved) == 1 else saved)

    def _problem(self, item: dict[str, Any]) -> str:
        unknown = set(item) - set(USER_FIELDS)
        if unknown:
            return f"unknown user field(s): {', '.join(sorted(unknown))}"
        if "id" in item:
            return "" if item["id"] in self.users else f"user {item['id']} does not exist"
        if not str(item.get("name") or "").strip():
            return "name is required"
        if item.get("site_id") not in self.sites:
            return "site_id is required and must be an existing site"
        return ""

    def _save(self, item: dict[str, Any]) -> dict[str, Any]:
        if "id" in item:
            user = self.users[item["id"]]
            user.update({k: v for k, v in item.items() if k != "id"})
        else:
            user = dict.fromkeys(USER_FIELDS, None) | {"inactive": False, "notes": "", "emailaddress": ""}
            user.update(item, id=self._new_id())
        site = self.sites[user["site_id"]]
        user.update(site_name=site["name"], client_id=site["client_id"], client_name=site["client_name"])
        self.users[user["id"]] = user
        return dict(user)

    def _new_id(self) -> int:
        with self._ids:
            self._next_id += 1
            return self._next_id


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
