"""Live stage: Hudu asset passwords of one customer's company (R12, R13, R18), and
the instance's companies for `customers import` (R21).

Wire format (APIS.md section 5; Hudu's Swagger 2.0, extract in tests/data/hudu):
base `https://<instance>/api/v1`, header `x-api-key`, JSON bodies;
`GET /asset_passwords?company_id=&page=&page_size=` -> `{"asset_passwords": [...]}`,
`POST /asset_passwords {"asset_password": {...}}` -> 201 (200 seen live) with the record.

Paging: `page_size` is not honoured everywhere (a live probe saw it ignored), so
the page length the server really uses is learnt from the answers: a page stops
the listing when it is empty, repeats what we have, or is shorter than a full
page (shorter than the default 25, or than an earlier page). Hudu's list
answers carry password values: they are dropped on arrival and never logged.
An entry is created with a random placeholder password (the most-used clients
make `password` mandatory): made at apply time, sent once, never stored, logged
or shown in a plan; the real value is the MSP's to set.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Hashable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from reconciler.config.models import SettingsSpec
from reconciler.core.model import (
    IntegrationKind,
    NewPasswordEntry,
    PasswordEntry,
    parse_lineage,
    parse_marker,
)
from reconciler.errors import ProviderError
from reconciler.integrations.hudu.spec import FACTS, HuduConnection
from reconciler.integrations.kinds import RecordField
from reconciler.providers.base import ProviderContext
from reconciler.providers.http import HttpApi, RetryPolicy
from reconciler.providers.limits import RateLimiter
from reconciler.providers.paging import Page, paginate
from reconciler.providers.vaults import (
    OrgSummary,
    numeric_id,
    open_api,
    record_id,
    record_notes,
    text_or_none,
)
from reconciler.providers.writes import create_once

log = logging.getLogger("reconciler.hudu")

DEFAULT_PAGE_SIZE = 25  # Hudu's page length when page_size is absent or ignored
SECRET_FIELDS = ("password", "otp_secret")


def extract_error(body: Any) -> str | None:
    """Hudu error bodies seen in the wild: {"error": "..."}, {"error": {"message"}},
    {"errors": [...]} or {"errors": {"field": ["..."]}}, {"message": "..."} (unconfirmed)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    if text_or_none(error):
        return str(error)
    errors = body.get("errors")
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors[:3] if isinstance(e, str | int)) or None
    if isinstance(errors, dict):
        parts = []
        for field, msgs in list(errors.items())[:3]:
            said = ", ".join(str(m) for m in msgs) if isinstance(msgs, list) else str(msgs)
            parts.append(f"{field} {said}")
        return "; ".join(parts) or None
    return text_or_none(body.get("message"))


class HuduApi:
    """Calls on one Hudu instance, made on behalf of `api.where`."""

    def __init__(self, api: HttpApi, page_size: int) -> None:
        self.api, self.page_size = api, page_size

    def pages(self, path: str, key: str, params: dict[str, str | int]) -> Iterator[dict[str, Any]]:
        """Every record of a list, de-duplicated by id, stopping on a short page."""
        seen: set[str] = set()
        longest = 0

        def fetch(number: Hashable | None) -> Page[dict[str, Any]]:
            nonlocal longest
            assert number is None or isinstance(number, int)
            number = number or 1
            body = self.api.get_json(path, params={**params, "page": number, "page_size": self.page_size})
            rows = body.get(key) if isinstance(body, dict) else body
            if not isinstance(rows, list):
                raise ProviderError(self.api.where, f"GET {path}: answer has no {key} list")
            fresh = []
            for row in rows:
                rid = record_id(row.get("id")) if isinstance(row, dict) else None
                if rid is None:  # link guard: a page we cannot read whole is a failed read
                    raise ProviderError(self.api.where, f"GET {path}: a record in the answer has no id")
                if rid not in seen:
                    seen.add(rid)
                    fresh.append(row)
            last = not rows or not fresh  # the end, or a server that ignores `page`
            if rows and not fresh and len(rows) >= max(longest, DEFAULT_PAGE_SIZE):
                log.warning(
                    "%s: GET %s page %d repeats earlier records; stopped", self.api.where, path, number
                )
            short = len(rows) < self.page_size and (len(rows) < DEFAULT_PAGE_SIZE or len(rows) < longest)
            longest = max(longest, len(rows))
            return Page(fresh, None if last or short else number + 1)

        return paginate(fetch, where=self.api.where, what=f"GET {path}")

    def companies(self) -> list[OrgSummary]:
        out = []
        for row in self.pages("/companies", "companies", {}):
            name, rid = text_or_none(row.get("name")), record_id(row.get("id"))
            if name is None or rid is None or row.get("archived") is True:
                continue
            details = tuple(
                (label, value)
                for label, key in (("type", "company_type"), ("city", "city"), ("website", "website"))
                if (value := text_or_none(row.get(key))) is not None
            )
            out.append(OrgSummary(IntegrationKind.HUDU, rid, name, details))
        return out


def _connect(
    conn: HuduConnection,
    config_root: Path,
    where: str,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    secret_dirs: tuple[str, ...] = (),
) -> HuduApi:
    api, _ = open_api(
        FACTS,
        conn.base_url,
        conn,
        config_root,
        where,
        extract_error=extract_error,
        headers={"Accept": "application/json"},
        limiter=limiter,
        retry=retry,
        transport=transport,
        secret_dirs=secret_dirs,
    )
    return HuduApi(api, conn.page_size)


