"""Live stage (Entra): one customer's tenant as a `DirectoryReader`, kept current by delta.

A full read pages `/users` (999 per page) after anchoring a delta link with
`$deltatoken=latest`, so changes made during the read come again in the next
delta round (applied idempotently). The users and the delta link are kept per
customer in the state store (`cache.py`). Later reads fetch only the changes and
apply them, `@removed` included.

A full read happens when there is no usable cache, when asked
(`DirectoryScope.full_sync`), when what we read changed (tenant, Graph URL,
selected fields, scope), when the delta link expired (410, or 400
syncStateNotFound), when the stored delta link is not on graphUrl (a tampered
state store: it is discarded, never followed), and every `fullSyncEveryHours`
as a safety net.

The reader returns every user; deciding who is an end user (licensed and
enabled, R1, R22) is the pure core's job. Groups, directory roles and licences
that the selection names are read by `selection.py`, at the request floor: a
cycle without changes costs one users delta and one group delta.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from reconciler.core.model import DirectorySnapshot
from reconciler.errors import ProviderError
from reconciler.providers.base import DirectoryScope, ProviderContext
from reconciler.providers.graph import cache
from reconciler.providers.graph.auth import BearerAuth, Credential, TokenSource
from reconciler.providers.graph.client import USER_SELECT, DeltaExpired, GraphClient, graph_error_text
from reconciler.providers.graph.selection import read_selection, selection_key
from reconciler.providers.http import ApiStats, HttpApi, RetryPolicy, build_client
from reconciler.providers.limits import Sleep
from reconciler.providers.tlsauth import tls_verify

HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

log = logging.getLogger("reconciler.providers.graph")


@dataclass
class SyncReport:
    """What the last `read` did; for logs, metrics and the benchmark."""

    mode: str = ""  # "full" or "delta"
    reason: str = ""  # why a full read happened
    changes: int = 0
    users: int = 0
    stats: ApiStats | None = None
    selection: str = ""  # "", "full" or "delta": how groups / roles were read


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
        cached, why_not = cache.load(self.ctx.cursors, self.ctx.name, key)
        reason = self._full_reason(cached, why_not, scope)
        report = SyncReport()
        with self.session() as client:
            api = client.api
            if reason is None and cached is not None and not client.owns(cached.delta_link):
                # the state store was edited or damaged: never send the token elsewhere
                log.warning(
                    "%s: the stored delta link is not on graphUrl; discarded, reading the whole tenant",
                    self.where,
                )
                reason = "stored delta link is not on graphUrl (discarded)"
            if reason is None and cached is not None:
                try:
                    report.changes = self._apply_changes(client, cached)
                    report.mode = "delta"
                except DeltaExpired as exc:
                    reason = f"delta link expired ({exc})"
            if reason is not None:
                log.info("%s: full read of the tenant: %s", self.where, reason)
                link = client.latest_delta_link()
                rows = {str(u["id"]): cache.row_of(u) for u in client.users()}
                cached = cache.TenantCache(key, self.clock(), link, rows)
                report.mode, report.reason = "full", reason
            picked = read_selection(
                client,
                self.ctx.cursors,
                self.ctx.name,
                scope,
                selection_key(scope, self.tokens.tenant_id, self.conn.graph_url),
                report.mode == "full",
                self.clock,
            )
            report.selection = picked.mode
            report.stats = api.stats
        assert cached is not None
        cache.save(
            self.ctx.cursors, self.ctx.name, cached, users_changed=report.mode == "full" or report.changes > 0
        )
        report.users = len(cached.rows)
        self.last = report
        return DirectorySnapshot(
            users=tuple(cache.user_of(cached.rows[i]) for i in sorted(cached.rows)),
            groups=picked.groups,
            roles=picked.roles,
            skus=picked.skus,
            roles_read_at=picked.roles_at,
            warnings=picked.warnings,
        )

    def check_selection(self, scope: DirectoryScope) -> list[str]:
        """`validate --live`: the selected Entra groups resolve (renamed ones warn)."""
        from reconciler.providers.graph.checks import check_groups

        if not scope.entra_groups:
            return []
        with self.session() as client:
            return check_groups(client, self.ctx.cursors, self.ctx.name, scope.entra_groups)

    @contextlib.contextmanager
    def session(self) -> Iterator[GraphClient]:
        """A Graph client with this tenant's bearer token, closed afterwards."""
        with build_client(
            self.where,
            self.conn,
            self.ctx.config_root,
            timeout=HTTP_TIMEOUT,
            auth=BearerAuth(self.tokens),
            headers={"Accept": "application/json"},
            transport=self.ctx.transport,
            pool=f"graph {self.conn.graph_url} {self.conn.client_id}",  # the token is per request
        ) as http:
            api = HttpApi(
                http, self.where, retry=self.retry, extract_error=graph_error_text, sleep=self.sleep
            )
            yield GraphClient(api, self.conn.graph_url)

    def _full_reason(
        self, cached: cache.TenantCache | None, why_not: str, scope: DirectoryScope
    ) -> str | None:
        if scope.full_sync:
            return "full sync requested"
        if cached is None:
            return why_not
        age = self.clock() - cached.full_at
        if age >= self.conn.full_sync_every_hours * 3600:
            return f"last full read {age / 3600:.1f} h ago (fullSyncEveryHours {self.conn.full_sync_every_hours:g})"
        return None

    def _apply_changes(self, client: GraphClient, cached: cache.TenantCache) -> int:
        """Fetch one delta round and apply it to `cached` (only once all of it arrived)."""
        changes, link = client.changes(cached.delta_link)
        rows = cached.rows
        for item in changes:
            user_id = str(item["id"])
            if "@removed" in item:  # "deleted" or "changed" (soft-deleted): gone either way
                rows.pop(user_id, None)
            elif user_id in rows:
                cache.merge(rows[user_id], item)
            else:
                rows[user_id] = cache.row_of(item)
        cached.delta_link = link
        return len(changes)

    def _selection_key(self, scope: DirectoryScope) -> str:
        parts = [
            str(cache.FORMAT),
            self.tokens.tenant_id,
            self.conn.graph_url.rstrip("/"),
            ",".join(USER_SELECT),
            json.dumps(
                [sorted(scope.ous), sorted(scope.groups), scope.nested]
            ),  # AD scope: kept for stable keys
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


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
    credential = Credential.resolve(conn, ctx.secret_roots, where)
    tokens = TokenSource(conn, entra.tenant_id, credential, verify, where, retry, sleep)
    return EntraReader(ctx, tokens, clock=clock, sleep=sleep, retry=retry)
