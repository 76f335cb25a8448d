"""Live stage: the contacts of one customer's company in ConnectWise Manage (R14).

Wire format (APIS.md section 6):
- base `https://{site}/{codebase}apis/3.0/`; the codebase is looked up once per
  site and company from `GET https://{site}/login/companyinfo/{companyId}` unless
  configured, and cached for the life of the process;
- `Authorization: Basic base64("{companyId}+{publicKey}:{privateKey}")`, a
  `clientId` header and a versioned Accept header on every call;
- `GET company/contacts?conditions=company/id=N` with `pageSize=1000`, following
  the `Link: <...>; rel="next"` header (only on the same origin);
- `POST company/contacts` with first and last name, the company and one Email
  communication item.

Marker: a contact we create carries `marker_text(marker)` as one of its
`integratorTags`, a list meant for integrations that ConnectWise returns with
the contact (so a listing finds it) and that users do not edit in the contact
form. Contact notes would need one more request per contact to read.

A create whose answer is lost (dropped connection, 5xx) is not blindly sent
again: we first look for a contact of the company with the same names (and email)
carrying our marker, using `conditions`/`childConditions` whose string values are
quoted and escaped by `condition_string`.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import threading
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from reconciler.config.secretpaths import SecretRoots
from reconciler.core.model import (
    IntegrationKind,
    NewContact,
    PsaContact,
    lineage_text,
    marker_text,
    parse_lineage,
    parse_marker,
)
from reconciler.errors import ProviderError
from reconciler.integrations.connectwise.spec import FACTS, ConnectWiseConnection
from reconciler.integrations.kinds import RecordField
from reconciler.providers.base import ProviderContext
from reconciler.providers.http import HttpApi, build_client, connect_api
from reconciler.providers.paging import Page, next_link, paginate
from reconciler.providers.tlsauth import key_fingerprint
from reconciler.providers.writes import create_once
from reconciler.secrets import resolve

log = logging.getLogger("reconciler.connectwise")

PAGE_SIZE = 1000
CONTACT_FIELDS = "id,firstName,lastName,inactiveFlag,communicationItems,integratorTags"
MAX_CREATE_ATTEMPTS = 3

_codebases: dict[tuple[str, str], str] = {}
_codebases_lock = threading.Lock()


def condition_string(value: str) -> str:
    """A string literal for a `conditions` expression: double quotes around it,
    backslashes and double quotes inside escaped with a backslash."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cw_error(body: Any) -> str | None:
    """The message of a ConnectWise error body `{"code","message","errors":[...]}`."""
    if not isinstance(body, dict):
        return None
    parts = [str(body["message"])] if body.get("message") else []
    for err in body.get("errors") or ():
        if isinstance(err, dict) and err.get("message"):
            field = err.get("field") or err.get("resource")
            parts.append(f"{field}: {err['message']}" if field else str(err["message"]))
    return "; ".join(parts) or None


