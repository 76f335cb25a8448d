"""Live stage: the contacts of one customer's company in Autotask PSA (R14).

Wire format (APIS.md section 7):
- the API user's zone is looked up once (`GET {discovery}/v1.0/zoneInformation?user=`,
  anonymous) unless `zoneUrl` is configured, and cached for the life of the process;
- `ApiIntegrationCode`, `UserName` and `Secret` headers on every API call;
- `POST V1.0/Contacts/query` with a JSON filter on `companyID`, `MaxRecords` 500
  and `IncludeFields`, then the same body POSTed to `pageDetails.nextPageUrl`
  until it is null (only on the zone's host);
- `POST V1.0/Companies/{id}/Contacts` creates a contact and answers `{"itemId": N}`;
  a refused one (validation) answers HTTP 500 with `{"errors": [...]}`, which is
  final: never retried, never looked for as an outcome-unknown create (`at_rejected`).

Budget: Autotask allows 10,000 requests an hour per database, shared by every
integration, and 3 concurrent requests per endpoint. Every customer served by
the same API user on the same zone therefore shares one `RateLimiter`
(`requestsPerHour`) and one gate of 3 requests in flight (the budget its Facts
declare, spent through `http.connect_api`), keyed by the zone URL and a
fingerprint of the user name.

Marker: a contact we create carries `marker_text(marker)` in its `note`, a free
text field returned by the query (unlike `externalID`, which is short). A create
whose answer is lost is not blindly sent again: we first query the company's
contacts with the same names and look for our marker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from reconciler.config.secretpaths import SecretRoots
from reconciler.core.model import (
    IntegrationKind,
    NewContact,
    PsaContact,
    marker_text,
    parse_lineage,
    parse_marker,
)
from reconciler.errors import ProviderError
from reconciler.integrations.autotask.spec import FACTS, AutotaskConnection
from reconciler.integrations.kinds import RecordField
from reconciler.providers.base import ProviderContext
from reconciler.providers.http import HttpApi, build_client, connect_api
from reconciler.providers.paging import Page, next_link, paginate
from reconciler.providers.tlsauth import key_fingerprint
from reconciler.providers.writes import create_once
from reconciler.secrets import resolve

log = logging.getLogger("reconciler.autotask")

MAX_RECORDS = 500
INCLUDE_FIELDS = (
    "id", "companyID", "firstName", "lastName", "emailAddress", "emailAddress2", "emailAddress3",
    "isActive", "note",
)  # fmt: skip
MAX_CREATE_ATTEMPTS = 3


_zones: dict[tuple[str, str], str] = {}
_lock = threading.Lock()


def fingerprint(username: str) -> str:
    """A stable, non-reversible key for a user name (it is a secret reference;
    Autotask user names are case-insensitive)."""
    return key_fingerprint(SecretStr(username.strip().lower()))


def account_key(zone_url: str, username: str) -> str:
    """What Autotask counts requests by: the API user on its zone."""
    return f"autotask {zone_url.rstrip('/').lower()} {fingerprint(username)}"


def at_rejected(response: httpx.Response) -> str | None:
    """Autotask answers validation errors with HTTP 500 and `{"errors": [...]}`: the
    request was refused, certainly and for good, so it is neither retried nor looked
    for as an outcome-unknown create. Other 5xx answers (no such body) stay retryable."""
    if response.status_code != 500:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    return at_error(body) if isinstance(errors, list) and errors else None


def at_error(body: Any) -> str | None:
    """The messages of an Autotask error body `{"errors": ["...", ...]}`."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return "; ".join(str(e) for e in body["errors"]) or None
    return None


