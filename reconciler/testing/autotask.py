"""Test helpers: an Autotask PSA simulator (companies and their contacts).

Speaks the wire format of APIS.md section 7:

- `GET /ATServicesRest/v1.0/zoneInformation?user=` (anonymous) answers the zone,
  which is this simulator (`{url}/ATServicesRest/`);
- `POST /ATServicesRest/V1.0/Contacts/query` with `filter` (eq, noteq, gt, gte,
  lt, lte, beginsWith, endsWith, contains, exist, notExist, in, notIn, and, or),
  `MaxRecords` 1-500 and `IncludeFields`; `pageDetails.nextPageUrl` carries the
  paging state in its query string, and the same body is POSTed to it;
- `POST /ATServicesRest/V1.0/Companies/{id}/Contacts` -> `{"itemId": N}`, and
  `PATCH` there with the contact's `id` and the fields to change (R25, R8);
- `ApiIntegrationCode`, `UserName` and `Secret` headers; errors as
  `{"errors": ["..."]}`, validation errors of a create with HTTP 500 (as Autotask
  does); injected 5xx faults answer an HTML page instead, like a failing gateway. Paths and field names are case-insensitive, as Autotask's.

For the database's hourly limit set `rate_limit = RateLimit(10_000, 3600)`
(httpsim); past it the simulator answers 429 with an `errors` body (the real
throttle status is unconfirmed, APIS.md).
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Any
from urllib.parse import quote

from reconciler.testing.autotask_tickets import AutotaskTicketDesk
from reconciler.testing.httpsim import SimRequest, SimResponse, Simulator, TestCA

MAX_RECORDS = 500
CONTACT_FIELDS = (
    "id", "companyID", "firstName", "lastName", "emailAddress", "emailAddress2", "emailAddress3",
    "isActive", "externalID", "title", "note", "phone", "mobilePhone", "createDate", "lastModifiedDate",
)  # fmt: skip
FIELD_BY_LOWER = {f.lower(): f for f in CONTACT_FIELDS}
WRITABLE = frozenset(f.lower() for f in CONTACT_FIELDS) - {"id", "createdate", "lastmodifieddate"}
LENGTHS = {"firstname": 50, "lastname": 50, "emailaddress": 254, "externalid": 50, "title": 50, "note": 4000}
OPS = frozenset(
    {
        "eq",
        "noteq",
        "gt",
        "gte",
        "lt",
        "lte",
        "beginswith",
        "endswith",
        "contains",
        "exist",
        "notexist",
        "in",
        "notin",
    }
)


class FilterError(ValueError):
    pass


def matches(condition: Any, record: dict[str, Any]) -> bool:
    if not isinstance(condition, dict) or not isinstance(condition.get("op"), str):
        raise FilterError("each filter needs an op")
    op = condition["op"].lower()
    if op in ("and", "or"):
        items = condition.get("items")
        if not isinstance(items, list) or not items:
            raise FilterError(f"'{op}' needs items")
        results = (matches(item, record) for item in items)
        return all(results) if op == "and" else any(results)
    if op not in OPS:
        raise FilterError(f"unknown operator {condition['op']}")
    field = FIELD_BY_LOWER.get(str(condition.get("field", "")).lower())
    if field is None:
        raise FilterError(f"unknown field {condition.get('field')}")
    actual = record.get(field)
    if op == "exist":
        return actual not in (None, "")
    if op == "notexist":
        return actual in (None, "")
    expected = condition.get("value")
    if isinstance(actual, str):
        actual = actual.lower()
    if isinstance(expected, str):
        expected = expected.lower()
    if op in ("in", "notin"):
        if not isinstance(expected, list):
            raise FilterError(f"'{op}' needs a list value")
        hit = actual in [v.lower() if isinstance(v, str) else v for v in expected]
        return hit if op == "in" else not hit
    if op in ("beginswith", "endswith", "contains"):
        if not isinstance(actual, str) or not isinstance(expected, str):
            return False
        return {
            "beginswith": actual.startswith,
            "endswith": actual.endswith,
            "contains": actual.__contains__,
        }[op](expected)
    if op == "eq":
        return bool(actual == expected)
    if op == "noteq":
        return bool(actual != expected)
    if actual is None or expected is None:
        return False
    try:
        return bool(
            {
                "gt": actual > expected,
                "gte": actual >= expected,
                "lt": actual < expected,
                "lte": actual <= expected,
            }[op]
        )
    except TypeError:
        return False


class AutotaskSimulator(Simulator):
    def __init__(
        self,
        ca: TestCA | None = None,
        *,
        username: str = "api-user@msp.example",
        secret: str = "at-secret",  # noqa: S107 - a simulator's fixed test credential
        integration_code: str = "AT-INTEGRATION-CODE",
    ) -> None:
        super().__init__(ca)
        self.username = username
        self.secret = secret
        self.integration_code = integration_code
        self.companies: dict[int, str] = {}
        self.desk = AutotaskTicketDesk()  # the Tickets entity (reconciler.testing.autotask_tickets)
        self.contacts: dict[int, dict[str, Any]] = {}
        self._next_id = 29_000_000
        self._version = 0  # bumped on every change, so cached query results go stale
        self._query_cache: dict[str, tuple[int, list[dict[str, Any]]]] = {}

    # --- seeding and inspection -------------------------------------------------------
    def add_company(self, company_id: int, name: str) -> None:
        with self._lock:
            self.companies[company_id] = name

    def add_contact(
        self,
        company_id: int,
        first_name: str,
        last_name: str,
        emails: tuple[str, ...] | list[str] = (),
        *,
        active: bool = True,
        note: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "firstName": first_name,
            "lastName": last_name,
            "isActive": 1 if active else 0,
        }
        for key, email in zip(("emailAddress", "emailAddress2", "emailAddress3"), emails, strict=False):
            body[key] = email
        if note is not None:
            body["note"] = note
        with self._lock:
            self.companies.setdefault(company_id, f"Company {company_id}")
            return self._store(company_id, body)

    def contacts_of(self, company_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.contacts.values() if c["companyID"] == company_id]

    # --- HTTP -------------------------------------------------------------------------
    def error_response(self, status: int, retry_after: str | None) -> SimResponse:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        if status >= 500:  # a transient failure of the service, not Autotask's validation answer
            return SimResponse(status, b"<html><body>Service Unavailable</body></html>", headers, "text/html")
        return SimResponse(status, {"errors": [f"injected fault {status}"]}, headers)

    def handle(self, request: SimRequest) -> SimResponse:
        path = request.path.lower()
        if path == "/atservicesrest/v1.0/zoneinformation" and request.method == "GET":
            if (request.q("user") or "").lower() != self.username.lower():
                return SimResponse(
                    404, {"errors": ["Zone information could not be determined for this user"]}
                )
            return SimResponse(
                200,
                {"zoneName": "Simulated", "url": f"{self.url}/ATServicesRest/", "webUrl": self.url, "ci": 0},
            )
        if not path.startswith("/atservicesrest/v1.0/"):
            return SimResponse(404, {"errors": ["Not found"]})
        if not self._authorised(request):
            return SimResponse(
                401, {"errors": ["Unauthorized: the integration code, user name or secret is wrong"]}
            )
        rest = path[len("/atservicesrest/v1.0/") :]
        if rest.startswith("tickets"):
            return self.desk.handle(request, rest, self.companies)
        if rest == "contacts/query" and request.method == "POST":
            return self._query(request)
        m = re.fullmatch(r"companies/(\d+)/contacts", rest)
        if m and request.method == "POST":
            return self._create(int(m.group(1)), request)
        if m and request.method == "PATCH":
            return self._update(int(m.group(1)), request)
        return SimResponse(404, {"errors": [f"{request.method} {request.path} is not simulated"]})

    def _authorised(self, request: SimRequest) -> bool:
        h = request.headers
        return (
            h.get("apiintegrationcode") == self.integration_code
            and (h.get("username") or "").lower() == self.username.lower()
            and h.get("secret") == self.secret
        )

    def _query(self, request: SimRequest) -> SimResponse:
        try:
            body = request.json()
        except ValueError:
            return SimResponse(400, {"errors": ["The body is not valid JSON"]})
        if not isinstance(body, dict):
            return SimResponse(400, {"errors": ["The body must be a query object"]})
        keys = {k.lower(): v for k, v in body.items()}
        filters = keys.get("filter")
        if not isinstance(filters, list) or not filters:
            return SimResponse(400, {"errors": ["A query needs at least one filter"]})
        max_records = keys.get("maxrecords", MAX_RECORDS)
        if not isinstance(max_records, int) or not 1 <= max_records <= MAX_RECORDS:
            return SimResponse(400, {"errors": ["MaxRecords must be between 1 and 500"]})
        include = keys.get("includefields") or []
        paging = json.loads(request.q("paging") or "{}")
        after = int(paging.get("afterId", 0))
        try:
            everything = self._hits(filters)
        except FilterError as exc:
            return SimResponse(400, {"errors": [str(exc)]})
        hits = everything[bisect.bisect_right([r["id"] for r in everything], after) :]
        chunk = hits[:max_records]
        wanted = {FIELD_BY_LOWER.get(str(f).lower()) for f in include} - {None}
        if include and "id" not in wanted and len(hits) > max_records:
            return SimResponse(400, {"errors": ["IncludeFields must include id when results are paged"]})
        items = [{k: v for k, v in r.items() if not wanted or k in wanted} for r in chunk]
        next_url = None
        if len(hits) > max_records:
            state = json.dumps({"pageSize": max_records, "afterId": chunk[-1]["id"]}, separators=(",", ":"))
            next_url = f"{self.url}/ATServicesRest/V1.0/Contacts/query?paging={quote(state)}"
        return SimResponse(
            200,
            {
                "items": items,
                "pageDetails": {
                    "count": len(items),
                    "requestCount": max_records,
                    "prevPageUrl": None,
                    "nextPageUrl": next_url,
                },
            },
        )

    def _hits(self, filters: list[Any]) -> list[dict[str, Any]]:
        """Matching contacts in id order; kept between the pages of one query."""
        key = json.dumps(filters, sort_keys=True)
        with self._lock:
            cached = self._query_cache.get(key)
            if cached is not None and cached[0] == self._version:
                return cached[1]
            version, records = self._version, sorted(self.contacts.values(), key=lambda c: c["id"])
        hits = [r for r in records if all(matches(f, r) for f in filters)]
        with self._lock:
            if len(self._query_cache) > 16:
                self._query_cache.clear()
            self._query_cache[key] = (version, hits)
        return hits

    def _create(self, company_id: int, request: SimRequest) -> SimResponse:
        try:
            body = request.json()
        except ValueError:
            return SimResponse(400, {"errors": ["The body is not valid JSON"]})
        if not isinstance(body, dict):
            return SimResponse(400, {"errors": ["The body must be a contact"]})
        errors = []
        with self._lock:
            if company_id not in self.companies:
                errors.append(f"Company {company_id} does not exist")
        for key, value in body.items():
            low = key.lower()
            if low not in WRITABLE:
                errors.append(f"{key} is not a writable field of Contact")
            elif isinstance(value, str) and len(value) > LENGTHS.get(low, 100):
                errors.append(f"{key} is longer than {LENGTHS.get(low, 100)} characters")
        fields = {FIELD_BY_LOWER[k.lower()]: v for k, v in body.items() if k.lower() in WRITABLE}
        for required in ("firstName", "lastName"):
            if not isinstance(fields.get(required), str) or not fields[required].strip():
                errors.append(f"{required} is required")
        if fields.get("companyID", company_id) != company_id:
            errors.append("companyID does not match the parent company")
        if fields.get("isActive", 1) not in (0, 1, True, False):
            errors.append("isActive must be 1 or 0")
        for key in ("emailAddress", "emailAddress2", "emailAddress3"):
            value = fields.get(key)
            if value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(value)):
                errors.append(f"{key} is not a valid email address")
        if errors:  # Autotask answers validation errors with 500 and an errors list
            return SimResponse(500, {"errors": errors})
        with self._lock:
            record = self._store(company_id, fields)
        return SimResponse(200, {"itemId": record["id"]})

    def _update(self, company_id: int, request: SimRequest) -> SimResponse:
        """A child-entity update: the body names the contact by `id`; only the fields
        sent change. Validation errors are 500 with `errors`, as on create."""
        try:
            body = request.json()
        except ValueError:
            return SimResponse(400, {"errors": ["The body is not valid JSON"]})
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            return SimResponse(500, {"errors": ["An update needs the id of the contact"]})
        fields = {FIELD_BY_LOWER[k.lower()]: v for k, v in body.items() if k.lower() in WRITABLE}
        errors = [
            f"{k} is not a writable field of Contact" for k in body if k.lower() not in WRITABLE | {"id"}
        ]
        for required in ("firstName", "lastName"):
            if required in fields and (not isinstance(fields[required], str) or not fields[required].strip()):
                errors.append(f"{required} is required")
        if fields.get("isActive", 1) not in (0, 1, True, False):
            errors.append("isActive must be 1 or 0")
        with self._lock:
            record = self.contacts.get(body["id"])
            if record is None or record.get("companyID") != company_id:
                errors.append(f"Contact {body['id']} does not exist in company {company_id}")
            if errors:
                return SimResponse(500, {"errors": errors})
            assert record is not None
            self._version += 1
            record.update(fields, lastModifiedDate="2025-01-02T00:00:00Z")
            if "isActive" in fields:
                record["isActive"] = int(bool(fields["isActive"]))
        return SimResponse(200, {"itemId": record["id"]})

    def _store(self, company_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        self._version += 1
        record: dict[str, Any] = {f: None for f in CONTACT_FIELDS}
        record.update(fields)
        record.update(
            id=self._next_id,
            companyID=company_id,
            isActive=int(bool(fields.get("isActive", 1))),
            createDate="2025-01-01T00:00:00Z",
            lastModifiedDate="2025-01-01T00:00:00Z",
        )
        self.contacts[record["id"]] = record
        return record
