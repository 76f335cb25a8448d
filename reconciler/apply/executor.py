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
skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.core.model import Link, WelcomeStatus
from reconciler.core.plan import Change, ChangeKind, CustomerPlan
from reconciler.core.planning import moved_from
from reconciler.errors import NotDelivered, ProviderError, StalePlanError
from reconciler.providers.base import CustomerProviders
from reconciler.state.store import SqliteStore

ACCOUNT_KINDS = (ChangeKind.REMOVE, ChangeKind.ADD, ChangeKind.UPDATE)


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
    store: SqliteStore,
    batch_size: int = 500,
    progress: Progress | None = None,
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

    account_changes = [c for c in cplan.changes if c.kind in ACCOUNT_KINDS]
    for start in range(0, len(account_changes), batch_size):
        chunk = account_changes[start : start + batch_size]
        with store.batch():
            for change in chunk:
                _apply_account(name, change, store, cplan)
            store.bump_serial(name)
        result.outcomes.extend(Outcome(c, True) for c in chunk)
        tick(len(chunk))

    for change in cplan.changes:
        if change.kind in ACCOUNT_KINDS:
            continue
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


def _apply_account(customer: str, change: Change, store: SqliteStore, cplan: CustomerPlan) -> None:
    if change.kind is ChangeKind.REMOVE:
        store.remove_account(customer, change.account_key)
        return
    assert change.account is not None
    old_key = moved_from(change) if change.kind is ChangeKind.UPDATE else None
    if old_key is not None:  # a class change: the same account, its links and welcome status, a new key
        store.move_account(customer, old_key, change.account)
        return
    store.put_account(customer, change.account)
    if change.kind is ChangeKind.ADD and any(
        c.kind is ChangeKind.SEND_WELCOME and c.account_key == change.account_key for c in cplan.changes
    ):
        # R16: the debt is recorded with the account, so a crash before the send still sends later
        store.set_welcome(customer, change.account_key, WelcomeStatus.DUE)


def _apply_external(customer: str, change: Change, providers: CustomerProviders, store: SqliteStore) -> None:
    if change.kind is ChangeKind.LINK:
        assert change.integration is not None and change.record_id is not None
        with store.batch():
            store.put_link(customer, Link(change.account_key, change.integration, change.record_id))
            store.bump_serial(customer)
        return
    if change.kind is ChangeKind.CREATE_RECORD:
        _create_record(customer, change, providers, store)
        return
    if change.kind is ChangeKind.SEND_WELCOME:
        assert change.email is not None
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


def _create_record(customer: str, change: Change, providers: CustomerProviders, store: SqliteStore) -> None:
    assert change.integration is not None
    marker = (change.new_entry or change.new_contact).marker  # type: ignore[union-attr]
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


def _create(change: Change, providers: CustomerProviders) -> str:
    if change.new_entry is not None:
        if providers.vault is None:
            raise ProviderError(change.label, "no password manager provider")
        return providers.vault.create_entry(change.new_entry).id
    assert change.new_contact is not None
    if providers.contacts is None:
        raise ProviderError(change.label, "no PSA provider")
    return providers.contacts.create_contact(change.new_contact).id


def _find_own(change: Change, providers: CustomerProviders, marker: str) -> str | None:
    """Re-read the integration for a record an interrupted earlier run created."""
    if change.new_entry is not None and providers.vault is not None:
        return next((e.id for e in providers.vault.list_entries() if e.marker == marker), None)
    if change.new_contact is not None and providers.contacts is not None:
        return next((c.id for c in providers.contacts.list_contacts() if c.marker == marker), None)
    return None
