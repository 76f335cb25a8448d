"""The one enum of integration kinds, and the role each kind plays.

Config (links, pins), the core (matching, plans, state) and the providers all
name integrations with `IntegrationKind`; nothing compares two enums by value.
A kind's role decides what its records are: password entries (a vault) or
contacts (a PSA).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VAULT = "vault"  # password entries (R12, R13)
    PSA = "psa"  # contacts (R14)


class IntegrationKind(StrEnum):
    ITGLUE = "itglue"
    HUDU = "hudu"
    CONNECTWISE = "connectwise"
    AUTOTASK = "autotask"
    HALO = "halo"

    @property
    def role(self) -> Role:
        return _ROLES[self]


class RecordField(StrEnum):
    """A field of an integration record the directory may own (R25, `recordFields`).
    A closed set per role: a password entry's name and username; a contact's first
    name, last name and email address."""

    ENTRY_NAME = "entryName"
    USERNAME = "username"
    FIRST_NAME = "firstName"
    LAST_NAME = "lastName"
    CONTACT_EMAIL = "contactEmail"

    @property
    def role(self) -> Role:
        return Role.VAULT if self in (RecordField.ENTRY_NAME, RecordField.USERNAME) else Role.PSA


class Ownership(StrEnum):
    """Who decides a record field's value (R25)."""

    DIRECTORY = "directory"  # written from the directory on every sync where it differs
    INTEGRATION = "integration"  # never written by reconciler after creation


class OnRemoval(StrEnum):
    """What becomes of an account's linked records when it is removed (R8)."""

    KEEP = "keep"  # left as they are (the default)
    ARCHIVE = "archive"  # password entry archived, PSA contact set inactive; never deleted


_ROLES = {
    IntegrationKind.ITGLUE: Role.VAULT,
    IntegrationKind.HUDU: Role.VAULT,
    IntegrationKind.CONNECTWISE: Role.PSA,
    IntegrationKind.AUTOTASK: Role.PSA,
    IntegrationKind.HALO: Role.PSA,
}
