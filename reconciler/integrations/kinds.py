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

    @property
    def role(self) -> Role:
        return _ROLES[self]


_ROLES = {
    IntegrationKind.ITGLUE: Role.VAULT,
    IntegrationKind.HUDU: Role.VAULT,
    IntegrationKind.CONNECTWISE: Role.PSA,
    IntegrationKind.AUTOTASK: Role.PSA,
}
