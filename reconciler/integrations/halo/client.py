"""Live stage: the users of one customer's client in Halo PSA (R14, R24).

Wire format (APIS.md section 9; from maintained open-source clients, unconfirmed
by Halo's own docs):
- OAuth client credentials: `POST {authUrl}/token` (`?tenant=` for hosted
  instances), form `grant_type=client_credentials`, `client_id`, `client_secret`,
  `scope` (`all`); the token is cached per application until shortly before it
  expires, shared by every customer, and fetched again once if the API says 401;
- `GET {baseUrl}/api/Users?client_id=N&includeinactive=true` with Halo's paging
  (`pageinate=true`, `page_size`, `page_no` from 1) -> `{"record_count", "users"}`;
- `POST {baseUrl}/api/Users` with a JSON array of one user (`name`, `firstname`,
  `surname`, `emailaddress`, `site_id`, `notes`); the answer is the saved user or a
  list of them. A user belongs to a site: the client's only site, or the one named
  `siteName` (default Main).

Matching is R14's (email, then first + last name) and several matches are a
conflict (R18); the product we model silently takes the first of them (R24).

Marker: a user we create carries `marker_text(marker)` in `notes`, returned with
the user. A create whose answer is lost is not blindly sent again: we first
search the client's users by email (or surname) and look for our marker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Hashable, Mapping
from pathlib import Path
from typing import Any

import httpx

from reconciler.config.secretpaths import SecretRoots
from reconciler.core.model import IntegrationKind, NewContact, PsaContact, marker_text, parse_marker
from reconciler.errors import ProviderError
from reconciler.integrations.halo.spec import FACTS, HaloConnection
from reconciler.integrations.kinds import RecordField
from reconciler.providers.base import ProviderContext
from reconciler.providers.http import HttpApi, RetryPolicy, build_client, connect_api
from reconciler.providers.paging import Page, paginate
from reconciler.providers.tlsauth import key_fingerprint
from reconciler.providers.writes import create_once
from reconciler.secrets import resolve

log = logging.getLogger("reconciler.halo")

TOKEN_MARGIN = 60.0  # fetch a new token this long before the old one expires
MAX_CREATE_ATTEMPTS = 3


def halo_error(body: Any) -> str | None:
    """Halo's error bodies: plain text, or `{"error", "error_description"}` (tokens),
    or `{"message"}` / `{"Message"}` (unconfirmed)."""
    if isinstance(body, str):
        return body.strip() or None
    if not isinstance(body, dict):
        return None
    for key in ("error_description", "message", "Message", "error"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class _TokenCache:
    """Access tokens by application (auth URL, tenant, client id, secret fingerprint)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def get(self, account: str, fetch: Callable[[], tuple[str, float]], refresh: bool = False) -> str:
        with self._lock:  # held while fetching, so concurrent customers fetch once
            cached = self._tokens.get(account)
            if cached is not None and not refresh and cached[1] - TOKEN_MARGIN > time.monotonic():
                return cached[0]
            token, lifetime = fetch()
            self._tokens[account] = (token, time.monotonic() + lifetime)
            return token


_TOKENS = _TokenCache()


class HaloAuth(httpx.Auth):
    """Bearer token from the client-credentials grant; one fresh token on a 401."""

    def __init__(self, api: HttpApi, conn: HaloConnection, secret: str, account: str) -> None:
        self._api, self._conn, self._secret, self._account = api, conn, secret, account

    def _fetch(self) -> tuple[str, float]:
        conn = self._conn
        url = (conn.auth_url or conn.base_url.rstrip("/") + "/auth").rstrip("/") + "/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": conn.client_id,
            "client_secret": self._secret,
            "scope": conn.scope,
        }
        params = {"tenant": conn.tenant} if conn.tenant else None
        body = self._api.post_json(url, data=form, params=params)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ProviderError(self._api.where, "the token endpoint answered without an access_token")
        lifetime = body.get("expires_in")
        return token, float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 3600.0

    def token(self, refresh: bool = False) -> str:
        return _TOKENS.get(self._account, self._fetch, refresh)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        response = yield request
        if response.status_code == 401:  # expired or revoked early: one fresh token
            request.headers["Authorization"] = f"Bearer {self.token(refresh=True)}"
            yield request

    def __repr__(self) -> str:
        return "HaloAuth(**********)"


