"""Live stage: IT Glue passwords of one customer's organization (R12, R13, R18),
and the account's organizations for `customers import` (R21).

Wire format (APIS.md section 4): JSON:API with dash-case attributes, header
`x-api-key`, `Content-Type: application/vnd.api+json`; lists page with
`page[size]` (max 1000) and `page[number]`, following `meta.next-page`.

Passwords: the reconciler never asks for a password value (no `show_password`),
never sends one (an entry is created without the `password` attribute; the value
is the MSP's to set), and drops a `password` attribute if an answer carries one.
Category names (R13: "Active Directory", "Office 365", ...) are resolved to ids
once per account and cached for a while, shared by every customer; a category
that IT Glue does not have is a clear error, never a guess.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
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
from reconciler.integrations.itglue.spec import FACTS, ItGlueConnection
from reconciler.integrations.kinds import RecordField
from reconciler.providers.base import ProviderContext
from reconciler.providers.http import HttpApi, RetryPolicy
from reconciler.providers.limits import RateLimiter
from reconciler.providers.paging import Page, paginate, unique
from reconciler.providers.vaults import (
    OrgSummary,
    numeric_id,
    open_api,
    record_id,
    record_notes,
    text_or_none,
)
from reconciler.providers.writes import create_once

log = logging.getLogger("reconciler.itglue")

REGION_URLS = {
    "us": "https://api.itglue.com",
    "eu": "https://api.eu.itglue.com",
    "au": "https://api.au.itglue.com",
}
JSONAPI = "application/vnd.api+json"
CATEGORY_TTL_SECONDS = 600.0


def base_url(conn: ItGlueConnection) -> str:
    return conn.base_url or REGION_URLS[conn.region]


def extract_error(body: Any) -> str | None:
    """JSON:API `{"errors": [{"status", "title", "detail"}]}` -> "title: detail; ..."."""
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    if isinstance(errors, list):
        parts = []
        for err in errors[:3]:
            if isinstance(err, dict):
                said = (text_or_none(err.get("title")), text_or_none(err.get("detail")))
                parts.append(": ".join(dict.fromkeys(p for p in said if p)))
        return "; ".join(p for p in parts if p) or None
    return text_or_none(body.get("message")) or text_or_none(body.get("error"))


class _Categories:
    """Password category name -> (id, name) per IT Glue account, refreshed after a TTL.
    The lock is held while fetching, so concurrent customers fetch once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_account: dict[str, tuple[float, dict[str, tuple[int, str]]]] = {}

    def get(
        self, account: str, fetch: Callable[[], dict[str, tuple[int, str]]], refresh: bool = False
    ) -> tuple[dict[str, tuple[int, str]], bool]:
        """(categories, fetched-now)."""
        with self._lock:
            cached = self._by_account.get(account)
            now = time.monotonic()
            if cached is not None and not refresh and now - cached[0] < CATEGORY_TTL_SECONDS:
                return cached[1], False
            cats = fetch()
            self._by_account[account] = (now, cats)
            return cats, True


_CATEGORIES = _Categories()


class ItGlueApi:
    """Calls on one IT Glue account, made on behalf of `api.where`."""

    def __init__(self, api: HttpApi, account: str, page_size: int) -> None:
        self.api, self.account, self.page_size = api, account, page_size

    def pages(self, path: str, params: dict[str, str | int]) -> Iterator[dict[str, Any]]:
        """Every resource object of a list, following meta.next-page; de-duplicated by id."""

        def fetch(number: Hashable | None) -> Page[dict[str, Any]]:
            number = number or 1
            body = self.api.get_json(
                path, params={**params, "page[size]": self.page_size, "page[number]": number}
            )
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise ProviderError(self.api.where, f"GET {path}: answer has no data list")
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            following = meta.get("next-page")
            advances = data and isinstance(following, int) and isinstance(number, int) and following > number
            if any(not isinstance(i, dict) or record_id(i.get("id")) is None for i in data):
                # link guard (#12): a page we cannot read whole is a failed read
                raise ProviderError(self.api.where, f"GET {path}: a record in the answer has no id")
            return Page(data, following if advances else None)

        rows = paginate(fetch, where=self.api.where, what=f"GET {path}")
        return unique(rows, lambda item: record_id(item.get("id")))

    def organizations(self) -> list[OrgSummary]:
        out = []
        for item in self.pages("/organizations", {}):
            attrs = item.get("attributes") or {}
            name = text_or_none(attrs.get("name"))
            rid = record_id(item.get("id"))
            if name is None or rid is None:
                continue
            details = tuple(
                (label, value)
                for label, key in (("type", "organization-type-name"), ("status", "organization-status-name"))
                if (value := text_or_none(attrs.get(key))) is not None
            )
            out.append(OrgSummary(IntegrationKind.ITGLUE, rid, name, details))
        return out

    def categories(self, refresh: bool = False) -> tuple[dict[str, tuple[int, str]], bool]:
        def fetch() -> dict[str, tuple[int, str]]:
            cats: dict[str, tuple[int, str]] = {}
            for item in self.pages("/password_categories", {}):
                name = text_or_none((item.get("attributes") or {}).get("name"))
                rid = record_id(item.get("id"))
                if name is not None and rid is not None and rid.isdigit():
                    cats.setdefault(name.strip().lower(), (int(rid), name.strip()))
            log.debug("%s: %d IT Glue password categories", self.api.where, len(cats))
            return cats

        return _CATEGORIES.get(self.account, fetch, refresh)