class AutotaskContacts:
    """ContactBook for one Autotask company."""

    kind = IntegrationKind.AUTOTASK

    def __init__(self, api: HttpApi, zone_url: str, company_id: int) -> None:
        self.api = api
        self.zone_url = zone_url.rstrip("/") + "/"
        self.company_id = company_id

    def close(self) -> None:
        self.api.client.close()

    # --- ContactBook -----------------------------------------------------------------
    def list_contacts(self) -> list[PsaContact]:
        """Every contact of the company, inactive ones included (active=False)."""
        return self._query([{"op": "eq", "field": "companyID", "value": self.company_id}])

    def create_contact(self, new: NewContact) -> PsaContact:
        body: dict[str, Any] = {
            "companyID": self.company_id,
            "firstName": new.first_name,
            "lastName": new.last_name,
            "isActive": 1,
            "note": marker_text(new.marker, new.lineage),
        }
        if new.email:
            body["emailAddress"] = new.email
        url = f"{self.zone_url}V1.0/Companies/{self.company_id}/Contacts"

        def post() -> PsaContact:
            answer = _json(self.api.request("POST", url, json=body, idempotent=False), self.api.where)
            item_id = answer.get("itemId") if isinstance(answer, dict) else None
            if not isinstance(item_id, int):
                raise ProviderError(self.api.where, "create contact: the answer has no itemId")
            return PsaContact(
                integration=IntegrationKind.AUTOTASK,
                id=str(item_id),
                first_name=new.first_name,
                last_name=new.last_name,
                emails=(new.email,) if new.email else (),
                active=True,
                marker=new.marker,
            )

        return create_once(self.api, post, lambda: self.find_own(new), "create contact", MAX_CREATE_ATTEMPTS)

    def update_contact(self, record_id: str, values: Mapping[RecordField, str]) -> None:
        """R25: `PATCH /V1.0/Companies/{companyId}/Contacts` with the contact's `id` and
        only the owned fields (Autotask's child-entity update; fields left out stay as
        they are): never `note`, which holds the marker."""
        fields = {_FIELDS[name]: value for name, value in values.items() if name in _FIELDS}
        if fields:
            self._patch(record_id, fields)
            log.info("%s: updated contact %s (%s)", self.api.where, record_id, ", ".join(fields))

    def deactivate_contact(self, record_id: str) -> None:
        """R8 onRemoval: archive = `isActive: 0`; never deleted."""
        self._patch(record_id, {"isActive": 0})
        log.info("%s: set contact %s inactive", self.api.where, record_id)

    def _patch(self, record_id: str, fields: dict[str, Any]) -> None:
        if not record_id.isdigit():
            raise ProviderError(self.api.where, f"contact id must be a number, got {record_id!r}")
        url = f"{self.zone_url}V1.0/Companies/{self.company_id}/Contacts"
        self.api.request("PATCH", url, json={"id": int(record_id), **fields})

    # --- lookups -------------------------------------------------------------------
    def find_own(self, new: NewContact) -> PsaContact | None:
        """The contact of this company with `new`'s names that carries its marker."""
        items = [
            {"op": "eq", "field": "companyID", "value": self.company_id},
            {"op": "eq", "field": "firstName", "value": new.first_name},
            {"op": "eq", "field": "lastName", "value": new.last_name},
        ]
        for contact in self._query([{"op": "and", "items": items}]):
            if contact.marker == new.marker:
                return contact
        return None

    def _query(self, filters: list[dict[str, Any]]) -> list[PsaContact]:
        body = {"filter": filters, "MaxRecords": MAX_RECORDS, "IncludeFields": list(INCLUDE_FIELDS)}
        first = f"{self.zone_url}V1.0/Contacts/query"
        what = "POST Contacts/query"

        def fetch(url: Hashable | None) -> Page[PsaContact]:
            # every page is the same query POSTed to the previous page's nextPageUrl
            page = _json(self.api.request("POST", str(url or first), json=body), self.api.where)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise ProviderError(self.api.where, f"{what}: answer has no items")
            details = page.get("pageDetails") or {}
            following = details.get("nextPageUrl") if isinstance(details, dict) else None
            return Page(
                [self._contact(item) for item in page["items"]],
                next_link(following, self.zone_url, where=self.api.where, what=what),
            )

        return list(paginate(fetch, where=self.api.where, what=what))

    def _contact(self, item: Any) -> PsaContact:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise ProviderError(self.api.where, "a contact in the answer has no id")
        emails = tuple(
            str(item[k]) for k in ("emailAddress", "emailAddress2", "emailAddress3") if item.get(k)
        )
        return PsaContact(
            integration=IntegrationKind.AUTOTASK,
            id=str(item["id"]),
            first_name=item.get("firstName"),
            last_name=item.get("lastName"),
            emails=emails,
            active=bool(item.get("isActive", 1)),
            marker=parse_marker(item.get("note")),
            lineage=parse_lineage(item.get("note")),
        )


