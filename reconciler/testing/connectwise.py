"""Test helpers: a ConnectWise Manage simulator (companies and their contacts).

Speaks the wire format of APIS.md section 6, checked against an extract of the
public OpenAPI document in tests/data/connectwise/:

- `GET /login/companyinfo/{companyId}` (anonymous) names the codebase;
- `/{codebase}apis/3.0/company/contacts` GET (conditions, childConditions,
  fields, orderBy id, page/pageSize up to 1000 with a `Link` header) and POST;
  `company/contacts/{id}` GET and PATCH (JSON Patch, connectwise_patch.py);
- Basic auth `companyId+publicKey:privateKey` and a `clientId` header on every
  API call; errors as `{"code","message","errors":[...]}`, except 429 whose
  body is plain text (the real 429 body differs from the other errors).

Conditions support `=`, `!=`, `<`, `<=`, `>`, `>=`, `like` (`*` wildcard) and
`contains` on strings (compared case-insensitively, as the real server does),
numbers, true/false/null, with AND, OR and parentheses. A string literal is in
double quotes; a backslash escapes the next character.
"""

from __future__ import annotations

import base64
import fnmatch
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from reconciler.testing.connectwise_patch import error as _error
from reconciler.testing.connectwise_patch import patch_contact
from reconciler.testing.connectwise_tickets import TicketDesk
from reconciler.testing.httpsim import SimRequest, SimResponse, Simulator, TestCA

CODEBASE = "v4_6_release/"
API_PREFIX = f"/{CODEBASE}apis/3.0/"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 25
COMMUNICATION_TYPES = {"Email": 1, "Direct": 2, "Cell": 3, "Fax": 4}
TOP_LEVEL_FIELDS = frozenset(
    {
        "id",
        "firstName",
        "lastName",
        "company",
        "inactiveFlag",
        "title",
        "integratorTags",
        "communicationItems",
        "defaultFlag",
    }
)
CHILD_FIELDS = frozenset({"communicationItems"})


class ConditionError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- conditions ------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<paren>[()])
      | (?P<word>[A-Za-z0-9_./\-:]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Any, ...]


