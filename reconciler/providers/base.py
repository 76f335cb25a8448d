"""Live stage: the interfaces every directory and integration provider implements.

A provider is bound to one customer when it is opened (`ProviderContext`), so
calls carry no customer arguments. Providers raise `ProviderError` with the
customer and integration in `where`; the engine turns that into a per-customer
error and goes on with the other customers. Secrets are resolved inside the
provider, only when it is opened, with `reconciler.secrets.resolve`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx

from reconciler.config.models import SettingsSpec
from reconciler.config.resolve import EffectiveCustomer
from reconciler.config.secretpaths import SecretRoots
from reconciler.core.events import NO_EVENTS, EventSink
from reconciler.core.model import (
    DirectorySnapshot,
    IntegrationKind,
    NewContact,
    NewPasswordEntry,
    PasswordEntry,
    PsaContact,
    WelcomeEmail,
)
from reconciler.integrations.kinds import RecordField


@dataclass(frozen=True)
class DirectoryScope:
    """What to read: the union of a customer's end-user and admin selections.

    AD: `ous` and `groups` (DNs); `nested` asks for members of nested groups too
    (and the groups in between), so the core can report them (R6) or import them
    when the policy opts in.
    Entra: `entra_groups` (object ids or display names, exclusions included) whose
    transitive members are read, `entra_direct` those whose direct members are
    needed too (a selection with nesting off), `entra_roles` (roleDefinitionIds),
    `entra_eligible` (PIM-eligible holders too), `entra_skus` (map licence part
    numbers). Nothing of these set: only the users are read."""

    ous: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    nested: bool = True
    full_sync: bool = False
    entra_groups: tuple[str, ...] = ()
    entra_direct: tuple[str, ...] = ()
    entra_roles: tuple[str, ...] = ()
    entra_eligible: bool = False
    entra_skus: bool = False
    refresh_selection: bool = False  # import now: read groups and roles afresh (not the users)

    @property
    def entra_selects(self) -> bool:
        return bool(self.entra_groups or self.entra_roles or self.entra_skus)


class CursorStore(Protocol):
    """Per-customer provider memory kept in the state store (delta links, USNs,
    cached directory contents). Values are opaque text."""

    def get_cursor(self, customer: str, name: str) -> str | None: ...

    def put_cursor(self, customer: str, name: str, value: str | None) -> None: ...


@dataclass(frozen=True)
class ProviderContext:
    config_root: Path
    settings: SettingsSpec
    customer: EffectiveCustomer
    cursors: CursorStore
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("reconciler"))
    # every vendor client's requests go through this when set (httpx.MockTransport in tests)
    transport: httpx.BaseTransport | None = None
    # typed notification events go here (`events.emit(BudgetExhausted(...))`); the daemon's
    # notifier in a daemon run, nothing in a CLI run
    events: EventSink = NO_EVENTS

    @property
    def name(self) -> str:
        return self.customer.name

    @property
    def secret_roots(self) -> SecretRoots:
        """Where `{file: ...}` secrets may be read from (config dir + secretDirs)."""
        return SecretRoots.of(self.config_root, self.settings.secret_dirs)


class DirectoryReader(Protocol):
    def read(self, scope: DirectoryScope) -> DirectorySnapshot: ...


@runtime_checkable
class SelectionChecker(Protocol):
    """A directory that can check a selection live (R4, R5, R7 by object identity)."""

    def check_selection(self, scope: DirectoryScope) -> list[str]: ...


class PasswordVault(Protocol):
    """IT Glue organization / Hudu company of one customer.

    `update_entry` writes exactly the fields given (R25: never the notes that carry
    the marker); `archive_entry` archives an entry (R8 onRemoval), never deletes.
    Both are idempotent: writing the same values or archiving an archived entry
    again changes nothing."""

    kind: IntegrationKind

    def list_entries(self) -> list[PasswordEntry]: ...

    def create_entry(self, new: NewPasswordEntry) -> PasswordEntry: ...

    def update_entry(self, record_id: str, values: Mapping[RecordField, str]) -> None: ...

    def archive_entry(self, record_id: str) -> None: ...


class ContactBook(Protocol):
    """ConnectWise / Autotask / Halo company of one customer; updates and
    deactivation as for `PasswordVault` (a contact is set inactive, never deleted)."""

    kind: IntegrationKind

    def list_contacts(self) -> list[PsaContact]: ...

    def create_contact(self, new: NewContact) -> PsaContact: ...

    def update_contact(self, record_id: str, values: Mapping[RecordField, str]) -> None: ...

    def deactivate_contact(self, record_id: str) -> None: ...


class Mailer(Protocol):
    def send(self, mail: WelcomeEmail) -> None: ...


@dataclass
class CustomerProviders:
    """Everything one customer's reconcile talks to; None where not configured."""

    entra: DirectoryReader | None = None
    ad: DirectoryReader | None = None
    vault: PasswordVault | None = None
    contacts: ContactBook | None = None
    mailer: Mailer | None = None

    def close(self) -> None:
        for provider in (self.entra, self.ad, self.vault, self.contacts, self.mailer):
            release(provider)


def release(provider: object) -> None:
    """Release a provider's connections if it holds any (providers with a close())."""
    close = getattr(provider, "close", None)
    if callable(close):
        close()


@runtime_checkable
class BatchWriter(Protocol):
    """A provider that can gather creates and write them together (the file twins:
    one atomic file write per batch instead of one per record)."""

    def writes(self) -> AbstractContextManager[None]: ...


@contextmanager
def writes(providers: CustomerProviders) -> Iterator[None]:
    """Every batch-capable integration of a customer gathers its creates until the end."""
    with ExitStack() as stack:
        for provider in (providers.vault, providers.contacts):
            if isinstance(provider, BatchWriter):
                stack.enter_context(provider.writes())
        yield
