"""Test helpers: a Microsoft Graph + identity platform simulator on loopback (HTTPS).

One server plays both hosts, as the real clients call them:

    GET  /{tenant}/v2.0/.well-known/openid-configuration     OIDC discovery (MSAL)
    POST /{tenant}/oauth2/v2.0/token                          client credentials:
                                                              client_secret or a
                                                              certificate-signed assertion
    GET  /v1.0/users                  $select, $top (<= 999), $filter, $count, nextLink paging
    GET  /v1.0/users/delta            initial round, $deltatoken=latest, deltaLink, @removed,
                                      410 after a sync reset, 400 syncStateNotFound when expired
    GET  /v1.0/users/{id}
    GET  /v1.0/groups/{id}/members    and /transitiveMembers, items carry @odata.type
    GET  /v1.0/groups, /groups/{id}, /groups/{id}/transitiveMembers/microsoft.graph.user,
         /groups/delta, /roleManagement/directory/roleAssignments (and
         roleEligibilityScheduleInstances), /subscribedSkus: see `graph_groups.py`

Point a GraphConnection at it with `authorityHost` and `graphUrl` both set to
`sim.url`, and `caFile` to the simulator's test CA. Error bodies follow Graph
(`{"error": {"code", "message", "innerError"}}`) and the identity platform
(`{"error", "error_description": "AADSTS...", "error_codes"}`).

Faults come from the base class (`sim.faults`): 429 with Retry-After, 5xx,
slow answers, dropped connections; `GraphSimulator.invalid_secret_fault()` makes
the next token request fail as a wrong client secret does.

Where the real behaviour is not documented the simulator picks something
plausible and says UNCONFIRMED: the delta page size (100), the body of a 410.
"""

from __future__ import annotations

import bisect
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from reconciler.testing.graph_directory import (
    DEFAULT_USER_SELECT,
    GROUP_PROPERTIES,
    USER_PROPERTIES,
    Directory,
    Tenant,
)
from reconciler.testing.graph_filter import FilterError, Predicate, parse_filter
from reconciler.testing.graph_groups import GroupRoutes
from reconciler.testing.graph_identity import (
    DEFAULT_CLIENT_ID,
    IdentityPlatform,
    invalid_secret_fault,
    now_iso,
)
from reconciler.testing.httpsim import Fault, SimRequest, SimResponse, Simulator, TestCA

MAX_TOP = 999
DEFAULT_TOP = 100
DELTA_PAGE_SIZE = 100  # UNCONFIRMED: Graph chooses the delta page size itself
DELTA_TOKEN_LIFETIME = 7 * 24 * 3600  # seven days for directory objects (Graph blog, 2020-07)

_ERROR_CODES = {
    429: ("TooManyRequests", "Too many requests"),
    500: ("generalException", "General exception while processing"),
    502: ("BadGateway", "Bad gateway"),
    503: ("serviceNotAvailable", "Service is temporarily unavailable"),
    504: ("UnknownError", "Gateway timeout"),
}


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> SimResponse:
    request_id = str(uuid.uuid4())
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": now_iso(), "request-id": request_id, "client-request-id": request_id},
        }
    }
    return SimResponse(status, body, {"request-id": request_id, **(headers or {})})


@dataclass
class _Cursor:
    """Server-side state behind an opaque $skiptoken / $deltatoken."""

    kind: str  # "page" (/users listing), "initial" / "changes" (delta round), "delta" (deltaLink)
    tenant: str
    select: tuple[str, ...]
    issued: float
    generation: int
    since: int = 0  # deltatoken: changes after this sequence number
    after: str = ""  # skiptoken of a listing: last key served
    items: tuple[tuple[str, str | None], ...] = ()  # change round: (id, removal reason) still to serve
    anchor: int = 0  # change round: sequence number the next deltaLink starts from
    query: str = ""  # the query a skiptoken belongs to


