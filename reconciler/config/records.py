"""Config stage: how linked integration records are kept up to date (R25) and what
becomes of them when their account is removed (R8): `recordFields` and
`onRemoval` of an import policy (or of customer-level import settings).

`recordFields` names the closed set of fields the directory may own
(`reconciler.integrations.kinds.RecordField`): `entryName` and `username` of a
password entry (IT Glue, Hudu), `firstName`, `lastName` and `contactEmail` of a
PSA contact (ConnectWise, Autotask, Halo). A field listed as `directory` is
written on every sync where the record differs, on every record linked to an
account of the policy; `integration` means never written after creation.

Left out, the default is safe on upgrade: the directory owns `entryName` and
`username` only of the password entries reconciler created itself (they carry its
marker); nothing else is ever written. A blank directory value never overwrites
a filled field.
"""

from __future__ import annotations

from pydantic import Field

from reconciler.config.base import Model
from reconciler.integrations.kinds import OnRemoval, Ownership, RecordField


class RecordFields(Model):
    """Who owns each field of a linked record (R25): `directory` or `integration`."""

    entry_name: Ownership | None = Field(
        default=None,
        description="Password entry name (IT Glue/Hudu), from the display name (else the UPN). "
        "Default: directory for entries reconciler created, else integration.",
    )
    username: Ownership | None = Field(
        default=None,
        description="Password entry username, from the UPN. "
        "Default: directory for entries reconciler created, else integration.",
    )
    first_name: Ownership | None = Field(
        default=None, description="PSA contact first name, from givenName. Default: integration."
    )
    last_name: Ownership | None = Field(
        default=None, description="PSA contact last name, from surname. Default: integration."
    )
    contact_email: Ownership | None = Field(
        default=None, description="PSA contact email address, from mail. Default: integration."
    )

    def owner(self, name: RecordField, created_by_us: bool) -> Ownership:
        """Who owns `name` on one record (`created_by_us`: it carries our marker)."""
        said: Ownership | None = getattr(self, _ATTRS[name])
        if said is not None:
            return said
        if name in (RecordField.ENTRY_NAME, RecordField.USERNAME) and created_by_us:
            return Ownership.DIRECTORY
        return Ownership.INTEGRATION


_ATTRS = {
    RecordField.ENTRY_NAME: "entry_name",
    RecordField.USERNAME: "username",
    RecordField.FIRST_NAME: "first_name",
    RecordField.LAST_NAME: "last_name",
    RecordField.CONTACT_EMAIL: "contact_email",
}

__all__ = ["OnRemoval", "Ownership", "RecordField", "RecordFields"]
