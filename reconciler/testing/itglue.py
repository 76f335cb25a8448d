"""Test helpers: an IT Glue API simulator on loopback (APIS.md section 4).

Speaks JSON:API with dash-case attributes: organizations, password categories and
passwords, `page[size]` (max 1000; default 50) / `page[number]` with `meta`
(current-page, next-page, prev-page, total-pages, total-count), the filters the
client uses, `POST /passwords` -> 201 and `PATCH /passwords/{id}` (the attributes
sent change, the others stay; IT Glue's documented update). IT Glue documents no
archive call for passwords (unconfirmed): the simulator follows the best evidence,
an `archived: true` attribute in that PATCH (passwords carry `archived` and a
`filter[archived]`). Errors are JSON:API
`{"errors": [{"status", "title", "detail"}]}` (unconfirmed shape). List answers
never carry password values (as IT Glue's index does not); requests asking for
them (`show_password=true`) are counted so a test can prove the client never asks.

    sim = ItGlueSimulator(ca, api_key="k").start()
    org = sim.add_organization("Acme")
    sim.add_category("Office 365")
    sim.add_password(org, "Ann", "ann@acme.test", "Office 365")
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reconciler.testing.httpsim import SimRequest, SimResponse, Simulator, TestCA

JSONAPI = "application/vnd.api+json"
T = TypeVar("T")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
STAMP = "2024-01-01T00:00:00.000Z"
# what seeded entries hold as their secret; tests assert it never leaves the client
SAMPLE_PASSWORD = "sim-secret-Zq7"


@dataclass
class SimPassword:
    id: int
    organization_id: int
    name: str
    username: str | None
    category_id: int | None
    notes: str | None = None
    archived: bool = False
    password: str | None = None
    url: str | None = None


@dataclass
class _Store:
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    categories: dict[int, str] = field(default_factory=dict)
    passwords: dict[int, SimPassword] = field(default_factory=dict)
    next_id: int = 1000


class ItGlueSimulator(Simulator):
    def __init__(
        self, ca: TestCA | None, *, api_key: str = "itglue-test-key", require_password: bool = False
    ):
        super().__init__(ca)
        self.api_key = api_key
        self.require_password = require_password  # some accounts may insist (unconfirmed)
        self.store = _Store()
        self.show_password_requests = 0
        self._data_lock = threading.Lock()

    # --- seeding ------------------------------------------------------------------
    def _new_id(self) -> int:
        self.store.next_id += 1
        return self.store.next_id

    def add_organization(self, name: str, *, status: str = "Active", kind: str = "Customer") -> int:
        with self._data_lock:
            oid = self._new_id()
            self.store.organizations[oid] = {
                "name": name,
                "organization-status-name": status,
                "organization-type-name": kind,
            }
            return oid

    def add_category(self, name: str) -> int:
        with self._data_lock:
            cid = self._new_id()
            self.store.categories[cid] = name
            return cid

    def category_id(self, name: str) -> int:
        return next(cid for cid, n in self.store.categories.items() if n == name)

    def add_password(
        self,
        organization_id: int,
        name: str,
        username: str | None,
        category: str | None,
        *,
        archived: bool = False,
        notes: str | None = None,
        password: str | None = SAMPLE_PASSWORD,
    ) -> int:
        cat = self.category_id(category) if category is not None else None
        with self._data_lock:
            pid = self._new_id()
            self.store.passwords[pid] = SimPassword(
                pid, organization_id, name, username, cat, notes, archived, password
            )
            return pid

    def passwords_of(self, organization_id: int) -> list[SimPassword]:
        with self._data_lock:
            return [p for p in self.store.passwords.values() if p.organization_id == organization_id]

    # --- wire format -----------------------------------------------------------------
    def error_response(self, status: int, retry_after: str | None) -> SimResponse:
        titles = {
            401: "Unauthorized",
            404: "Not Found",
            422: "Unprocessable Entity",
            429: "Too Many Requests",
        }
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return _error(status, titles.get(status, "Error"), "injected fault", headers)

    def handle(self, request: SimRequest) -> SimResponse:
        if request.headers.get("x-api-key") != self.api_key:
            return _error(401, "Unauthorized", "The API key is missing or invalid")
        if request.q("show_password") == "true":
            self.show_password_requests += 1
        route = (request.method, request.path.rstrip("/"))
        if route == ("GET", "/organizations"):
            return self._list(request, "organizations", self._organizations(request), _same)
        if m := re.fullmatch(r"/organizations/(\d+)", request.path):
            if request.method == "GET" and int(m.group(1)) in self.store.organizations:
                return SimResponse(200, {"data": self._organization(int(m.group(1)))}, content_type=JSONAPI)
            return _error(404, "Not Found", "Record not found")
        if route == ("GET", "/password_categories"):
            cats = [
                {"id": str(cid), "type": "password-categories", "attributes": {"name": name}}
                for cid, name in sorted(self.store.categories.items())
            ]
            return self._list(request, "password_categories", cats, _same)
        if route == ("GET", "/passwords"):
            return self._list(request, "passwords", self._passwords(request), self._record)
        if route == ("POST", "/passwords"):
            return self._create(request)
        if (m := re.fullmatch(r"/passwords/(\d+)", request.path)) and request.method == "PATCH":
            return self._update(int(m.group(1)), request)
        return _error(404, "Not Found", f"no route {request.method} {request.path}")

    def _organization(self, oid: int) -> dict[str, Any]:
        attrs = {**self.store.organizations[oid], "created-at": STAMP, "updated-at": STAMP}
        return {"id": str(oid), "type": "organizations", "attributes": attrs, "relationships": {}}

    def _organizations(self, request: SimRequest) -> list[dict[str, Any]]:
        with self._data_lock:
            items = [self._organization(oid) for oid in sorted(self.store.organizations)]
        if (name := request.q("filter[name]")) is not None:
            items = [i for i in items if i["attributes"]["name"] == name]
        if (oid := request.q("filter[id]")) is not None:
            items = [i for i in items if i["id"] == oid]
        return items

    def _record(self, p: SimPassword) -> dict[str, Any]:
        org = self.store.organizations.get(p.organization_id, {})
        attrs: dict[str, Any] = {
            "organization-id": p.organization_id,
            "organization-name": org.get("name"),
            "name": p.name,
            "username": p.username,
            "url": p.url,
            "notes": p.notes,
            "password-category-id": p.category_id,
            "password-category-name": self.store.categories.get(p.category_id) if p.category_id else None,
            "resource-id": None,
            "resource-type": None,
            "archived": p.archived,
            "created-at": STAMP,
            "updated-at": STAMP,
        }
        return {"id": str(p.id), "type": "passwords", "attributes": attrs, "relationships": {}}

    def _passwords(self, request: SimRequest) -> list[SimPassword]:
        filters = {k[7:-1]: v[0] for k, v in request.query.items() if k.startswith("filter[") and v}
        with self._data_lock:
            found = list(self.store.passwords.values())  # in id order: ids only grow
            if "organization_id" in filters:
                found = [p for p in found if str(p.organization_id) == filters["organization_id"]]
            if "name" in filters:
                found = [p for p in found if p.name == filters["name"]]
            if "password_category_id" in filters:
                found = [p for p in found if str(p.category_id) == filters["password_category_id"]]
            if "archived" in filters:
                found = [p for p in found if p.archived == (filters["archived"] in ("true", "1"))]
            if "id" in filters:
                found = [p for p in found if str(p.id) == filters["id"]]
            return found

    def _list(
        self, request: SimRequest, path: str, items: list[T], render: Callable[[T], dict[str, Any]]
    ) -> SimResponse:
        try:
            size = int(request.q("page[size]") or DEFAULT_PAGE_SIZE)
            number = int(request.q("page[number]") or 1)
        except ValueError:
            return _error(400, "Bad Request", "page[size] and page[number] must be numbers")
        if not 1 <= size <= MAX_PAGE_SIZE or number < 1:
            return _error(400, "Bad Request", f"page[size] must be between 1 and {MAX_PAGE_SIZE}")
        total = len(items)
        pages = max(1, math.ceil(total / size))
        with self._data_lock:
            chunk = [render(item) for item in items[(number - 1) * size : number * size]]
        meta: dict[str, Any] = {
            "current-page": number,
            "next-page": number + 1 if number < pages else None,
            "prev-page": number - 1 if number > 1 else None,
            "total-pages": pages,
            "total-count": total,
            "filters": {},
        }
        links = {
            "self": f"{self.url}/{path}?page[number]={number}",
            "last": f"{self.url}/{path}?page[number]={pages}",
        }
        if meta["next-page"]:
            links["next"] = f"{self.url}/{path}?page[number]={number + 1}"
        return SimResponse(200, {"data": chunk, "meta": meta, "links": links}, content_type=JSONAPI)

    def _update(self, pid: int, request: SimRequest) -> SimResponse:
        if not request.headers.get("content-type", "").startswith(JSONAPI):
            return _error(415, "Unsupported Media Type", f"Content-Type must be {JSONAPI}")
        try:
            data = request.json()["data"]
            attrs = data["attributes"]
            if data.get("type") != "passwords" or not isinstance(attrs, dict):
                raise KeyError("type")
        except (ValueError, KeyError, TypeError):
            return _error(400, "Bad Request", "body must be {data: {type: passwords, attributes: {...}}}")
        if "name" in attrs and not str(attrs["name"] or "").strip():
            return _error(422, "Unprocessable Entity", "name can't be blank")
        with self._data_lock:
            p = self.store.passwords.get(pid)
            if p is None:
                return _error(404, "Not Found", "Record not found")
            for key in ("name", "username", "notes", "url", "archived"):
                if key in attrs:
                    setattr(p, key, attrs[key] is True if key == "archived" else attrs[key])
            return SimResponse(200, {"data": self._record(p)}, content_type=JSONAPI)

    def _create(self, request: SimRequest) -> SimResponse:
        if not request.headers.get("content-type", "").startswith(JSONAPI):
            return _error(415, "Unsupported Media Type", f"Content-Type must be {JSONAPI}")
        try:
            data = request.json()["data"]
            attrs = data["attributes"]
            if data.get("type") != "passwords" or not isinstance(attrs, dict):
                raise KeyError("type")
        except (ValueError, KeyError, TypeError):
            return _error(400, "Bad Request", "body must be {data: {type: passwords, attributes: {...}}}")
        problems = []
        org = attrs.get("organization-id")
        if not isinstance(org, int) or org not in self.store.organizations:
            org = 0
            problems.append("organization-id must be an existing organization")
        if not isinstance(attrs.get("name"), str) or not attrs["name"].strip():
            problems.append("name can't be blank")
        cat = attrs.get("password-category-id")
        if cat is not None and cat not in self.store.categories:
            problems.append("password-category-id is not a password category")
        if self.require_password and not attrs.get("password"):
            problems.append("password can't be blank")
        if problems:
            return SimResponse(
                422,
                {
                    "errors": [
                        {"status": "422", "title": "Unprocessable Entity", "detail": p} for p in problems
                    ]
                },
                content_type=JSONAPI,
            )
        with self._data_lock:
            pid = self._new_id()
            p = SimPassword(
                pid,
                org,
                attrs["name"],
                attrs.get("username"),
                cat,
                attrs.get("notes"),
                False,
                attrs.get("password"),
            )
            self.store.passwords[pid] = p
            return SimResponse(201, {"data": self._record(p)}, content_type=JSONAPI)


def _same(item: dict[str, Any]) -> dict[str, Any]:
    return item


def _error(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> SimResponse:
    body = {"errors": [{"status": str(status), "title": title, "detail": detail}]}
    return SimResponse(status, body, headers or {}, content_type=JSONAPI)