_FIELDS = {
    RecordField.FIRST_NAME: "firstName",
    RecordField.LAST_NAME: "lastName",
    RecordField.CONTACT_EMAIL: "emailAddress",
}


def open_autotask(ctx: ProviderContext) -> AutotaskContacts:
    where = f"{ctx.name}: autotask"
    conn = FACTS.connection(ctx.settings.connections)
    if conn is None:
        raise ProviderError(where, "contact matching needs Settings connections.autotask")
    company = FACTS.linked_id(ctx.customer.doc.spec.integrations) or ""
    if not company.isdigit():
        raise ProviderError(where, "integrations.autotaskCompanyId must be the company's numeric id")
    api, zone = connect_autotask(conn, ctx.config_root, ctx.secret_roots, where, ctx.transport)
    return AutotaskContacts(api, zone, int(company))


def connect_autotask(
    conn: AutotaskConnection,
    config_root: Path,
    secret_roots: SecretRoots,
    where: str,
    transport: httpx.BaseTransport | None = None,
) -> tuple[HttpApi, str]:
    """The API of Settings connections.autotask and its zone URL (contacts; tickets)."""
    username = resolve(conn.username, secret_roots, where).get_secret_value()
    secret = resolve(conn.secret, secret_roots, where).get_secret_value()
    code = resolve(conn.integration_code, secret_roots, where).get_secret_value()
    creds = key_fingerprint(SecretStr(f"{username}\0{secret}\0{code}"))
    pool = f"autotask {conn.zone_url or conn.zone_discovery_url} {creds}"
    client = build_client(
        where, conn, config_root, timeout=conn.timeout_seconds, transport=transport, pool=pool
    )
    try:
        zone = conn.zone_url or _zone(
            HttpApi(client, where, extract_error=at_error), conn.zone_discovery_url, username
        )
    except BaseException:
        client.close()
        raise
    zone = _zone_base(zone)
    if not zone.lower().startswith("https://"):
        client.close()
        raise ProviderError(where, "the Autotask zone URL must use https")
    # Credentials go only to the zone's API, never to the (anonymous) zone lookup.
    client.headers.update({"ApiIntegrationCode": code, "UserName": username, "Secret": secret})
    api = connect_api(
        client,
        where,
        account=account_key(zone, username),
        budget=FACTS.budget(conn),
        extract_error=at_error,
        integration=FACTS.kind.value,
        rejects=at_rejected,
    )
    return api, zone


connect = open_autotask


def _zone(api: HttpApi, discovery_url: str, username: str) -> str:
    key = (discovery_url.rstrip("/").lower(), fingerprint(username))
    with _lock:
        cached = _zones.get(key)
    if cached is not None:
        return cached
    info = api.get_json(f"{discovery_url.rstrip('/')}/v1.0/zoneInformation", params={"user": username})
    url = info.get("url") if isinstance(info, dict) else None
    if not isinstance(url, str) or not url:
        raise ProviderError(api.where, "zone information has no url for the API user")
    zone = url.rstrip("/") + "/"
    with _lock:
        _zones[key] = zone
    return zone


def _zone_base(url: str) -> str:
    """`https://webservicesN.autotask.net/ATServicesRest/`, also from a bare host URL."""
    parsed = httpx.URL(url.strip())
    if parsed.path in ("", "/"):
        parsed = parsed.copy_with(path="/ATServicesRest/")
    return str(parsed).rstrip("/") + "/"


def _json(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderError(
            where, f"{response.request.method} {response.url.path}: answer is not JSON"
        ) from None
