"""Live stage (Entra): one customer's tenant as a `DirectoryReader`, kept current by delta.

A full read pages `/users` (999 per page) after anchoring a delta link with
`$deltatoken=latest`, so changes made during the read come again in the next
delta round (applied idempotently). The users and the delta link are kept per
customer in the state store (`ctx.cursors`, one value, compressed). Later reads
fetch only the changes and apply them, `@removed` included.

A full read happens when there is no usable cache, when asked
(`DirectoryScope.full_sync`), when what we read changed (tenant, Graph URL,
selected fields, scope), when the delta link expired (410, or 400
syncStateNotFound), and every `fullSyncEveryHours` as a safety net.

The reader returns every user; deciding who is an end user (licensed and
enabled, R1) is the pure core's job.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.core.model import DirectorySnapshot, DirectoryUser, DirSource
from reconciler.errors import ProviderError
from reconciler.providers.base import DirectoryScope, ProviderContext
from reconciler.providers.graph.auth import BearerAuth, Credential, TokenSource
from reconciler.providers.graph.client import USER_SELECT, DeltaExpired, GraphClient, graph_error_text
from reconciler.providers.http import ApiStats, HttpApi, RetryPolicy, Sleep, tls_verify

CURSOR_NAME = "entra.users"
CACHE_FORMAT = 1
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

log = logging.getLogger("reconciler.providers.graph")


def to_directory_user(obj: dict[str, Any]) -> DirectoryUser:
    """A Graph user (fields of USER_SELECT) as the core sees it."""
    return DirectoryUser(
        source=DirSource.ENTRA,
        id=str(obj["id"]),
        upn=str(obj.get("userPrincipalName") or ""),
        sam_account_name=obj.get("onPremisesSamAccountName"),
        mail=obj.get("mail"),
        given_name=obj.get("givenName"),
        surname=obj.get("surname"),
        display_name=obj.get("displayName"),
        # a user whose flag is unknown is not treated as an enabled end user
        enabled=obj.get("accountEnabled") is True,
        licensed=bool(obj.get("assignedLicenses")),
        immutable_id=obj.get("onPremisesImmutableId"),
        proxy_addresses=tuple(str(a) for a in obj.get("proxyAddresses") or ()),
    )


@dataclass
class SyncReport:
    """What the last `read` did; for logs, metrics and the benchmark."""

    mode: str = ""  # "full" or "delta"
    reason: str = ""  # why a full read happened
    changes: int = 0
    users: int = 0
    stats: ApiStats | None = None


class EntraReader:
    def __init__(
        self,
        ctx: ProviderContext,
        tokens: TokenSource,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = time.sleep,
        retry: RetryPolicy | None = None,
    ) -> None:
        conn = ctx.settings.connections.graph
        assert conn is not None
        self.ctx = ctx
        self.conn = conn
        self.tokens = tokens
        self.where = tokens.where
        self.clock = clock
        self.sleep = sleep
        self.retry = retry or RetryPolicy()
        self.last = SyncReport()

    def read(self, scope: DirectoryScope) -> DirectorySnapshot:
        key = self._selection_key(scope)
        cache, why_not = self._load(key)
        reason = self._full_reason(cache, why_not, scope)
        report = SyncReport()
        with httpx.Client(
            verify=self.tokens.verify,
            timeout=HTTP_TIMEOUT,
            auth=BearerAuth(self.tokens),
            headers={"Accept": "application/json"},
        ) as http:
            api = HttpApi(
                http, self.where, retry=self.retry, extract_error=graph_error_text, sleep=self.sleep
            )
            client = GraphClient(api, self.conn.graph_url)
            users: dict[str, dict[str, Any]] = {}
            link = ""
            if reason is None and cache is not None:
                try:
                    users, link, report.changes = self._apply_changes(client, cache)
                    report.mode = "delta"
                except DeltaExpired as exc:
                    reason = f"delta link expired ({exc})"
            if reason is not None:
                log.info("%s: full read of the tenant: %s", self.where, reason)
                link = client.latest_delta_link()
                users = {str(u["id"]): _slim(u) for u in client.users()}
                report.mode, report.reason = "full", reason
            report.stats = api.stats
        full_at = self.clock() if report.mode == "full" else float(cache["fullAt"]) if cache else self.clock()
        self._save({"format": CACHE_FORMAT, "key": key, "fullAt": full_at, "deltaLink": link, "users": users})
        report.users = len(users)
        self.last = report
        snapshot_users = tuple(to_directory_user(users[i]) for i in sorted(users))
        return DirectorySnapshot(users=snapshot_users)

    # --- sync decisions ---------------------------------------------------------------
    def _full_reason(self, cache: dict[str, Any] | None, why_not: str, scope: DirectoryScope) -> str | None:
        if scope.full_sync:
            return "full sync requested"
        if cache is None:
            return why_not
        age = self.clock() - float(cache["fullAt"])
        if age >= self.conn.full_sync_every_hours * 3600:
            return f"last full read {age / 3600:.1f} h ago (fullSyncEveryHours {self.conn.full_sync_every_hours:g})"
        return None

    def _apply_changes(
        self, client: GraphClient, cache: dict[str, Any]
    ) -> tuple[dict[str, dict[str, Any]], str, int]:
        users: dict[str, dict[str, Any]] = cache["users"]
        changes, link = client.changes(str(cache["deltaLink"]))
        for item in changes:
            user_id = str(item["id"])
            if "@removed" in item:  # "deleted" or "changed" (soft-deleted): gone either way
                users.pop(user_id, None)
            else:  # a new user, or the changed one: merge, as a minimal answer has only changes
                users.setdefault(user_id, {}).update(_slim(item))
        return users, link, len(changes)

    def _selection_key(self, scope: DirectoryScope) -> str:
        parts = [
            str(CACHE_FORMAT),
            self.tokens.tenant_id,
            self.conn.graph_url.rstrip("/"),
            ",".join(USER_SELECT),
            json.dumps([sorted(scope.ous), sorted(scope.groups), scope.nested]),
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    # --- the cache in the state store -------------------------------------------------------
    def _load(self, key: str) -> tuple[dict[str, Any] | None, str]:
        """The cache, or None and why it cannot be used."""
        raw = self.ctx.cursors.get_cursor(self.ctx.name, CURSOR_NAME)
        if not raw:
            return None, "first read of this tenant"
        try:
            data = json.loads(zlib.decompress(base64.b64decode(raw.removeprefix("z1:"))))
        except (ValueError, zlib.error):
            log.warning("%s: cached Entra users are unreadable; reading everything again", self.where)
            return None, "cached users unreadable"
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return None, "cache format changed"
        if data.get("key") != key:
            return None, "tenant, Graph URL, selected fields or scope changed"
        if not isinstance(data.get("users"), dict) or not data.get("deltaLink"):
            return None, "cache incomplete"
        return data, ""

    def _save(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, separators=(",", ":"))
        packed = "z1:" + base64.b64encode(zlib.compress(text.encode(), 1)).decode()
        self.ctx.cursors.put_cursor(self.ctx.name, CURSOR_NAME, packed)


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    """Only the selected fields (drops @odata annotations)."""
    return {k: v for k, v in obj.items() if k in USER_SELECT}


def open_entra(
    ctx: ProviderContext,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = time.sleep,
    retry: RetryPolicy | None = None,
) -> EntraReader:
    """The Entra reader of one customer; resolves the app credential now (no network yet)."""
    where = f"{ctx.name}: entra"
    conn = ctx.settings.connections.graph
    if conn is None:
        raise ProviderError(where, "Settings has no connections.graph (the MSP's Entra app registration)")
    entra = ctx.customer.doc.spec.directories.entra
    if entra is None:
        raise ProviderError(where, "the customer has no directories.entra.tenantId")
    verify = tls_verify(conn.ca_file, conn.insecure_skip_verify, ctx.config_root, where)
    credential = Credential.resolve(conn, ctx.config_root, where)
    tokens = TokenSource(conn, entra.tenant_id, credential, verify, where)
    return EntraReader(ctx, tokens, clock=clock, sleep=sleep, retry=retry)