class GraphSimulator(Simulator):
    """Graph + identity platform for tests and benchmarks; see the module docstring."""

    def __init__(
        self,
        ca: TestCA,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str | None = None,
        tenants: tuple[str, ...] = (),
        delta_page_size: int = DELTA_PAGE_SIZE,
        token_lifetime: int = 3599,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ca)
        self.directory = Directory()
        self.identity = IdentityPlatform(client_id, client_secret, token_lifetime, clock)
        self.delta_page_size = delta_page_size
        self.clock = clock
        self.expired_status = 400  # the status of an expired delta token's syncStateNotFound
        self._cursors: dict[str, _Cursor] = {}
        self._state_lock = threading.Lock()
        self.group_routes = GroupRoutes(self)
        for tenant in tenants:
            self.directory.add_tenant(tenant)

    # --- set-up helpers (the directory's methods, for convenience) --------------------
    def add_tenant(self, tenant_id: str, *, consented: bool = True) -> Tenant:
        return self.directory.add_tenant(tenant_id, consented=consented)

    def seed(self, tenant_id: str, count: int, **kw: Any) -> list[str]:
        return self.directory.seed(tenant_id, count, **kw)

    def add_user(self, tenant_id: str, upn: str, **fields: Any) -> str:
        return self.directory.add_user(tenant_id, upn, **fields)

    def update_user(self, tenant_id: str, user_id: str, **fields: Any) -> None:
        self.directory.update_user(tenant_id, user_id, **fields)

    def remove_user(self, tenant_id: str, user_id: str, reason: str = "deleted") -> None:
        self.directory.remove_user(tenant_id, user_id, reason)

    def add_group(self, tenant_id: str, name: str, member_ids: list[str] | tuple[str, ...] = ()) -> str:
        return self.directory.add_group(tenant_id, name, member_ids)

    def add_certificate(self) -> tuple[str, str]:
        """Register a new certificate on the app; returns (private key PEM, SHA-1 thumbprint)."""
        return self.identity.add_certificate()

    def reset_delta(self, tenant_id: str) -> None:
        """Every delta token issued so far answers 410 Gone (Graph's synchronization reset)."""
        with self.directory.lock:
            self.directory.tenant(tenant_id).generation += 1

    def expire_delta_tokens(self, status: int = 400) -> None:
        """Every delta token issued so far is past its lifetime (`status` syncStateNotFound:
        Graph documents 400; other 40X codes have been seen and mean the same)."""
        self.expired_status = status
        with self._state_lock:
            for cursor in self._cursors.values():
                cursor.issued -= DELTA_TOKEN_LIFETIME + 1

    @staticmethod
    def invalid_secret_fault() -> Fault:
        """Queue with `path_prefix="/<tenant>/oauth2"`: the next token request fails as a
        wrong client secret does."""
        return invalid_secret_fault()

    # --- routing ------------------------------------------------------------------------
    def error_response(self, status: int, retry_after: str | None) -> SimResponse:
        code, message = _ERROR_CODES.get(status, ("UnknownError", f"HTTP {status}"))
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return graph_error(status, code, message, headers)

    def handle(self, request: SimRequest) -> SimResponse:
        parts = [p for p in request.path.split("/") if p]
        if parts and parts[0] == "v1.0":
            return self._graph(request, parts[1:])
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return self.identity.discovery(self.url, parts[0], parts[0] in self.directory.tenants)
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"] and request.method == "POST":
            tenant = self.directory.tenants.get(parts[0])
            return self.identity.token(
                request, self.url, parts[0], None if tenant is None else tenant.consented
            )
        return SimResponse(404, {"error": "not_found"})

    # --- Graph ----------------------------------------------------------------------------
    def _graph(self, request: SimRequest, parts: list[str]) -> SimResponse:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        tenant_id, why = self.identity.tenant_of(auth[len("Bearer ") :])
        if tenant_id is None:
            return graph_error(401, "InvalidAuthenticationToken", why)
        if request.method != "GET":
            return graph_error(405, "Request_BadRequest", "The simulator only reads.")
        routed = self.group_routes.handle(request, tenant_id, parts)
        if routed is not None:
            return routed
        if parts == ["users"]:
            return self._list_users(request, tenant_id)
        if parts in (["users", "delta"], ["users", "delta()"], ["users", "microsoft.graph.delta()"]):
            return self._delta(request, tenant_id)
        if len(parts) == 2 and parts[0] == "users":
            return self._get_user(request, tenant_id, parts[1])
        if len(parts) == 3 and parts[0] == "groups" and parts[2] in ("members", "transitiveMembers"):
            return self._members(request, tenant_id, parts[1], transitive=parts[2] == "transitiveMembers")
        return graph_error(
            400, "BadRequest", f"Resource not found for the segment '{parts[-1] if parts else ''}'."
        )

    def _select(
        self, request: SimRequest, allowed: tuple[str, ...], default: tuple[str, ...]
    ) -> tuple[str, ...]:
        raw = request.q("$select")
        if not raw:
            return default
        by_lower = {name.lower(): name for name in allowed}
        out: list[str] = []
        for name in (part.strip() for part in raw.split(",")):
            canonical = by_lower.get(name.lower())
            if canonical is None:
                raise _BadQuery(
                    graph_error(
                        400,
                        "Request_BadRequest",
                        f"Could not find a property named '{name}' on type 'microsoft.graph.user'.",
                    )
                )
            if canonical not in out:
                out.append(canonical)
        if "id" not in out:
            out.append("id")
        return tuple(out)

    def _context(self, entity: str, select: tuple[str, ...]) -> str:
        return f"{self.url}/v1.0/$metadata#{entity}({','.join(select)})"

    def _new_cursor(self, cursor: _Cursor) -> str:
        token = secrets.token_urlsafe(24)
        with self._state_lock:
            self._cursors[token] = cursor
        return token

    def _cursor(self, token: str | None, kind: str) -> _Cursor | None:
        if not token:
            return None
        with self._state_lock:
            cursor = self._cursors.get(token)
        return cursor if cursor is not None and cursor.kind == kind else None

    def _list_users(self, request: SimRequest, tenant_id: str) -> SimResponse:
        try:
            select = self._select(request, USER_PROPERTIES, DEFAULT_USER_SELECT)
            top = self._top(request)
            matches = self._query(request)
        except _BadQuery as bad:
            return bad.response
        pairs = sorted((k, v[0]) for k, v in request.query.items() if k != "$skiptoken")
        query = urlencode(pairs, safe="$,()'/:")
        skip = request.q("$skiptoken")
        cursor = self._cursor(skip, "page")
        if skip and (cursor is None or cursor.query != query or cursor.tenant != tenant_id):
            return graph_error(400, "Request_BadRequest", "Invalid skip token.")
        ids = self.directory.sorted_ids(tenant_id)
        hits: list[str] = []
        with self.directory.lock:
            users = self.directory.tenant(tenant_id).users
            for user_id in ids[bisect.bisect_right(ids, cursor.after if cursor else "") :]:
                if matches(users[user_id]):
                    hits.append(user_id)
                    if len(hits) > top:
                        break
            page = [_pick(users[u], select) for u in hits[:top]]
            count = sum(1 for u in users.values() if matches(u)) if request.q("$count") == "true" else None
        body: dict[str, Any] = {"@odata.context": self._context("users", select)}
        if count is not None:
            body["@odata.count"] = count
        body["value"] = page
        if len(hits) > top:
            nxt = _Cursor("page", tenant_id, select, self.clock(), 0, after=hits[top - 1], query=query)
            body["@odata.nextLink"] = f"{self.url}/v1.0/users?{query}&$skiptoken={self._new_cursor(nxt)}"
        return SimResponse(200, body)

    def _top(self, request: SimRequest) -> int:
        raw = request.q("$top")
        if raw is None:
            return DEFAULT_TOP
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP:
            message = f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_TOP} inclusive."
            raise _BadQuery(graph_error(400, "Request_BadRequest", message))
        return int(raw)

    def _query(self, request: SimRequest) -> Predicate:
        """$filter / $search / $count / $orderby, with Graph's advanced-query rules:
        advanced queries need `ConsistencyLevel: eventual` and `$count=true`, on every page."""
        filter_text = request.q("$filter") or ""
        try:
            advanced, matches = parse_filter(filter_text)
        except FilterError as exc:
            raise _BadQuery(graph_error(400, "Request_UnsupportedQuery", str(exc))) from None
        count, search = request.q("$count"), request.q("$search")
        advanced = advanced or count is not None or search is not None
        advanced = advanced or (request.q("$orderby") is not None and bool(filter_text))
        eventual = request.headers.get("consistencylevel", "").lower() == "eventual"
        if advanced and not (eventual and count == "true"):
            message = (
                "Unsupported Query. Advanced queries need the ConsistencyLevel header set to "
                "'eventual' and $count=true."
            )
            raise _BadQuery(graph_error(400, "Request_UnsupportedQuery", message))
        if not search:
            return matches
        term = search.strip('"').split(":", 1)[-1].lower()
        return lambda user: matches(user) and term in str(user.get("displayName") or "").lower()

    def _get_user(self, request: SimRequest, tenant_id: str, user_id: str) -> SimResponse:
        try:
            select = self._select(request, USER_PROPERTIES, DEFAULT_USER_SELECT)
        except _BadQuery as bad:
            return bad.response
        with self.directory.lock:
            users = self.directory.tenant(tenant_id).users
            by_upn = (u for u in users.values() if u["userPrincipalName"].lower() == user_id.lower())
            user = users.get(user_id) or next(by_upn, None)
            if user is None:
                return _not_found(user_id)
            context = self._context("users", select) + "/$entity"
            return SimResponse(200, {"@odata.context": context, **_pick(user, select)})

    # --- delta ----------------------------------------------------------------------------
    def _delta(self, request: SimRequest, tenant_id: str) -> SimResponse:
        for param in ("$top", "$orderby", "$search", "$count", "$expand"):
            if request.q(param) is not None:
                message = f"Unsupported query option '{param}' on delta."
                return graph_error(400, "Request_UnsupportedQuery", message)
        if not (request.q("$filter") or "id eq").startswith("id eq"):
            return graph_error(400, "Request_UnsupportedQuery", "Delta only supports filtering by id.")
        tenant = self.directory.tenant(tenant_id)
        delta_token, skip_token = request.q("$deltatoken"), request.q("$skiptoken")
        if skip_token is None and delta_token in (None, "latest"):
            try:
                select = self._select(request, USER_PROPERTIES, USER_PROPERTIES)
            except _BadQuery as bad:
                return bad.response
            with self.directory.lock:
                seq, generation = tenant.seq, tenant.generation
            if delta_token == "latest":  # "sync from now": no data, just a deltaLink
                latest = _Cursor("delta", tenant_id, select, self.clock(), generation, since=seq)
                return self._delta_page(select, [], delta=latest)
            return self._delta_round(
                _Cursor("initial", tenant_id, select, self.clock(), generation, anchor=seq)
            )
        if delta_token is not None:
            cursor = self._cursor(delta_token, "delta")
        else:
            cursor = self._cursor(skip_token, "initial") or self._cursor(skip_token, "changes")
        if cursor is None or cursor.tenant != tenant_id:
            return graph_error(400, "syncStateNotFound", "The sync state generation is not found.")
        if cursor.generation != tenant.generation:
            # UNCONFIRMED: the body of a 410; clients must only rely on the status
            message = "The delta token is no longer valid; a full resync is required."
            return graph_error(410, "resyncRequired", message)
        if cursor.kind == "delta":
            if self.clock() - cursor.issued > DELTA_TOKEN_LIFETIME:
                message = (
                    "The sync state generation is not found. The delta token is expired and data "
                    "must be synchronized again."
                )
                return graph_error(self.expired_status, "syncStateNotFound", message)
            with self.directory.lock:
                changes = tuple(self.directory.changes_since(tenant_id, cursor.since))
                anchor = tenant.seq
            cursor = _Cursor(
                "changes",
                tenant_id,
                cursor.select,
                self.clock(),
                cursor.generation,
                items=changes,
                anchor=anchor,
            )
        return self._delta_round(cursor)

    def _delta_round(self, cursor: _Cursor) -> SimResponse:
        """One page of a round: the current users (initial round, in id order) or the
        changes (current state of each changed user, @removed for the gone)."""
        size = self.delta_page_size
        page: list[dict[str, Any]] = []
        nxt: _Cursor | None = None
        with self.directory.lock:
            users = self.directory.tenant(cursor.tenant).users
            if cursor.kind == "initial":
                ids = self.directory.sorted_ids(cursor.tenant)
                todo = ids[bisect.bisect_right(ids, cursor.after) :]
                page = [_pick(users[u], cursor.select) for u in todo[:size]]
                if len(todo) > size:
                    nxt = replace(cursor, after=todo[size - 1])
            else:
                for user_id, reason in cursor.items[:size]:
                    if reason is not None:
                        page.append({"id": user_id, "@removed": {"reason": reason}})
                    elif user_id in users:  # else removed meanwhile: reported in the next round
                        page.append(_pick(users[user_id], cursor.select))
                if len(cursor.items) > size:
                    nxt = replace(cursor, items=cursor.items[size:])
        if nxt is not None:
            return self._delta_page(cursor.select, page, nxt=nxt)
        done = _Cursor(
            "delta", cursor.tenant, cursor.select, self.clock(), cursor.generation, since=cursor.anchor
        )
        return self._delta_page(cursor.select, page, delta=done)

    def _delta_page(
        self,
        select: tuple[str, ...],
        page: list[dict[str, Any]],
        *,
        nxt: _Cursor | None = None,
        delta: _Cursor | None = None,
    ) -> SimResponse:
        body: dict[str, Any] = {"@odata.context": self._context("users", select), "value": page}
        if nxt is not None:
            body["@odata.nextLink"] = f"{self.url}/v1.0/users/delta?$skiptoken={self._new_cursor(nxt)}"
        if delta is not None:
            body["@odata.deltaLink"] = f"{self.url}/v1.0/users/delta?$deltatoken={self._new_cursor(delta)}"
        return SimResponse(200, body)

    # --- groups ---------------------------------------------------------------------------
    def _members(
        self, request: SimRequest, tenant_id: str, group_id: str, *, transitive: bool
    ) -> SimResponse:
        with self.directory.lock:
            if group_id not in self.directory.tenant(tenant_id).groups:
                return _not_found(group_id)
        try:
            properties = USER_PROPERTIES + GROUP_PROPERTIES
            select = self._select(request, properties, properties)
            top = self._top(request)
        except _BadQuery as bad:
            return bad.response
        read = self.directory.transitive_members if transitive else self.directory.direct_members
        listing = read(tenant_id, group_id)
        skip = request.q("$skiptoken")
        cursor = self._cursor(skip, "members")
        if skip and (cursor is None or cursor.query != group_id):
            return graph_error(400, "Request_BadRequest", "Invalid skip token.")
        start = int(cursor.after) if cursor else 0
        page = [{"@odata.type": kind, **_pick(obj, select)} for kind, obj in listing[start : start + top]]
        body: dict[str, Any] = {
            "@odata.context": f"{self.url}/v1.0/$metadata#directoryObjects",
            "value": page,
        }
        if start + top < len(listing):
            nxt = _Cursor(
                "members", tenant_id, select, self.clock(), 0, after=str(start + top), query=group_id
            )
            query = urlencode([(k, v[0]) for k, v in request.query.items() if k != "$skiptoken"], safe="$,")
            path = f"groups/{group_id}/{'transitiveMembers' if transitive else 'members'}"
            sep = "&" if query else ""
            body["@odata.nextLink"] = f"{self.url}/v1.0/{path}?{query}{sep}$skiptoken={self._new_cursor(nxt)}"
        return SimResponse(200, body)


class _BadQuery(Exception):
    def __init__(self, response: SimResponse) -> None:
        self.response = response


def _pick(obj: dict[str, Any], select: tuple[str, ...]) -> dict[str, Any]:
    return {name: obj[name] for name in select if name in obj}


def _not_found(object_id: str) -> SimResponse:
    message = f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present."
    return graph_error(404, "Request_ResourceNotFound", message)


__all__ = ["DEFAULT_CLIENT_ID", "Fault", "GraphSimulator", "TestCA", "graph_error"]
