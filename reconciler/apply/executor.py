"""Apply: execute exactly one customer's planned changes; errors become outcomes.

Order: account removals, additions and updates (state only), committed in
batches (R11) so an interrupted run keeps what it did; then integration links
and record creations; then welcome emails. Every external create is journalled
before it is made; if an earlier run left that intent open, the integration is
re-read and a record carrying our marker is linked instead of created again.
Welcome emails are at most once: `pending` is committed before the send and
`sent` after, and a `pending` left by a crash is never resent by itself.

A failed change never aborts the others: it becomes a failed `Outcome`, and
changes that depend on it (links of an account that could not be added) are
skipped. A stop (the daemon shutting down) is an event checked at each change
boundary: the result then holds exactly what was applied before it, `stopped`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.core.model import Link, NewContact, NewPasswordEntry, WelcomeStatus
from reconciler.core.plan import (
    AccountChange,
    AddAccount,
    Change,
    ChangeKind,
    CreateRecord,
    CustomerPlan,
    LinkRecord,
    RemoveAccount,
    SendWelcome,
    UpdateAccount,
)
from reconciler.core.planning import moved_from
from reconciler.errors import NotDelivered, ProviderError, StalePlanError
from reconciler.providers.base import CustomerProviders
from reconciler.state.api import StateStore


@dataclass(frozen=True)
class Outcome:
    change: Change
    ok: bool
    message: str = ""


@dataclass
class CustomerResult:
    customer: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str = ""
    refused: bool = False  # by a safety guard at apply time
    busy: bool = False  # nothing attempted: another apply holds the customer or moved its state
    stopped: bool = False  # a stop was asked: `outcomes` are exactly what was applied before it

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
    name = cplan.customer
    result = CustomerResult(name)
    current = store.serial(name)
    if current != cplan.serial:
        raise StalePlanError(
            f"{name}: the plan was made from state serial {cplan.serial} but the state is now at {current}; plan again"
        )
    tick = progress or (lambda n: None)
    failed_accounts: set[str] = set()

    def stopping() -> bool:
        result.stopped = stop is not None and stop.is_set()
        return result.stopped

    account_changes = [c for c in cplan.changes if isinstance(c, AccountChange)]
    for start in range(0, len(account_changes), batch_size):
        chunk = account_changes[start : start + batch_size]
        if stopping():
            return result
        with store.batch():
            for account_change in chunk:
                _apply_account(name, account_change, store, cplan)
            store.bump_serial(name)
        result.outcomes.extend(Outcome(c, True) for c in chunk)
        tick(len(chunk))

    for change in cplan.changes:
        if isinstance(change, AccountChange):
            continue
        if stopping():
            return result
        if change.account_key in failed_accounts:
            result.outcomes.append(Outcome(change, False, "skipped: the account change failed"))
            continue
        try:
            _apply_external(name, change, providers, store)
            result.outcomes.append(Outcome(change, True))
        except ProviderError as exc:
            result.outcomes.append(Outcome(change, False, exc.message))
        tick(1)
    return result


def _apply_account(customer: str, change: AccountChange, store: StateStore, cplan: CustomerPlan) -> None:
    if isinstance(change, RemoveAccount):
        store.remove_account(customer, change.account_key)
        return
    old_key = moved_from(change) if isinstance(change, UpdateAccount) else None
    if old_key is not None:  # a class change: the same account, its links and welcome status, a new key
        store.move_account(customer, old_key, change.account)
        return
    store.put_account(customer, change.account)
    if isinstance(change, AddAccount) and any(
        c.kind is ChangeKind.SEND_WELCOME and c.account_key == change.account_key for c in cplan.changes
    ):
        # R16: the debt is recorded with the account, so a crash before the send still sends later
        store.set_welcome(customer, change.account_key, WelcomeStatus.DUE)


def _apply_external(customer: str, change: Change, providers: CustomerProviders, store: StateStore) -> None:
    if isinstance(change, LinkRecord):
        with store.batch():
            store.put_link(customer, Link(change.account_key, change.integration, change.record_id))
            store.bump_serial(customer)
        return
    if isinstance(change, CreateRecord):
        _create_record(customer, change, providers, store)
        return
    if isinstance(change, SendWelcome):
        if providers.mailer is None:
            raise ProviderError(customer, "no mailer configured for welcome emails")
        with store.batch():
            store.set_welcome(customer, change.account_key, WelcomeStatus.PENDING)
            store.bump_serial(customer)
        try:
            providers.mailer.send(change.email)
        except NotDelivered:
            # the server certainly refused it: owed again, sent on a later run
            with store.batch():
                store.set_welcome(customer, change.account_key, WelcomeStatus.DUE)
                store.bump_serial(customer)
            raise
        with store.batch():
            store.set_welcome(customer, change.account_key, WelcomeStatus.SENT)
            store.bump_serial(customer)


def _create_record(
    customer: str, change: CreateRecord, providers: CustomerProviders, store: StateStore
) -> None:
    marker = change.marker
    op = f"create {change.integration.value}"
    earlier = [j for j in store.journal_pending(customer) if j.marker == marker and j.op == op]
    record_id = _find_own(change, providers, marker) if earlier else None
    entry_id = earlier[-1].id if earlier else store.journal_open(customer, op, marker)
    try:
        if record_id is None:
            record_id = _create(change, providers)
    except ProviderError as exc:
        with store.batch():
            store.journal_close(entry_id, "failed", exc.message)
        raise
    with store.batch():
        for j in earlier:
            store.journal_close(j.id, "done", f"found existing record {record_id}")
        store.journal_close(entry_id, "done", record_id)
        store.put_link(customer, Link(change.account_key, change.integration, record_id))
        store.bump_serial(customer)


def _create(change: CreateRecord, providers: CustomerProviders) -> str:
    if isinstance(change.request, NewPasswordEntry):
        if providers.vault is None:
            raise ProviderError(change.label, "no password manager provider")
        return providers.vault.create_entry(change.request).id
    if providers.contacts is None:
        raise ProviderError(change.label, "no PSA provider")
    return providers.contacts.create_contact(change.request).id


def _find_own(change: CreateRecord, providers: CustomerProviders, marker: str) -> str | None:
    """Re-read the integration for a record an interrupted earlier run created."""
    if isinstance(change.request, NewPasswordEntry) and providers.vault is not None:
        return next((e.id for e in providers.vault.list_entries() if e.marker == marker), None)
    if isinstance(change.request, NewContact) and providers.contacts is not None:
        return next((c.id for c in providers.contacts.list_contacts() if c.marker == marker), None)
    return None