class ConnectWiseContacts:
    """ContactBook for one ConnectWise company."""

    kind = IntegrationKind.CONNECTWISE

    def __init__(self, api: HttpApi, base_url: str, company_id: int) -> None:
        self.api = api
        self.base_url = base_url
        self.company_id = company_id

    def close(self) -> None:
        self.api.client.close()

    # --- ContactBook -----------------------------------------------------------------
    def list_contacts(self) -> list[PsaContact]:
        """Every contact of the company, inactive ones included (active=False)."""
        return self._query(f"company/id={self.company_id}")

    def create_contact(self, new: NewContact) -> PsaContact:
        body: dict[str, Any] = {
            "firstName": new.first_name,
            "company": {"id": self.company_id},
            "integratorTags": [
                marker_text(new.marker),
                *([lineage_text(new.lineage)] if new.lineage else []),
            ],
        }
        if new.last_name:
            body["lastName"] = new.last_name
        if new.email:
            body["communicationItems"] = [
                {
                    "type": {"name": "Email"},
                    "value": new.email,
                    "communicationType": "Email",
                    "defaultFlag": True,
                }
            ]

        def post() -> PsaContact:
            response = self.api.request("POST", self._url("company/contacts"), json=body, idempotent=False)
            contact = self._contact(_json(response, self.api.where))
            if contact.marker != new.marker:
                log.warning(
                    "%s: contact %s came back without its marker tag; a rerun after a crash can only "
                    "find it by email or name",
                    self.api.where,
                    contact.id,
                )
                contact = dataclasses.replace(contact, marker=new.marker)
            return contact

        return create_once(self.api, post, lambda: self.find_own(new), "create contact", MAX_CREATE_ATTEMPTS)

    def update_contact(self, record_id: str, values: Mapping[RecordField, str]) -> None:
        """R25: `PATCH /company/contacts/{id}` with JSON Patch `replace` operations for the
        owned fields only (never `integratorTags`, which hold the marker). A new email
        replaces the default Email communication item (read first), else is added."""
        rid = _contact_id(record_id, self.api.where)
        ops: list[dict[str, Any]] = [
            {"op": "replace", "path": path, "value": values[name]}
            for name, path in ((RecordField.FIRST_NAME, "firstName"), (RecordField.LAST_NAME, "lastName"))
            if name in values
        ]
        email = values.get(RecordField.CONTACT_EMAIL)
        if email:
            current = self.api.get_json(self._url(f"company/contacts/{rid}"))
            items = current.get("communicationItems") if isinstance(current, dict) else None
            ops.append({"op": "replace", "path": "communicationItems", "value": _with_email(items, email)})
        if ops:
            self.api.request("PATCH", self._url(f"company/contacts/{rid}"), json=ops)
            log.info(
                "%s: updated contact %s (%s)", self.api.where, rid, ", ".join(str(o["path"]) for o in ops)
            )

    def deactivate_contact(self, record_id: str) -> None:
        """R8 onRemoval: archive = `inactiveFlag: true`; never deleted."""
        rid = _contact_id(record_id, self.api.where)
        ops = [{"op": "replace", "path": "inactiveFlag", "value": True}]
        self.api.request("PATCH", self._url(f"company/contacts/{rid}"), json=ops)
        log.info("%s: set contact %s inactive", self.api.where, rid)

    # --- lookups -------------------------------------------------------------------
    def find_own(self, new: NewContact) -> PsaContact | None:
        """The contact of this company with `new`'s names (and email) that carries
        `new`'s marker, if one exists."""
        conditions = f"company/id={self.company_id} AND firstName={condition_string(new.first_name)}"
        if new.last_name:
            conditions += f" AND lastName={condition_string(new.last_name)}"
        child = None
        if new.email:
            child = (
                f"communicationItems/value={condition_string(new.email)}"
                ' AND communicationItems/communicationType="Email"'
            )
        for contact in self._query(conditions, child):
            if contact.marker == new.marker:
                return contact
        return None

    def _query(self, conditions: str, child_conditions: str | None = None) -> list[PsaContact]:
        params: dict[str, str | int] = {
            "conditions": conditions,
            "fields": CONTACT_FIELDS,
            "orderBy": "id asc",
            "page": 1,
            "pageSize": PAGE_SIZE,
        }
        if child_conditions:
            params["childConditions"] = child_conditions
        url = self._url("company/contacts")

        def fetch(link: Hashable | None) -> Page[PsaContact]:
            # the first page with our query; the next ones by the Link header (it carries the query)
            response = (
                self.api.request("GET", url, params=params)
                if link is None
                else self.api.request("GET", str(link))
            )
            page = _json(response, self.api.where)
            if not isinstance(page, list):
                raise ProviderError(self.api.where, "GET company/contacts: answer is not a list")
            following = response.links.get("next", {}).get("url")
            return Page(
                [self._contact(item) for item in page],
                next_link(following, self.base_url, where=self.api.where, what="GET company/contacts"),
            )

        return list(paginate(fetch, where=self.api.where, what="GET company/contacts"))

    def _contact(self, item: Any) -> PsaContact:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise ProviderError(self.api.where, "a contact in the answer has no id")
        emails = tuple(
            str(ci["value"])
            for ci in item.get("communicationItems") or ()
            if isinstance(ci, dict) and ci.get("communicationType") == "Email" and ci.get("value")
        )
        tags = item.get("integratorTags") or ()
        markers = [m for m in (parse_marker(str(t)) for t in tags) if m]
        return PsaContact(
            integration=IntegrationKind.CONNECTWISE,
            id=str(item["id"]),
            first_name=item.get("firstName"),
            last_name=item.get("lastName"),
            emails=emails,
            active=not item.get("inactiveFlag", False),
            marker=markers[0] if markers else None,
            lineage=next((x for x in (parse_lineage(str(t)) for t in tags) if x), None),
        )

    def _url(self, path: str) -> str:
        return self.base_url + path