_ATTRIBUTES = {RecordField.ENTRY_NAME: "name", RecordField.USERNAME: "username"}


def _connect(
    conn: ItGlueConnection,
    config_root: Path,
    where: str,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    secret_dirs: tuple[str, ...] = (),
) -> ItGlueApi:
    api, account = open_api(
        FACTS,
        base_url(conn),
        conn,
        config_root,
        where,
        extract_error=extract_error,
        headers={"Accept": JSONAPI, "Content-Type": JSONAPI},
        limiter=limiter,
        retry=retry,
        transport=transport,
        secret_dirs=secret_dirs,
    )
    return ItGlueApi(api, account, conn.page_size)


class ItGlueVault:
    """The passwords of one customer's IT Glue organization (a `PasswordVault`)."""

    kind = IntegrationKind.ITGLUE

    def __init__(self, itg: ItGlueApi, organization_id: str) -> None:
        self.itg, self.api = itg, itg.api
        self.organization_id = numeric_id(organization_id, "itglueOrganizationId", itg.api.where)

    def list_entries(self) -> list[PasswordEntry]:
        entries = [self._entry(item) for item in self._passwords({})]
        if not entries:
            self._check_organization()
        return entries

    def create_entry(self, new: NewPasswordEntry) -> PasswordEntry:
        category_id = self._category_id(new.category)
        attributes = {
            "organization-id": self.organization_id,
            "name": new.name,
            "username": new.username,
            "notes": record_notes(new.marker, new.lineage),
            "password-category-id": category_id,
        }
        body = json.dumps({"data": {"type": "passwords", "attributes": attributes}}).encode()

        def post() -> PasswordEntry:
            answer = self.api.post_json("/passwords", content=body, idempotent=False)
            data = answer.get("data") if isinstance(answer, dict) else None
            if isinstance(data, list) and len(data) == 1:
                data = data[0]
            if not isinstance(data, dict) or record_id(data.get("id")) is None:
                raise ProviderError(self.api.where, "POST /passwords: answer has no created record")
            entry = self._entry(data)
            log.info("%s: created IT Glue password %s for %s", self.api.where, entry.id, new.username)
            return entry

        def find() -> PasswordEntry | None:
            for item in self._passwords({"filter[name]": new.name}):
                entry = self._entry(item)
                if entry.marker == new.marker and not entry.archived:
                    return entry
            return None

        return create_once(self.api, post, find, f"create IT Glue password {new.name!r}")

    def update_entry(self, record_id: str, values: Mapping[RecordField, str]) -> None:
        """R25: `PATCH /passwords/{id}` with only the owned attributes (attributes left
        out stay unchanged, per IT Glue's docs): never `notes`, which hold the marker."""
        attributes = {_ATTRIBUTES[name]: value for name, value in values.items() if name in _ATTRIBUTES}
        if attributes:
            self._patch(record_id, attributes)
            log.info("%s: updated IT Glue password %s (%s)", self.api.where, record_id, ", ".join(attributes))

    def archive_entry(self, record_id: str) -> None:
        """R8 onRemoval: archive, never delete. IT Glue documents no archive call for
        passwords (unconfirmed): passwords carry an `archived` attribute and a
        `filter[archived]`, so the best evidence is a PATCH setting `archived: true`."""
        self._patch(record_id, {"archived": True})
        log.info("%s: archived IT Glue password %s", self.api.where, record_id)

    def _patch(self, record_id: str, attributes: dict[str, Any]) -> None:
        rid = numeric_id(record_id, "record id", self.api.where)
        body = {"data": {"type": "passwords", "attributes": attributes}}
        self.api.request("PATCH", f"/passwords/{rid}", content=json.dumps(body).encode())

    def close(self) -> None:
        self.api.close()

    # --- helpers ---------------------------------------------------------------------
    def _passwords(self, extra: dict[str, str | int]) -> Iterator[dict[str, Any]]:
        return self.itg.pages("/passwords", {"filter[organization_id]": self.organization_id, **extra})

    def _entry(self, item: dict[str, Any]) -> PasswordEntry:
        raw = item.get("attributes")
        if not isinstance(raw, dict):  # link guard (#12): a malformed record is a failed read
            raise ProviderError(
                self.api.where, f"password {record_id(item.get('id'))}: malformed record (no attributes)"
            )
        attrs = dict(raw)
        attrs.pop("password", None)  # never kept, even if an answer carries it
        category = text_or_none(attrs.get("password-category-name"))
        category_id = record_id(attrs.get("password-category-id"))
        if category is None and category_id is not None:
            cats, _ = self.itg.categories()
            category = next((name for cid, name in cats.values() if str(cid) == category_id), None)
        notes = attrs.get("notes") if isinstance(attrs.get("notes"), str) else None
        return PasswordEntry(
            integration=IntegrationKind.ITGLUE,
            id=record_id(item.get("id")) or "",
            name=text_or_none(attrs.get("name")) or "",
            username=text_or_none(attrs.get("username")),
            category=category,
            archived=attrs.get("archived") is True,
            marker=parse_marker(notes),
            lineage=parse_lineage(notes),
        )

    def _category_id(self, name: str) -> int:
        cats, fresh = self.itg.categories()
        hit = cats.get(name.strip().lower())
        if hit is None and not fresh:  # it may have been added since we last looked
            cats, _ = self.itg.categories(refresh=True)
            hit = cats.get(name.strip().lower())
        if hit is None:
            known = ", ".join(sorted(n for _, n in cats.values())) or "none"
            raise ProviderError(
                self.api.where,
                f"IT Glue has no password category {name!r} (R13); add it in IT Glue "
                f"(known categories: {known})",
            )
        return hit[0]

    def _check_organization(self) -> None:
        """An empty list can mean a wrong organization id: say so rather than create into nothing."""
        response = self.api.request("GET", f"/organizations/{self.organization_id}", ok=(404,))
        if response.status_code == 404:
            raise ProviderError(
                self.api.where,
                f"IT Glue organization {self.organization_id} (spec.integrations.itglueOrganizationId) "
                "does not exist or this API key cannot see it",
            )


def open_itglue(
    ctx: ProviderContext, *, limiter: RateLimiter | None = None, retry: RetryPolicy | None = None
) -> ItGlueVault:
    where = f"{ctx.name}: IT Glue"
    conn = FACTS.connection(ctx.settings.connections)
    org = FACTS.linked_id(ctx.customer.doc.spec.integrations)
    if conn is None:
        raise ProviderError(where, "Settings has no connections.itglue")
    if not org:
        raise ProviderError(where, "the customer has no spec.integrations.itglueOrganizationId")
    return ItGlueVault(
        _connect(conn, ctx.config_root, where, limiter, retry, ctx.transport, ctx.settings.secret_dirs), org
    )


connect = open_itglue


def list_organizations(
    settings: SettingsSpec, config_root: Path, *, retry: RetryPolicy | None = None
) -> list[OrgSummary]:
    """Every organization the account's key can see (R21)."""
    conn = FACTS.connection(settings.connections)
    if conn is None:
        raise ProviderError("IT Glue", "Settings has no connections.itglue")
    itg = _connect(conn, config_root, "IT Glue", retry=retry, secret_dirs=settings.secret_dirs)
    try:
        return itg.organizations()
    finally:
        itg.api.close()