class HaloUsers:
    """ContactBook for one Halo client."""

    kind = IntegrationKind.HALO

    def __init__(
        self, api: HttpApi, client_id: int, page_size: int, site_name: str, token_api: HttpApi | None = None
    ) -> None:
        self.api, self.client_id, self.page_size, self.site_name = api, client_id, page_size, site_name
        self.token_api = token_api
        self._site: int | None = None

    def close(self) -> None:
        self.api.close()
        if self.token_api is not None:
            self.token_api.close()

    # --- ContactBook -----------------------------------------------------------------
    def list_contacts(self) -> list[PsaContact]:
        """Every user of the client, inactive ones included (active=False)."""
        return self._users({})

    def create_contact(self, new: NewContact) -> PsaContact:
        user: dict[str, Any] = {
            "name": f"{new.first_name} {new.last_name}".strip(),
            "firstname": new.first_name,
            "surname": new.last_name,
            "site_id": self._site_id(),
            "notes": marker_text(new.marker),
        }
        if new.email:
            user["emailaddress"] = new.email

        def post() -> PsaContact:
            answer = self.api.post_json("api/Users", json=[user], idempotent=False)
            saved = answer[0] if isinstance(answer, list) and len(answer) == 1 else answer
            contact = self._contact(saved)
            log.info("%s: created Halo user %s for %s", self.api.where, contact.id, new.email or user["name"])
            return contact

        return create_once(self.api, post, lambda: self.find_own(new), "create user", MAX_CREATE_ATTEMPTS)

    def update_contact(self, record_id: str, values: Mapping[RecordField, str]) -> None:
        """R25: `POST /api/Users [{"id": N, ...}]` (an item with `id` updates, per the
        maintained clients; unconfirmed by Halo's docs) with only the owned fields; never
        `notes`, which hold the marker. Halo's `name` is the full name: kept in step with
        a new first or last name (the other one read first when it is not changing)."""
        rid = _user_id(record_id, self.api.where)
        user: dict[str, Any] = {_FIELDS[k]: v for k, v in values.items() if k in _FIELDS}
        if RecordField.FIRST_NAME in values or RecordField.LAST_NAME in values:
            first, last = values.get(RecordField.FIRST_NAME), values.get(RecordField.LAST_NAME)
            if first is None or last is None:
                now = self._contact(self.api.get_json(f"api/Users/{rid}"))
                first, last = first or now.first_name or "", last or now.last_name or ""
            user["name"] = f"{first} {last}".strip()
        if user:
            self.api.post_json("api/Users", json=[{"id": rid, **user}])
            log.info("%s: updated Halo user %s (%s)", self.api.where, rid, ", ".join(sorted(user)))

    def deactivate_contact(self, record_id: str) -> None:
        """R8 onRemoval: archive = `inactive: true`; never deleted."""
        rid = _user_id(record_id, self.api.where)
        self.api.post_json("api/Users", json=[{"id": rid, "inactive": True}])
        log.info("%s: set Halo user %s inactive", self.api.where, rid)

    # --- lookups -------------------------------------------------------------------
    def find_own(self, new: NewContact) -> PsaContact | None:
        """The client's user found by `new`'s email (or surname) that carries its marker."""
        for contact in self._users({"search": new.email or new.last_name}):
            if contact.marker == new.marker:
                return contact
        return None

    def _users(self, extra: dict[str, str]) -> list[PsaContact]:
        params: dict[str, str | int] = {
            "client_id": self.client_id,
            "includeactive": "true",
            "includeinactive": "true",
            "pageinate": "true",
            "page_size": self.page_size,
            **extra,
        }

        def fetch(number: Hashable | None) -> Page[PsaContact]:
            page_no = number if isinstance(number, int) else 1
            body = self.api.get_json("api/Users", params={**params, "page_no": page_no})
            users = body.get("users") if isinstance(body, dict) else None
            if not isinstance(users, list):
                raise ProviderError(self.api.where, "GET /api/Users: answer has no users list")
            total = body.get("record_count")
            more = bool(users) and isinstance(total, int) and page_no * self.page_size < total
            return Page([self._contact(u) for u in users], page_no + 1 if more else None)

        return list(paginate(fetch, where=self.api.where, what="GET /api/Users"))

    def _site_id(self) -> int:
        """The site new users go to: the client's only site, or the one named siteName."""
        if self._site is not None:
            return self._site
        body = self.api.get_json("api/Site", params={"client_id": self.client_id})
        sites = [
            s for s in (body.get("sites") if isinstance(body, dict) else None) or () if isinstance(s, dict)
        ]
        mine = [
            s for s in sites if s.get("client_id") in (None, self.client_id) and isinstance(s.get("id"), int)
        ]
        named = [s for s in mine if str(s.get("name", "")).strip().lower() == self.site_name.lower()]
        chosen = mine if len(mine) == 1 else named
        if len(chosen) != 1:
            names = ", ".join(sorted(str(s.get("name")) for s in mine)) or "none"
            raise ProviderError(
                self.api.where,
                f"Halo client {self.client_id} has no single site for new users (sites: {names}); "
                "set connections.halo.siteName",
            )
        self._site = int(chosen[0]["id"])
        return self._site

    def _contact(self, item: Any) -> PsaContact:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise ProviderError(self.api.where, "a user in the answer has no id")
        first, last = _text(item.get("firstname")), _text(item.get("surname"))
        name = _text(item.get("name"))
        if first is None and name and last and name.lower().endswith(last.lower()):
            first = name[: -len(last)].strip() or None  # `firstname` is not always there (unconfirmed)
        email = _text(item.get("emailaddress"))
        notes = item.get("notes")
        return PsaContact(
            integration=IntegrationKind.HALO,
            id=str(item["id"]),
            first_name=first,
            last_name=last,
            emails=(email,) if email else (),
            active=item.get("inactive") is not True,
            marker=parse_marker(notes if isinstance(notes, str) else None),
        )