class HuduVault:
    """The asset passwords of one customer's Hudu company (a `PasswordVault`)."""

    kind = IntegrationKind.HUDU

    def __init__(self, hudu: HuduApi, company_id: str) -> None:
        self.hudu, self.api = hudu, hudu.api
        self.company_id = numeric_id(company_id, "huduCompanyId", hudu.api.where)

    def list_entries(self) -> list[PasswordEntry]:
        entries = [_entry(row) for row in self._passwords({})]
        if not entries:
            self._check_company()
        return entries

    def create_entry(self, new: NewPasswordEntry) -> PasswordEntry:
        record = {
            "company_id": self.company_id,
            "name": new.name,
            "username": new.username,
            "password_type": new.category,
            "description": record_notes(new.marker, new.lineage),
            # the most-used Hudu clients make `password` mandatory on create: a random
            # placeholder the MSP replaces, made here and never kept, logged or planned
            "password": placeholder_password(),
        }

        def post() -> PasswordEntry:
            answer = self.api.post_json("/asset_passwords", json={"asset_password": record}, idempotent=False)
            row = answer.get("asset_password", answer) if isinstance(answer, dict) else None
            if not isinstance(row, dict) or record_id(row.get("id")) is None:
                raise ProviderError(self.api.where, "POST /asset_passwords: answer has no created record")
            entry = _entry(row)
            log.info("%s: created Hudu asset password %s for %s", self.api.where, entry.id, new.username)
            return entry

        def find() -> PasswordEntry | None:
            for row in self._passwords({"name": new.name}):
                entry = _entry(row)
                if entry.marker == new.marker and not entry.archived:
                    return entry
            return None

        return create_once(self.api, post, find, f"create Hudu asset password {new.name!r}")

    def update_entry(self, record_id: str, values: Mapping[RecordField, str]) -> None:
        """R25: `PUT /asset_passwords/{id}` with only the owned fields; never
        `description` (the marker) and never `password`."""
        fields = {_FIELDS[name]: value for name, value in values.items() if name in _FIELDS}
        if fields:
            rid = numeric_id(record_id, "record id", self.api.where)
            self.api.request("PUT", f"/asset_passwords/{rid}", json={"asset_password": fields})
            log.info("%s: updated Hudu asset password %s (%s)", self.api.where, rid, ", ".join(fields))

    def archive_entry(self, record_id: str) -> None:
        """R8 onRemoval: `PUT /asset_passwords/{id}/archive` (in Hudu's Swagger); never delete."""
        rid = numeric_id(record_id, "record id", self.api.where)
        self.api.request("PUT", f"/asset_passwords/{rid}/archive")
        log.info("%s: archived Hudu asset password %s", self.api.where, rid)

    def close(self) -> None:
        self.api.close()

    def _passwords(self, extra: dict[str, str | int]) -> Iterator[dict[str, Any]]:
        return self.hudu.pages(
            "/asset_passwords", "asset_passwords", {"company_id": self.company_id, **extra}
        )

    def _check_company(self) -> None:
        """An empty list can mean a wrong company id: say so rather than create into nothing."""
        response = self.api.request("GET", f"/companies/{self.company_id}", ok=(404,))
        if response.status_code == 404:
            raise ProviderError(
                self.api.where,
                f"Hudu company {self.company_id} (spec.integrations.huduCompanyId) does not exist "
                "or this API key cannot see it",
            )


_FIELDS = {RecordField.ENTRY_NAME: "name", RecordField.USERNAME: "username"}


def placeholder_password() -> str:
    """A random value for a new entry's mandatory password (never stored by reconciler)."""
    return secrets.token_urlsafe(24)


def _entry(row: dict[str, Any]) -> PasswordEntry:
    for secret in SECRET_FIELDS:  # never kept past this point
        row.pop(secret, None)
    description = row.get("description")
    return PasswordEntry(
        integration=IntegrationKind.HUDU,
        id=record_id(row.get("id")) or "",
        name=text_or_none(row.get("name")) or "",
        username=text_or_none(row.get("username")),
        category=text_or_none(row.get("password_type")),
        # `archived` is not in Hudu's Swagger definition (unconfirmed); archived_at is a fallback
        archived=row.get("archived") is True or bool(row.get("archived_at")),
        marker=parse_marker(description if isinstance(description, str) else None),
        lineage=parse_lineage(description if isinstance(description, str) else None),
    )


def open_hudu(
    ctx: ProviderContext, *, limiter: RateLimiter | None = None, retry: RetryPolicy | None = None
) -> HuduVault:
    where = f"{ctx.name}: Hudu"
    conn = FACTS.connection(ctx.settings.connections)
    company = FACTS.linked_id(ctx.customer.doc.spec.integrations)
    if conn is None:
        raise ProviderError(where, "Settings has no connections.hudu")
    if not company:
        raise ProviderError(where, "the customer has no spec.integrations.huduCompanyId")
    return HuduVault(
        _connect(conn, ctx.config_root, where, limiter, retry, ctx.transport, ctx.settings.secret_dirs),
        company,
    )


connect = open_hudu


def list_companies(
    settings: SettingsSpec, config_root: Path, *, retry: RetryPolicy | None = None
) -> list[OrgSummary]:
    """Every company of the instance that is not archived (R21)."""
    conn = FACTS.connection(settings.connections)
    if conn is None:
        raise ProviderError("Hudu", "Settings has no connections.hudu")
    hudu = _connect(conn, config_root, "Hudu", retry=retry, secret_dirs=settings.secret_dirs)
    try:
        return hudu.companies()
    finally:
        hudu.api.close()


list_organizations = list_companies