def open_connectwise(ctx: ProviderContext) -> ConnectWiseContacts:
    where = f"{ctx.name}: connectwise"
    conn = FACTS.connection(ctx.settings.connections)
    if conn is None:
        raise ProviderError(where, "contact matching needs Settings connections.connectwise")
    company = FACTS.linked_id(ctx.customer.doc.spec.integrations) or ""
    if not company.isdigit():
        raise ProviderError(
            where, "integrations.connectwiseCompanyId must be the company's numeric record id"
        )
    api, base_url = connect_connectwise(conn, ctx.config_root, ctx.secret_roots, where, ctx.transport)
    return ConnectWiseContacts(api, base_url, int(company))


def connect_connectwise(
    conn: ConnectWiseConnection,
    config_root: Path,
    secret_roots: SecretRoots,
    where: str,
    transport: httpx.BaseTransport | None = None,
) -> tuple[HttpApi, str]:
    """The API of Settings connections.connectwise and its base URL (contacts; tickets)."""
    public_key = resolve(conn.public_key, secret_roots, where).get_secret_value()
    private_key = resolve(conn.private_key, secret_roots, where).get_secret_value()
    client_id = resolve(conn.client_id, secret_roots, where).get_secret_value()
    site = _site(conn.site, where)
    client = build_client(
        where,
        conn,
        config_root,
        headers={
            "clientId": client_id,
            "Accept": f"application/vnd.connectwise.com+json; version={conn.api_version}",
        },
        timeout=conn.timeout_seconds,
        transport=transport,
        pool=f"connectwise {site} {key_fingerprint(SecretStr(f'{conn.company_id}+{public_key}:{private_key}:{client_id}'))}",
    )
    api = connect_api(
        client,
        where,
        account=f"connectwise {site}",
        budget=FACTS.budget(conn),
        extract_error=cw_error,
        integration=FACTS.kind.value,
    )
    try:
        codebase = (
            _normalise_codebase(conn.codebase) if conn.codebase else _codebase(api, site, conn.company_id)
        )
    except BaseException:
        client.close()
        raise
    # Credentials go only to the API, never to the (anonymous) codebase lookup.
    token = base64.b64encode(f"{conn.company_id}+{public_key}:{private_key}".encode()).decode()
    client.headers["Authorization"] = f"Basic {token}"
    return api, f"https://{site}/{codebase}apis/3.0/"


connect = open_connectwise


def _codebase(api: HttpApi, site: str, company_id: str) -> str:
    key = (site.lower(), company_id.lower())
    with _codebases_lock:
        cached = _codebases.get(key)
    if cached is not None:
        return cached
    info = api.get_json(f"https://{site}/login/companyinfo/{quote(company_id, safe='')}")
    raw = info.get("Codebase") if isinstance(info, dict) else None
    if not isinstance(raw, str) or not raw.strip("/"):
        raise ProviderError(api.where, f"site {site} did not report a codebase for company {company_id}")
    codebase = _normalise_codebase(raw)
    with _codebases_lock:
        _codebases[key] = codebase
    return codebase


def _normalise_codebase(codebase: str) -> str:
    return codebase.strip("/") + "/"


def _site(site: str, where: str) -> str:
    value = site.strip().removeprefix("https://").rstrip("/")
    if "://" in value or "/" in value or not value:
        raise ProviderError(
            where, "connections.connectwise.site must be a host name like api-na.myconnectwise.net"
        )
    return value


def _contact_id(record_id: str, where: str) -> int:
    if not record_id.isdigit():
        raise ProviderError(where, f"contact id must be a number, got {record_id!r}")
    return int(record_id)


def _with_email(items: Any, email: str) -> list[dict[str, Any]]:
    """The contact's communication items with its default (else first) Email item's
    value set to `email`; an Email item is added when it has none."""
    out = [dict(i) for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    emails = [i for i in out if i.get("communicationType") == "Email"]
    target = next((i for i in emails if i.get("defaultFlag")), emails[0] if emails else None)
    if target is None:
        out.append(
            {"type": {"name": "Email"}, "value": email, "communicationType": "Email", "defaultFlag": True}
        )
    else:
        target["value"] = email
    return out


def _json(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderError(
            where, f"{response.request.method} {response.url.path}: answer is not JSON"
        ) from None