_FIELDS = {
    RecordField.FIRST_NAME: "firstname",
    RecordField.LAST_NAME: "surname",
    RecordField.CONTACT_EMAIL: "emailaddress",
}


def _user_id(record_id: str, where: str) -> int:
    if not record_id.isdigit():
        raise ProviderError(where, f"user id must be a number, got {record_id!r}")
    return int(record_id)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def open_halo(ctx: ProviderContext, *, retry: RetryPolicy | None = None) -> HaloUsers:
    where = f"{ctx.name}: halo"
    conn = FACTS.connection(ctx.settings.connections)
    if conn is None:
        raise ProviderError(where, "contact matching needs Settings connections.halo")
    client_id = FACTS.linked_id(ctx.customer.doc.spec.integrations) or ""
    if not client_id.isdigit():
        raise ProviderError(where, "integrations.haloClientId must be the client's numeric id")
    api, token_api = connect_halo(conn, ctx.config_root, ctx.secret_roots, where, ctx.transport, retry)
    return HaloUsers(api, int(client_id), conn.page_size, conn.site_name, token_api)


def connect_halo(
    conn: HaloConnection,
    config_root: Path,
    secret_roots: SecretRoots,
    where: str,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[HttpApi, HttpApi]:
    """The API of Settings connections.halo and its token endpoint's seam (close both;
    users, tickets, `validate --live`)."""
    secret = resolve(conn.client_secret, secret_roots, f"{where} (connections.halo.clientSecret)")
    base = conn.base_url.rstrip("/") + "/"
    account = f"halo {base} {conn.tenant or ''} {conn.client_id} {key_fingerprint(secret)}"
    budget = FACTS.budget(conn)

    def api_on(client: httpx.Client) -> HttpApi:
        return connect_api(
            client,
            where,
            account=account,
            budget=budget,
            extract_error=halo_error,
            retry=retry,
            integration="halo",
        )

    # the token endpoint gets its own client: the bearer auth below never goes to it
    tokens = api_on(
        build_client(
            where, conn, config_root, timeout=conn.timeout_seconds, transport=transport, pool=account
        )
    )
    auth = HaloAuth(tokens, conn, secret.get_secret_value(), account)
    headers = {"Accept": "application/json"}
    client = build_client(
        where,
        conn,
        config_root,
        base_url=base,
        auth=auth,
        headers=headers,
        timeout=conn.timeout_seconds,
        transport=transport,
        pool=account,
    )
    return api_on(client), tokens


connect = open_halo