def parse_conditions(text: str) -> Comparison | BoolOp:
    tokens = _tokenize(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise ConditionError("unexpected end of conditions")
        pos += 1
        return tokens[pos - 1]

    def expr() -> Comparison | BoolOp:
        items = [term()]
        while (t := peek()) is not None and t == ("word", "or"):
            take()
            items.append(term())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def term() -> Comparison | BoolOp:
        items = [factor()]
        while (t := peek()) is not None and t == ("word", "and"):
            take()
            items.append(factor())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def factor() -> Comparison | BoolOp:
        kind, value = take()
        if (kind, value) == ("paren", "("):
            inner = expr()
            if take() != ("paren", ")"):
                raise ConditionError("missing closing parenthesis")
            return inner
        if kind != "field":
            raise ConditionError(f"expected a field name, got {value!r}")
        field = value
        kind, op = take()
        if kind == "op" or (kind == "word" and op in ("like", "contains")):
            pass
        elif kind == "word" and op == "not" and peek() == ("word", "like"):
            take()
            op = "not like"
        else:
            raise ConditionError(f"expected an operator after {field}", field)
        return Comparison(field, op, literal())

    def literal() -> Any:
        kind, value = take()
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind in ("word", "field"):
            low = value.lower()
            if low in ("true", "false"):
                return low == "true"
            if low == "null":
                return None
            try:
                return int(value)
            except ValueError:
                pass
            try:
                return float(value)
            except ValueError:
                pass
        raise ConditionError(f"unquoted value {value!r} (strings must be in double quotes)")

    tree = expr()
    if pos != len(tokens):
        raise ConditionError(f"unexpected {tokens[pos][1]!r}")
    return tree


def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ConditionError(f"cannot read conditions at {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "word":
            low = value.lower()
            if low in ("and", "or", "like", "contains", "not"):
                out.append(("word", low))
                continue
            prev = out[-1] if out else None
            # a word right after an operator is a value; otherwise it is a field
            if prev is not None and (prev[0] == "op" or prev in (("word", "like"), ("word", "contains"))):
                out.append(("word", value))
            else:
                out.append(("field", value))
        else:
            out.append((kind, value))
    return out


def evaluate(
    tree: Comparison | BoolOp, record: dict[str, Any], prefix: str = "", fields: frozenset[str] | None = None
) -> bool:
    """`fields`: the top-level fields a condition may name (default: a contact's)."""
    if isinstance(tree, BoolOp):
        results = (evaluate(item, record, prefix, fields) for item in tree.items)
        return all(results) if tree.op == "and" else any(results)
    path = tree.field
    if prefix:
        if not path.startswith(prefix + "/"):
            raise ConditionError(f"{path} is not a field of {prefix}", path)
        path = path[len(prefix) + 1 :]
    elif path.split("/")[0] not in (fields if fields is not None else TOP_LEVEL_FIELDS - CHILD_FIELDS):
        raise ConditionError(
            f"{path} is not a field of {'contact' if fields is None else 'this record'}", path
        )
    value: Any = record
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return _compare(value, tree.op, tree.value)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        a, e = actual.lower(), expected.lower()
        if op in ("like", "not like"):
            hit = fnmatch.fnmatchcase(a, e.replace("%", "*"))
            return hit if op == "like" else not hit
        if op == "contains":
            return e in a
        actual, expected = a, e
    if op == "=":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    if actual is None or expected is None:
        return False
    try:
        if op == "<":
            return bool(actual < expected)
        if op == "<=":
            return bool(actual <= expected)
        if op == ">":
            return bool(actual > expected)
        if op == ">=":
            return bool(actual >= expected)
    except TypeError:
        return False
    raise ConditionError(f"operator {op} does not apply here")


# --- the simulator ---------------------------------------------------------------------


class ConnectWiseSimulator(Simulator):
    def __init__(
        self,
        ca: TestCA | None = None,
        *,
        company_id: str = "msp",
        public_key: str = "pub-key",
        private_key: str = "priv-key",
        client_id: str = "00000000-0000-0000-0000-00000000c11d",
    ) -> None:
        super().__init__(ca)
        self.company_id = company_id
        self.public_key = public_key
        self.private_key = private_key
        self.client_id = client_id
        self.companies: dict[int, dict[str, Any]] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self._next_id = 1000
        self._version = 0  # bumped on every change, so cached query results go stale
        self._query_cache: dict[tuple[Any, Any], tuple[int, list[dict[str, Any]]]] = {}
        self.desk = TicketDesk()  # service tickets (reconciler.testing.connectwise_tickets)

    # --- seeding and inspection -------------------------------------------------------
    def add_company(self, company_id: int, name: str, identifier: str | None = None) -> None:
        with self._lock:
            self.companies[company_id] = {
                "id": company_id,
                "identifier": identifier or re.sub(r"\W", "", name)[:30],
                "name": name,
            }

    def add_contact(
        self,
        company_id: int,
        first_name: str,
        last_name: str | None = None,
        emails: tuple[str, ...] | list[str] = (),
        *,
        inactive: bool = False,
        integrator_tags: tuple[str, ...] | list[str] = (),
    ) -> dict[str, Any]:
        items = [{"type": {"name": "Email"}, "value": e, "communicationType": "Email"} for e in emails]
        body: dict[str, Any] = {
            "firstName": first_name,
            "company": {"id": company_id},
            "communicationItems": items,
        }
        if last_name is not None:
            body["lastName"] = last_name
        if integrator_tags:
            body["integratorTags"] = list(integrator_tags)
        record = self._store(body)
        with self._lock:
            record["inactiveFlag"] = inactive
            self._version += 1
        return record

    def contacts_of(self, company_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.contacts.values() if c["company"]["id"] == company_id]

    # --- HTTP -------------------------------------------------------------------------
    def error_response(self, status: int, retry_after: str | None) -> SimResponse:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        if status == 429:
            return SimResponse(429, b"Too many requests; retry later.", headers, content_type="text/plain")
        return SimResponse(
            status, _error("ServerError" if status >= 500 else "InvalidRequest", "injected fault"), headers
        )

    def handle(self, request: SimRequest) -> SimResponse:
        m = re.fullmatch(r"/login/companyinfo/([^/]+)", request.path)
        if m and request.method == "GET":
            if m.group(1).lower() != self.company_id.lower():
                return SimResponse(404, _error("NotFound", "Company not found"))
            return SimResponse(
                200,
                {
                    "CompanyName": "Simulated MSP",
                    "Codebase": CODEBASE,
                    "VersionCode": "v2025.1",
                    "VersionNumber": "v4.6.00000",
                    "CompanyID": self.company_id,
                    "IsCloud": True,
                    "SiteUrl": self.url.split("://", 1)[1],
                },
            )
        if not request.path.startswith(API_PREFIX):
            return SimResponse(404, _error("NotFound", "Not found"))
        problem = self._auth_problem(request)
        if problem is not None:
            return SimResponse(401, _error("Unauthorized", problem))
        path = request.path[len(API_PREFIX) :]
        if path == "company/contacts" and request.method == "GET":
            return self._list(request)
        if path == "company/contacts" and request.method == "POST":
            return self._create(request)
        if (m := re.fullmatch(r"company/contacts/(\d+)", path)) and request.method in ("GET", "PATCH"):
            with self._lock:
                record = self.contacts.get(int(m.group(1)))
                if record is None:
                    return SimResponse(404, _error("NotFound", f"contact {m.group(1)} not found"))
                if request.method == "GET":
                    return SimResponse(200, dict(record))
                self._version += 1
                return patch_contact(record, request)
        if path.startswith(("service/tickets", "service/boards")):
            try:
                return self.desk.handle(request, path, self.companies, parse_conditions, evaluate)
            except ConditionError as exc:
                return SimResponse(400, _error("InvalidRequest", str(exc), exc.field))
        return SimResponse(404, _error("NotFound", f"{request.method} {path} is not simulated"))

    def _auth_problem(self, request: SimRequest) -> str | None:
        expected = base64.b64encode(
            f"{self.company_id}+{self.public_key}:{self.private_key}".encode()
        ).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return "Access is denied: bad credentials"
        if request.headers.get("clientid") != self.client_id:
            return "A valid clientId header is required"
        return None

    def _list(self, request: SimRequest) -> SimResponse:
        try:
            raw, raw_child = request.q("conditions"), request.q("childConditions")
            conditions = parse_conditions(raw) if raw else None
            child = parse_conditions(raw_child) if raw_child else None
            page = int(request.q("page") or 1)
            size = min(int(request.q("pageSize") or DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        except ConditionError as exc:
            return SimResponse(400, _error("InvalidRequest", str(exc), exc.field))
        except ValueError:
            return SimResponse(400, _error("InvalidRequest", "page and pageSize must be numbers"))
        if page < 1 or size < 1:
            return SimResponse(400, _error("InvalidRequest", "page and pageSize must be positive"))
        try:
            hits = self._hits(raw, raw_child, conditions, child)
        except ConditionError as exc:
            return SimResponse(400, _error("InvalidRequest", str(exc), exc.field))
        chunk = hits[(page - 1) * size : page * size]
        fields = [f.split("/")[0] for f in (request.q("fields") or "").split(",") if f.strip()]
        body = [{k: v for k, v in r.items() if not fields or k in fields} for r in chunk]
        last = max(1, -(-len(hits) // size))
        headers = {}
        if page < last:
            headers["Link"] = (
                f'<{self._page_url(request, page + 1)}>; rel="next", <{self._page_url(request, last)}>; rel="last"'
            )
        return SimResponse(200, body, headers)

    def _hits(self, raw: Any, raw_child: Any, conditions: Any, child: Any) -> list[dict[str, Any]]:
        """Matching contacts in id order; kept between the pages of one listing."""
        key = (raw, raw_child)
        with self._lock:
            cached = self._query_cache.get(key)
            if cached is not None and cached[0] == self._version:
                return cached[1]
            version, records = self._version, sorted(self.contacts.values(), key=lambda c: c["id"])
        hits = [
            r
            for r in records
            if (conditions is None or evaluate(conditions, r))
            and (
                child is None
                or any(evaluate(child, item, "communicationItems") for item in r["communicationItems"])
            )
        ]
        with self._lock:
            if len(self._query_cache) > 16:
                self._query_cache.clear()
            self._query_cache[key] = (version, hits)
        return hits

    def _page_url(self, request: SimRequest, page: int) -> str:
        query = {k: v[0] for k, v in request.query.items()}
        query["page"] = str(page)
        return f"{self.url}{request.path}?{urlencode(query)}"

    def _create(self, request: SimRequest) -> SimResponse:
        try:
            body = request.json()
        except ValueError:
            return SimResponse(400, _error("InvalidRequest", "body is not JSON"))
        if not isinstance(body, dict):
            return SimResponse(400, _error("InvalidObject", "contact object is invalid"))
        errors = self._validate(body)
        if errors:
            return SimResponse(
                400,
                {
                    "code": "InvalidObject",
                    "message": "contact object is invalid",
                    "errors": [
                        {"code": code, "message": msg, "resource": "contact", "field": field}
                        for code, field, msg in errors
                    ],
                },
            )
        return SimResponse(201, self._store(body))

    def _validate(self, body: dict[str, Any]) -> list[tuple[str, str, str]]:
        errors: list[tuple[str, str, str]] = []
        unknown = sorted(set(body) - TOP_LEVEL_FIELDS - {"_info"})
        errors += [("InvalidField", k, f"{k} is not a field of contact") for k in unknown]
        if not isinstance(body.get("firstName"), str) or not body["firstName"].strip():
            errors.append(("NullValue", "firstName", "firstName may not be null"))
        for name in ("firstName", "lastName"):
            if isinstance(body.get(name), str) and len(body[name]) > 30:
                errors.append(("InvalidField", name, f"{name} max length is 30"))
        company = body.get("company")
        company_id = company.get("id") if isinstance(company, dict) else None
        with self._lock:
            if company_id not in self.companies:
                errors.append(("InvalidField", "company", f"company {company_id} not found"))
        for item in body.get("communicationItems") or ():
            kind = (item.get("type") or {}).get("name") if isinstance(item, dict) else None
            if kind not in COMMUNICATION_TYPES:
                errors.append(("InvalidField", "communicationItems", f"communication type {kind} not found"))
            elif kind == "Email" and not re.fullmatch(
                r"[^@\s]+@[^@\s]+\.[^@\s]+", str(item.get("value", ""))
            ):
                errors.append(("InvalidField", "communicationItems", "email address is not valid"))
        tags = body.get("integratorTags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errors.append(("InvalidField", "integratorTags", "integratorTags must be a list of strings"))
        return errors

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            self._version += 1
            cid = body["company"]["id"]
            company = self.companies.setdefault(
                cid, {"id": cid, "identifier": f"C{cid}", "name": f"Company {cid}"}
            )
            items = []
            for n, item in enumerate(body.get("communicationItems") or ()):
                name = item["type"]["name"]
                items.append(
                    {
                        "id": self._next_id * 10 + n,
                        "type": {"id": COMMUNICATION_TYPES[name], "name": name},
                        "value": item["value"],
                        "defaultFlag": bool(item.get("defaultFlag", n == 0)),
                        "communicationType": "Email"
                        if name == "Email"
                        else ("Fax" if name == "Fax" else "Phone"),
                    }
                )
            record = {
                "id": self._next_id,
                "firstName": body["firstName"],
                "lastName": body.get("lastName"),
                "company": dict(company),
                "inactiveFlag": False,
                "title": body.get("title"),
                "defaultFlag": False,
                "communicationItems": items,
                "integratorTags": list(body.get("integratorTags") or []),
                "_info": {"lastUpdated": "2025-01-01T00:00:00Z", "updatedBy": self.public_key},
            }
            record = {k: v for k, v in record.items() if v is not None}  # the real API omits nulls
            self.contacts[record["id"]] = record
            return record
