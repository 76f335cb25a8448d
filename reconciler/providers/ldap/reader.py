"""Live stage (AD): `AdReader`, the DirectoryReader for one customer's domain.

    reader = open_ad(ctx)
    problems = reader.check_selection(scope)   # list[str]; empty when all is well
    snapshot = reader.read(scope)              # DirectorySnapshot
    reader.last_sync                            # "full" | "incremental" | "unchanged"
    reader.last_reason                          # why, and how removals were found
    reader.stats                                # searches / requests / entries of the last call

Each call opens its own connection and closes it, so a reader holds no socket
between runs. `read` refuses (ProviderError) a selection that does not exist or
that R4/R5 forbid, rather than return an empty or dangerous user list;
`check_selection` reports the same problems plus R7 overlaps, one line each.
The users include disabled accounts (`enabled=False`); the core filters them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from pydantic import SecretStr

from reconciler.config.models import ActiveDirectory
from reconciler.core.model import DirectorySnapshot
from reconciler.errors import WARNING, ProviderError
from reconciler.providers.base import DirectoryScope, ProviderContext
from reconciler.providers.ldap import conn
from reconciler.providers.ldap.conn import Endpoint, NoSuchObject, SearchStats, Session
from reconciler.providers.ldap.renames import (
    follow_renames,
    remember,
    remembered,
    rename_warnings,
    renamed_lines,
)
from reconciler.providers.ldap.selection import describe, overlap_problems
from reconciler.providers.ldap.state import CURSOR_NAME, SyncState, snapshot
from reconciler.providers.ldap.sync import (
    NeedFull,
    full_sync,
    incremental_sync,
    resolve_scope,
    scope_key,
)
from reconciler.secrets import resolve


class AdReader:
    presence_every_seconds = 24 * 3600.0  # list every selection's members at least this often

    def __init__(
        self,
        ctx: ProviderContext,
        ad: ActiveDirectory,
        endpoint: Endpoint,
        user: SecretStr,
        password: SecretStr,
    ) -> None:
        self.ctx = ctx
        self.base_dn = ad.base_dn
        self.endpoint = endpoint
        self._user = user
        self._password = password
        self.stats = SearchStats()
        self.last_sync = ""
        self.last_reason = ""
        self.clock: Callable[[], float] = time.time

    @property
    def where(self) -> str:
        return self.endpoint.where

    def _session(self) -> Session:
        self.stats = SearchStats()
        return conn.open_session(self.endpoint, self._user, self._password, self.stats)

    @contextlib.contextmanager
    def _clear_errors(self) -> Iterator[None]:
        """What escapes the sync code as other exceptions becomes this customer's error."""
        try:
            yield
        except NoSuchObject as missing:
            raise ProviderError(
                self.where, f"{missing.base!r} does not exist on the DC (check baseDn and the selection)"
            ) from None
        except ValueError as exc:  # undecodable data, e.g. no objectGUID readable
            raise ProviderError(self.where, f"unexpected data from the DC: {exc}") from None

    def check_selection(self, scope: DirectoryScope) -> list[str]:
        """Problems with the selected OUs and groups, each naming the customer, which
        import selects the entry, and the entry as written."""
        if not scope.ous and not scope.groups:
            return []
        with self._session() as session, self._clear_errors():
            resolved = resolve_scope(session, scope)
            resolved = follow_renames(
                session, self.base_dn, resolved, remembered(self.ctx.cursors, self.ctx.name)
            )
        problems = [p for r in resolved for p in describe(self.ctx.customer, r)]
        warnings = [f"{WARNING}customer {self.ctx.name}: {line}" for line in renamed_lines(resolved)]
        return warnings + problems + overlap_problems(self.ctx.customer, resolved)

    def read(self, scope: DirectoryScope) -> DirectorySnapshot:
        if not scope.ous and not scope.groups:
            self.last_sync, self.last_reason = "full", "nothing selected"
            return DirectorySnapshot(users=())
        key = scope_key(scope, self.base_dn)
        with self._session() as session, self._clear_errors():
            state, reason = None, "full sync requested"
            if not scope.full_sync:
                state, reason = self._incremental(session, scope, key)
            if state is None:
                resolved = resolve_scope(session, scope)
                known = remembered(self.ctx.cursors, self.ctx.name)
                resolved = follow_renames(session, self.base_dn, resolved, known)
                problems = [p for r in resolved for p in describe(self.ctx.customer, r)]
                if problems:
                    raise ProviderError(self.where, "selection refused: " + "; ".join(problems))
                state = full_sync(session, scope, self.base_dn, resolved, self.clock())
                remember(self.ctx.cursors, self.ctx.name, state)
                self.last_sync, self.last_reason = "full", reason
        conn.tally(**{f"{self.last_sync}_reads": 1})
        if self.last_sync != "unchanged":
            self.ctx.cursors.put_cursor(self.ctx.name, CURSOR_NAME, state.to_json())
        self.ctx.log.info(
            "%s: %s read (%s): %d users, %d searches, %d requests",
            self.where, self.last_sync, self.last_reason, len(state.users),
            self.stats.searches, self.stats.requests,
        )  # fmt: skip
        return replace(snapshot(state), warnings=tuple(rename_warnings(state)))

    def _incremental(self, session: Session, scope: DirectoryScope, key: str) -> tuple[SyncState | None, str]:
        stored = self.ctx.cursors.get_cursor(self.ctx.name, CURSOR_NAME)
        prev = SyncState.from_json(stored) if stored else None
        if prev is None:
            return None, "no usable cursor"
        if prev.scope_key != key:
            return None, "the selection changed"
        usn = prev.usn
        try:
            state, removals = incremental_sync(
                session, scope, self.base_dn, prev, self.clock(), self.presence_every_seconds
            )
        except NeedFull as why:
            return None, str(why)
        if state.usn == usn:
            self.last_sync, self.last_reason = "unchanged", f"highestCommittedUSN still {usn}"
        else:
            self.last_sync, self.last_reason = (
                "incremental",
                f"changes after USN {usn}; removals by {removals}",
            )
        return state, ""


def open_ad(ctx: ProviderContext) -> AdReader:
    """The customer's AD reader; resolves the bind secrets now, connects per call."""
    ad = ctx.customer.doc.spec.directories.active_directory
    if ad is None:
        raise ProviderError(ctx.name, "an activeDirectory import needs spec.directories.activeDirectory")
    where_server = ad.server
    where = f"{ctx.name} (Active Directory {where_server})"
    endpoint = conn.make_endpoint(ad, Path(ctx.config_root), where)
    user = resolve(ad.bind_user, ctx.secret_roots, f"{where} bindUser")
    password = resolve(ad.bind_password, ctx.secret_roots, f"{where} bindPassword")
    return AdReader(ctx, ad, endpoint, user, password)
