"""Test helpers: a Hudu API simulator on loopback (APIS.md section 5).

Serves `/api/v1`: `GET /companies`, `GET /companies/{id}`, `GET /asset_passwords`
(company_id, name, archived, search, page, page_size), `POST /asset_passwords`
(201 `{"asset_password": {...}}`, 422 on invalid input) and
`PUT /asset_passwords/{id}` (the fields given, R25) and
`PUT /asset_passwords/{id}/archive`. Records have the fields of Hudu's Swagger
definitions (`Company`, `Asset_Password`; contract-tested against the extract in
tests/data/hudu), including the password value Hudu returns in lists, so tests
can prove the client drops it. Unconfirmed behaviour is switchable:

- `max_page_size`: a server that caps page_size (None: honoured as asked);
- `ignores_page`: a server that answers page 1 whatever `page` says;
- `archived_in_default_list`: whether archived passwords show without `archived=`;
  Swagger: "archived: Set to true to display only archived" (default here: hidden);
- `require_password`: reject a create without a password value;
- error bodies `{"error": "..."}` and `{"errors": {"field": ["..."]}}` for 422.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from reconciler.testing.httpsim import SimRequest, SimResponse, Simulator, TestCA

BASE = "/api/v1"
DEFAULT_PAGE_SIZE = 25
STAMP = "2024-01-01T00:00:00.000Z"
# what seeded entries hold as their secret; tests assert it never leaves the client
SAMPLE_PASSWORD = "sim-secret-Zq7"


@dataclass
class _Store:
    companies: dict[int, dict[str, Any]] = field(default_factory=dict)
    passwords: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 500


class HuduSimulator(Simulator):
    def __init__(
        self,
        ca: TestCA | None,
        *,
        api_key: str = "hudu-test-key",
        max_page_size: int | None = None,
        ignores_page: bool = False,
        archived_in_default_list: bool = False,
        require_password: bool = True,
        create_status: int = 201,
    ):
        super().__init__(ca)
        self.api_key = api_key
        self.max_page_size = max_page_size
        self.ignores_page = ignores_page
        self.archived_in_default_list = archived_in_default_list
        self.require_password = require_password
        self.create_status = create_status  # Swagger says 201; a live probe saw 200
        self.store = _Store()
        self._data_lock = threading.Lock()

    # --- seeding ------------------------------------------------------------------
    def _new_id(self) -> int:
        self.store.next_id += 1
        return self.store.next_id

    def add_company(self, name: str, *, archived: bool = False, company_type: str = "Customer") -> int:
        with self._data_lock:
            cid = self._new_id()
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or str(cid)
            self.store.companies[cid] = {
                "id": cid, "slug": f"{slug}-{cid}", "name": name, "nickname": None,
                "address_line_1": "", "address_line_2": None, "city": "", "state": "", "zip": "",
                "country_name": None, "phone_number": "", "company_type": company_type,
                "parent_company_id": None, "parent_company_name": None, "fax_number": "",
                "website": "", "notes": None, "archived": archived, "object_type": "Company",
                "id_number": "", "url": f"/c/{slug}", "full_url": f"https://hudu.test/c/{slug}",
                "passwords_url": f"/c/{slug}/passwords", "knowledge_base_url": f"/kba?company={cid}",
                "created_at": STAMP, "updated_at": STAMP, "integrations": [],
            }  # fmt: skip
            return cid

    def add_password(
        self,
        company_id: int,
        name: str,
        username: str | None,
        password_type: str | None,
        *,
        archived: bool = False,
        description: str = "",
        password: str = SAMPLE_PASSWORD,
    ) -> int:
        with self._data_lock:
            return self._insert(
                {"company_id": company_id, "name": name, "username": username or "",
                 "password_type": password_type, "description": description, "password": password},
                archived,
            )  # fmt: skip

    def _insert(self, fields: dict[str, Any], archived: bool = False) -> int:
        pid = self._new_id()
        slug = re.sub(r"[^a-z0-9]+", "-", str(fields.get("name", "")).lower()).strip("-")
        self.store.passwords[pid] = {
            "id": pid, "passwordable_id": fields.get("passwordable_id"),
            "passwordable_type": fields.get("passwordable_type") or "", "company_id": fields["company_id"],
            "name": fields["name"], "username": fields.get("username") or "", "slug": f"{slug}-{pid}",
            "description": fields.get("description") or "", "password": fields.get("password") or "",
            "otp_secret": fields.get("otp_secret") or "", "password_type": fields.get("password_type"),
            "url": fields.get("url") or "", "created_at": STAMP, "updated_at": STAMP,
            "password_folder_id": fields.get("password_folder_id"), "password_folder_name": None,
            "login_url": None, "archived": archived,
        }  # fmt: skip
        return pid

    def passwords_of(self, company_id: int) -> list[dict[str, Any]]:
        with self._data_lock:
            return [dict(p) for p in self.store.passwords.values() if p["company_id"] == company_id]

    # --- wire format -----------------------------------------------------------------
    def error_response(self, status: int, retry_after: str | None) -> SimResponse:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return SimResponse(status, {"error": f"injected fault {status}"}, headers)

    def throttle_response(self, retry_after: str | None) -> SimResponse:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return SimResponse(429, {"error": "Rate limit exceeded"}, headers)

    def handle(self, request: SimRequest) -> SimResponse:
        if request.headers.get("x-api-key") != self.api_key:
            return SimResponse(401, {"error": "Unauthorized: invalid API key"})
        if not request.path.startswith(BASE + "/"):
            return SimResponse(404, {"error": "Not Found"})
        path = request.path[len(BASE) :].rstrip("/")
        if (request.method, path) == ("GET", "/companies"):
            return self._companies(request)
        if (m := re.fullmatch(r"/companies/(\d+)", path)) and request.method == "GET":
            company = self.store.companies.get(int(m.group(1)))
            return (
                SimResponse(200, {"company": company})
                if company
                else SimResponse(404, {"error": "Not Found"})
            )
        if (request.method, path) == ("GET", "/asset_passwords"):
            return self._passwords(request)
        if (request.method, path) == ("POST", "/asset_passwords"):
            return self._create(request)
        if (m := re.fullmatch(r"/asset_passwords/(\d+)", path)) and request.method == "PUT":
            return self._update(int(m.group(1)), request)
        if (m := re.fullmatch(r"/asset_passwords/(\d+)/archive", path)) and request.method == "PUT":
            with self._data_lock:
                record = self.store.passwords.get(int(m.group(1)))
                if record is None:
                    return SimResponse(404, {"error": "Not Found"})
                record["archived"] = True
                return SimResponse(200, {"asset_password": dict(record)})
        return SimResponse(404, {"error": f"no route {request.method} {request.path}"})

    def _page(self, request: SimRequest, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | SimResponse:
        try:
            number = int(request.q("page") or 1)
            size = int(request.q("page_size") or DEFAULT_PAGE_SIZE)
        except ValueError:
            return SimResponse(400, {"error": "page and page_size must be numbers"})
        if number < 1 or size < 1:
            return SimResponse(400, {"error": "page and page_size must be positive"})
        if self.max_page_size is not None:
            size = min(size, self.max_page_size)
        if self.ignores_page:
            number = 1
        with self._data_lock:
            return [dict(row) for row in rows[(number - 1) * size : number * size]]

    def _companies(self, request: SimRequest) -> SimResponse:
        with self._data_lock:
            rows = [c for c in self.store.companies.values() if not c["archived"]]  # ids only grow
        if (name := request.q("name")) is not None:
            rows = [c for c in rows if c["name"] == name]
        if (search := request.q("search")) is not None:
            rows = [c for c in rows if search.lower() in c["name"].lower()]
        page = self._page(request, rows)
        return page if isinstance(page, SimResponse) else SimResponse(200, {"companies": page})

    def _passwords(self, request: SimRequest) -> SimResponse:
        archived = request.q("archived")
        with self._data_lock:
            rows = list(self.store.passwords.values())  # in id order: ids only grow
        if archived is not None:
            rows = [p for p in rows if p["archived"] == (archived in ("true", "1"))]
        elif not self.archived_in_default_list:
            rows = [p for p in rows if not p["archived"]]
        if (company := request.q("company_id")) is not None:
            rows = [p for p in rows if str(p["company_id"]) == company]
        if (name := request.q("name")) is not None:
            rows = [p for p in rows if p["name"] == name]
        if (search := request.q("search")) is not None:
            rows = [p for p in rows if search.lower() in p["name"].lower()]
        page = self._page(request, rows)
        return page if isinstance(page, SimResponse) else SimResponse(200, {"asset_passwords": page})

    def _update(self, pid: int, request: SimRequest) -> SimResponse:
        """Only the fields sent change (Rails-style update); `id` and `company_id` stay."""
        try:
            fields = request.json()["asset_password"]
            if not isinstance(fields, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return SimResponse(422, {"error": "param is missing or the value is empty: asset_password"})
        with self._data_lock:
            record = self.store.passwords.get(pid)
            if record is None:
                return SimResponse(404, {"error": "Not Found"})
            if "name" in fields and not str(fields["name"] or "").strip():
                return SimResponse(422, {"errors": {"name": ["can't be blank"]}})
            for key, value in fields.items():
                if key in record and key not in ("id", "company_id", "created_at"):
                    record[key] = value
            record["updated_at"] = "2024-01-02T00:00:00.000Z"
            return SimResponse(200, {"asset_password": dict(record)})

    def _create(self, request: SimRequest) -> SimResponse:
        try:
            fields = request.json()["asset_password"]
            if not isinstance(fields, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return SimResponse(422, {"error": "param is missing or the value is empty: asset_password"})
        errors: dict[str, list[str]] = {}
        if not isinstance(fields.get("company_id"), int) or fields["company_id"] not in self.store.companies:
            errors["company"] = ["must exist"]
        if not isinstance(fields.get("name"), str) or not fields["name"].strip():
            errors["name"] = ["can't be blank"]
        if self.require_password and not fields.get("password"):
            errors["password"] = ["can't be blank"]
        if errors:
            return SimResponse(422, {"errors": errors})
        with self._data_lock:
            pid = self._insert(fields)
            return SimResponse(self.create_status, {"asset_password": dict(self.store.passwords[pid])})
