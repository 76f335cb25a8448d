"""Apply: execute exactly one customer's planned changes; errors become outcomes.

Order: records of removed accounts archived or set inactive (R8 onRemoval),
before their accounts are forgotten, so a crash in between leaves the account
in state and the next run finishes the removal (the archive is idempotent); then
account removals, additions and updates (state only), committed in
batches (R11) so an interrupted run keeps what it did; then integration links
and record creations, committed in batches too (a file twin writes its file
once per batch), and record updates (R25: only the owned fields that differ,
idempotent, so a rerun after a crash plans nothing for what was written); then
welcome emails. Every external create is journalled
before it is made; if an earlier run left that intent open, the integration is
re-read and a record carrying our marker is linked instead of created again.
Welcome emails are at most once: `pending` is committed before the send and
`sent` after, and a `pending` left by a crash is never resent by itself.

A failed change never aborts the others: it becomes a failed `Outcome`, and
changes that depend on it (links of an account that could not be added) are
skipped. A stop (the daemon shutting down) is an event checked at each change
boundary: the result then holds exactly what was applied before it, `stopped`.

Fencing (apply/lease.py): given a `FencedStore`, every batch and journal row
commits only under the customer's current lease epoch, and the lease is
checked again immediately before each external create and send. A lease lost
mid-apply ends the customer as `TAKEN_OVER` at that boundary, keeping what was
committed before it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from reconciler.apply.lease import check_lease
from reconciler.core.drift import request_fingerprint
from reconciler.core.model import Account, IntegrationKind, Link, NewContact, NewPasswordEntry, WelcomeStatus
from reconciler.core.plan import (
    AccountChange,
    AddAccount,
    ArchiveRecord,
    Change,
    CreateRecord,
    CustomerPlan,
    LinkRecord,
    RemoveAccount,
    SendWelcome,
    UpdateAccount,
    UpdateRecord,
)
from reconciler.core.planning import moved_from
from reconciler.errors import LeaseLostError, NotDelivered, ProviderError, StalePlanError
from reconciler.integrations.kinds import Role
from reconciler.providers.base import BatchWriter, CustomerProviders, writes
from reconciler.state.api import StateStore

log = logging.getLogger("reconciler.apply")


@dataclass(frozen=True)
class Outcome:
    change: Change
    ok: bool
    message: str = ""


class ApplyOutcome(StrEnum):
    """How one customer's apply ended (kopf's `Outcome`, per customer)."""

    APPLIED = "applied"  # every change was attempted (`failed` lists those that failed)
    REFUSED = "refused"  # a safety guard at apply time: nothing attempted
    BUSY = "busy"  # nothing attempted: another holder has the customer, or its state moved
    FAILED = "failed"  # an error stopped this customer (`error` says which)
    TAKEN_OVER = "taken-over"  # the lease was lost: stopped at a boundary, nothing written after
    STOPPED = "stopped"  # a stop was asked: `outcomes` are exactly what was applied before it
    DEFERRED = "deferred"  # a run window (quiet hours) closes a write of the plan: nothing attempted


@dataclass
class CustomerResult:
    customer: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str = ""  # why the customer ended as it did (empty when APPLIED)
    outcome: ApplyOutcome = ApplyOutcome.APPLIED
    retry_at: float | None = None  # DEFERRED: when the windows open (Unix time)

    @property
    def stopped(self) -> bool:
        return self.outcome is ApplyOutcome.STOPPED

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]


Progress = Callable[[int], None]


def apply_customer(
    cplan: CustomerPlan,
    providers: CustomerProviders,
    store: StateStore,
    batch_size: int = 500,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> CustomerResult:
    result = CustomerResult(cplan.customer)
    try:
        _apply_all(cplan, providers, store, batch_size, progress, stop, result)
    except LeaseLostError as exc:
        result.outcome, result.error = ApplyOutcome.TAKEN_OVER, str(exc)
    return result


def _apply_all(
    cplan: CustomerPlan,
    providers: CustomerProviders,
    store: StateStore,
    batch_size: int,
    progress: Progress | None,
    stop: threading.Event | None,
    result: CustomerResult,
) -> None:
    name = cplan.customer
    current = store.serial(name)
    if current != cplan.serial:
        raise StalePlanError(
            f"{name}: the plan was made from state serial {cplan.serial} but the state is now at {current}; plan again"
        )
    tick = progress or (lambda n: None)
    failed_accounts: set[str] = set()

    def stopping() -> bool:
        if stop is not None and stop.is_set():
            result.outcome = ApplyOutcome.STOPPED
        return result.stopped

    # R8 onRemoval: archive first; an account whose record could not be archived is kept
    kept: set[str] = set()
    for archive in (c for c in cplan.changes if isinstance(c, ArchiveRecord)):
        if stopping():
            return
        try:
            check_lease(store)
            _archive(archive, providers)
            result.outcomes.append(Outcome(archive, True))
        except ProviderError as exc:
            result.outcomes.append(Outcome(archive, False, exc.message))
            kept.add(archive.account_key)
        tick(1)

    # R16: one set, so the welcome check per added account is a lookup, not a scan of the plan
    welcomed = {c.account_key for c in cplan.changes if isinstance(c, SendWelcome)}
    account_changes = [c for c in cplan.changes if isinstance(c, AccountChange)]
    if kept:
        for c in account_changes:
            if isinstance(c, RemoveAccount) and c.account_key in kept:
                why = "skipped: its record could not be archived; the account is kept and removed on a later run"
                result.outcomes.append(Outcome(c, False, why))
        account_changes = [
            c for c in account_changes if not (isinstance(c, RemoveAccount) and c.account_key in kept)
        ]
    for start in range(0, len(account_changes), batch_size):
        chunk = account_changes[start : start + batch_size]
        if stopping():
            return
        with store.batch():
            _apply_accounts(name, chunk, store, welcomed)
            store.bump_serial(name)
        result.outcomes.extend(Outcome(c, True) for c in chunk)
        log.info(
            "%s: committed account changes %d-%d of %d",
            name,
            start + 1,
            start + len(chunk),
            len(account_changes),
        )
        tick(len(chunk))

    creates = _Creates(name, providers, store)
    run: list[LinkRecord | CreateRecord] = []  # consecutive links or creates, applied together

    def flush() -> bool:
        start = 0
        while start < len(run):
            if stopping():
                return False
            first = run[0]
            if isinstance(first, LinkRecord):
                links = [c for c in run[start : start + batch_size] if isinstance(c, LinkRecord)]
                result.outcomes.extend(_link_all(name, links, store))
                start += len(links)
                tick(len(links))
            else:
                size = creates.chunk_size(batch_size)
                made = [c for c in run[start : start + size] if isinstance(c, CreateRecord)]
                result.outcomes.extend(creates.apply(made))
                start += len(made)
                tick(len(made))
        run.clear()
        return True

    for change in cplan.changes:
        if isinstance(change, AccountChange | ArchiveRecord):
            continue
        if change.account_key in failed_accounts:
            if not flush():
                return
            result.outcomes.append(Outcome(change, False, "skipped: the account change failed"))
            continue
        if isinstance(change, LinkRecord | CreateRecord):
            if run and type(run[0]) is not type(change) and not flush():
                return
            run.append(change)
            continue
        if not flush() or stopping():
            return
        try:
            if isinstance(change, SendWelcome):
                _send_welcome(name, change, providers, store)
            elif isinstance(change, UpdateRecord):
                _update_record(name, change, providers, store)
            result.outcomes.append(Outcome(change, True))
        except ProviderError as exc:
            result.outcomes.append(Outcome(change, False, exc.message))
        tick(1)
    flush()


def _apply_accounts(customer: str, chunk: list[AccountChange], store: StateStore, welcomed: set[str]) -> None:
    """A chunk's account changes, in plan order; consecutive adds and updates are
    written as one many-row write (a removal or a class change writes what came before it first)."""
    puts: list[Account] = []
    for change in chunk:
        old_key = moved_from(change) if isinstance(change, UpdateAccount) else None
        if isinstance(change, RemoveAccount) or old_key is not None:
            store.put_accounts(customer, puts)
            puts.clear()
        if isinstance(change, RemoveAccount):
            store.remove_account(customer, change.account_key)
        elif old_key is not None:  # a class change: the same account, its links and welcome status, a new key
            store.move_account(customer, old_key, change.account)
        else:
            puts.append(change.account)
            if isinstance(change, AddAccount) and change.account_key in welcomed:
                # R16: the debt is recorded with the account (same commit), so a crash before the send still sends later
                store.set_welcome(customer, change.account_key, WelcomeStatus.DUE)
    store.put_accounts(customer, puts)


def _link_all(customer: str, chunk: list[LinkRecord], store: StateStore) -> list[Outcome]:
    with store.batch():
        store.put_links(customer, [Link(c.account_key, c.integration, c.record_id) for c in chunk])
        # the owned fields as planned: `plan --refresh-only` compares them
        prints = [(c.account_key, c.integration, c.fingerprint) for c in chunk if c.fingerprint]
        store.put_fingerprints(customer, prints)
        store.bump_serial(customer)
    return [Outcome(c, True) for c in chunk]


def _update_record(
    customer: str, change: UpdateRecord, providers: CustomerProviders, store: StateStore
) -> None:
    """R25: write the owned fields that differ; the fingerprint follows, so
    `plan --refresh-only` does not report our own update as an edit from outside."""
    check_lease(store)
    values = change.values()
    if change.integration.role is Role.VAULT:
        if providers.vault is None:
            raise ProviderError(change.label, "no password manager provider")
        providers.vault.update_entry(change.record_id, values)
    else:
        if providers.contacts is None:
            raise ProviderError(change.label, "no PSA provider")
        providers.contacts.update_contact(change.record_id, values)
    if change.fingerprint:
        with store.batch():
            store.put_fingerprint(customer, change.account_key, change.integration, change.fingerprint)
            store.bump_serial(customer)


def _archive(change: ArchiveRecord, providers: CustomerProviders) -> None:
    if change.integration.role is Role.VAULT:
        if providers.vault is None:
            raise ProviderError(change.label, "no password manager provider")
        providers.vault.archive_entry(change.record_id)
    else:
        if providers.contacts is None:
            raise ProviderError(change.label, "no PSA provider")
        providers.contacts.deactivate_contact(change.record_id)


def _send_welcome(
    customer: str, change: SendWelcome, providers: CustomerProviders, store: StateStore
) -> None:
    if providers.mailer is None:
        raise ProviderError(customer, "no mailer configured for welcome emails")
    with store.batch(durable=True):  # R16: a power loss must not forget that the send began
        store.set_welcome(customer, change.account_key, WelcomeStatus.PENDING)
        store.bump_serial(customer)
    check_lease(store)  # R16: `pending` is committed under our epoch; nothing is sent after a takeover
    try:
        providers.mailer.send(change.email)
    except NotDelivered:
        # the server certainly refused it: owed again, sent on a later run
        with store.batch():
            store.set_welcome(customer, change.account_key, WelcomeStatus.DUE)
            store.bump_serial(customer)
        raise
    with store.batch(durable=True):
        store.set_welcome(customer, change.account_key, WelcomeStatus.SENT)
        store.bump_serial(customer)


class _Creates:
    """Record creations of one apply, a chunk at a time: the chunk's intents are
    journalled in one commit, the records created (a file twin writes its file
    once per chunk), then journal, links and serial committed together.

    Intents left open by an interrupted earlier run are read once per apply; only
    then is the integration re-read (once) for records carrying our marker."""

    def __init__(self, customer: str, providers: CustomerProviders, store: StateStore) -> None:
        self.customer, self.providers, self.store = customer, providers, store
        self.lineage = store.lineage()  # written beside the marker: which state created it (#12)
        self.earlier: dict[tuple[str, str], list[int]] = {}
        for j in store.journal_pending(customer):
            self.earlier.setdefault((j.op, j.marker), []).append(j.id)
        self.own: dict[IntegrationKind, dict[str, str]] = {}
        self.whole_file = any(isinstance(p, BatchWriter) for p in (providers.vault, providers.contacts))
        self.created = 0

    def chunk_size(self, batch_size: int) -> int:
        """A provider that rewrites a whole file per batch gets batches that double
        with what this apply created, so the rewrites add up to O(records), not O(n^2)."""
        return max(batch_size, self.created) if self.whole_file else batch_size

    def apply(self, chunk: list[CreateRecord]) -> list[Outcome]:
        keys = [(f"create {c.integration.value}", c.marker) for c in chunk]
        with self.store.batch():  # the chunk's intents, one commit, before any create
            opened = iter(
                self.store.journal_open_many(self.customer, [k for k in keys if k not in self.earlier])
            )
            entry_ids = [self.earlier[k][-1] if k in self.earlier else next(opened) for k in keys]
        found: list[str | None] = []
        errors: list[str] = []
        try:
            with writes(self.providers):
                for change, key in zip(chunk, keys, strict=True):
                    record_id = self._find_own(change) if key in self.earlier else None
                    if record_id is None:
                        check_lease(self.store)  # journalled under our epoch; still ours?
                    try:
                        found.append(
                            record_id
                            if record_id is not None
                            else _create(change, self.providers, self.lineage)
                        )
                        errors.append("")
                    except ProviderError as exc:
                        found.append(None)
                        errors.append(exc.message)
        except ProviderError as exc:
            # a batch that could not be written: its intents stay open, so the next run
            # re-reads the integration and links whatever of it was made (by marker)
            return [Outcome(c, False, exc.message) for c in chunk]
        outcomes: list[Outcome] = []
        closes: list[tuple[int, str, str]] = []
        links: list[Link] = []
        prints: list[tuple[str, IntegrationKind, str]] = []
        for change, key, entry_id, record_id, error in zip(
            chunk, keys, entry_ids, found, errors, strict=True
        ):
            if record_id is None:
                closes.append((entry_id, "failed", error))
                outcomes.append(Outcome(change, False, error))
                continue
            closes.extend(
                (jid, "done", f"found existing record {record_id}") for jid in self.earlier.pop(key, [])[:-1]
            )
            closes.append((entry_id, "done", record_id))
            links.append(Link(change.account_key, change.integration, record_id))
            prints.append((change.account_key, change.integration, request_fingerprint(change.request)))
            outcomes.append(Outcome(change, True))
        with self.store.batch():  # journal closed, links and fingerprints: one commit
            self.store.journal_close_many(closes)
            self.store.put_links(self.customer, links)
            self.store.put_fingerprints(self.customer, prints)
            self.store.bump_serial(self.customer)
        self.created += len(links)
        return outcomes

    def _find_own(self, change: CreateRecord) -> str | None:
        """A record an interrupted earlier run created, found by its marker."""
        if change.integration not in self.own:
            self.own[change.integration] = _own_records(change, self.providers)
        return self.own[change.integration].get(change.marker)


def _create(change: CreateRecord, providers: CustomerProviders, lineage: str) -> str:
    request = _with_lineage(change.request, lineage)
    if isinstance(request, NewPasswordEntry):
        if providers.vault is None:
            raise ProviderError(change.label, "no password manager provider")
        return providers.vault.create_entry(request).id
    if providers.contacts is None:
        raise ProviderError(change.label, "no PSA provider")
    return providers.contacts.create_contact(request).id


def _with_lineage(request: NewPasswordEntry | NewContact, lineage: str) -> NewPasswordEntry | NewContact:
    """The request with `lineage` (#12); built field by field, not by `dataclasses.replace`,
    which walks the fields per call (5% of a 100k apply). tests/engine/test_executor.py
    keeps this equal to `replace` for every field of both classes."""
    if type(request) is NewPasswordEntry:
        return NewPasswordEntry(request.name, request.username, request.category, request.marker, lineage)
    if type(request) is NewContact:
        return NewContact(request.first_name, request.last_name, request.email, request.marker, lineage)
    return replace(request, lineage=lineage)


def _own_records(change: CreateRecord, providers: CustomerProviders) -> dict[str, str]:
    """Marker -> record id of the integration's records that carry a marker."""
    if isinstance(change.request, NewPasswordEntry) and providers.vault is not None:
        return {e.marker: e.id for e in providers.vault.list_entries() if e.marker}
    if isinstance(change.request, NewContact) and providers.contacts is not None:
        return {c.marker: c.id for c in providers.contacts.list_contacts() if c.marker}
    return {}
