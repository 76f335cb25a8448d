"""Config stage: the document kinds as pydantic models (the source of `schemas/`).

Every document is `apiVersion / kind / metadata {name, labels} / spec`. Field
names are camelCase in YAML. Secrets are references (`{env: NAME}` or
`{file: path}`), never literals: a plain string where a secret belongs is a
validation error, and the message never echoes it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from pydantic import (
    Field,
    create_model,
)

from reconciler.config.base import HTTPS_URL_PATTERN as HTTPS_URL_PATTERN
from reconciler.config.base import Model as Model
from reconciler.config.base import RecordId as RecordId
from reconciler.config.base import Secret
from reconciler.config.base import SecretRef as SecretRef
from reconciler.config.base import TlsOptions as TlsOptions
from reconciler.config.records import OnRemoval, RecordFields
from reconciler.config.selectors import LabelSelector as LabelSelector
from reconciler.config.settings import NAME_PATTERN as NAME_PATTERN
from reconciler.config.settings import NOTIFICATION_EVENTS as NOTIFICATION_EVENTS
from reconciler.config.settings import CertificateCredential as CertificateCredential
from reconciler.config.settings import Connections as Connections
from reconciler.config.settings import DaemonSettings as DaemonSettings
from reconciler.config.settings import DaemonTls as DaemonTls
from reconciler.config.settings import Features as Features
from reconciler.config.settings import GraphConnection as GraphConnection
from reconciler.config.settings import GraphCredential as GraphCredential
from reconciler.config.settings import NotificationTarget as NotificationTarget
from reconciler.config.settings import Safety as Safety
from reconciler.config.settings import SettingsSpec as SettingsSpec
from reconciler.config.settings import SmtpConnection as SmtpConnection
from reconciler.config.settings import SnapshotSettings as SnapshotSettings
from reconciler.config.settings import StateSettings as StateSettings
from reconciler.config.settings import WelcomeEmailSettings as WelcomeEmailSettings
from reconciler.config.settings import _Connections as _Connections
from reconciler.config.values import (
    HostPort,
    Labels,
    LongText,
    TenantId,
    Text,
)
from reconciler.config.windows import QuietHours
from reconciler.integrations.kinds import IntegrationKind
from reconciler.integrations.table import TABLE

API_VERSION = "reconciler.dev/v1"


# --- secrets ---------------------------------------------------------------------------


# --- shared pieces ---------------------------------------------------------------------


class Metadata(Model):
    name: str = Field(pattern=NAME_PATTERN, description="Unique name of this kind, DNS-label style.")
    labels: Labels = Field(
        default_factory=dict,
        description="key: value pairs that policies select customers by (appliesTo.labelSelector).",
    )


# --- Customer --------------------------------------------------------------------------


class EntraDirectory(Model):
    tenant_id: TenantId = Field(description="The tenant's Directory ID (a GUID).")


class TlsMode(StrEnum):
    LDAPS = "ldaps"
    STARTTLS = "starttls"
    PLAIN_INSECURE = "plain-insecure"


class ActiveDirectory(TlsOptions):
    server: HostPort = Field(description="Host name or host:port of a domain controller.")
    base_dn: LongText = Field(
        description="Where users are searched, e.g. DC=acme,DC=local; relative selections hang below it."
    )
    bind_user: Secret = Field(description="The account reconciler binds as, as a secret reference.")
    bind_password: Secret = Field(description="Its password, as a secret reference.")
    tls: TlsMode = Field(
        default=TlsMode.LDAPS,
        description="ldaps (636), starttls (389 upgraded) or plain-insecure (tests only).",
    )
    timeout_seconds: float = Field(default=15.0, gt=0, le=600, description="Per LDAP operation.")


class Directories(Model):
    entra: EntraDirectory | None = Field(
        default=None, description="The customer's Entra ID (Microsoft 365) tenant."
    )
    active_directory: ActiveDirectory | None = Field(
        default=None, description="The customer's on-premises Active Directory."
    )


class _Integrations(Model):
    """The customer's records in its integrations, one link per integration of the table."""


if TYPE_CHECKING:
    Integrations = _Integrations
else:
    Integrations = create_model(
        "Integrations",
        __base__=_Integrations,
        **{
            f.link_attr: (RecordId | None, Field(default=None, description=f.link_description))
            for f in TABLE.values()
        },
    )


class Pin(Model):
    """R18: resolve a matching conflict by naming the record to link."""

    account: Text = Field(description="Account UPN (or sAMAccountName).")
    integration: IntegrationKind = Field(description="The integration the record is in.")
    record_id: RecordId = Field(
        description="The id of the record to link (one of the candidates the plan named)."
    )


class Source(StrEnum):
    ENTRA = "entra"
    ACTIVE_DIRECTORY = "activeDirectory"


class Exclude(Model):
    """Left out even when selected: service accounts, shared mailboxes, break-glass accounts."""

    groups: tuple[LongText, ...] = Field(
        default=(),
        description="Members of these groups are left out (AD: DNs; Entra: object ids or display names).",
    )
    upns: tuple[LongText, ...] = Field(
        default=(), description="UPN patterns (shell globs, case-insensitive), e.g. svc-*@contoso.com."
    )
    domains: tuple[LongText, ...] = Field(
        default=(), description="UPN domains, e.g. contoso.onmicrosoft.com."
    )

    @property
    def empty(self) -> bool:
        return not (self.groups or self.upns or self.domains)


class Selection(Model):
    """Who is imported.

    Active Directory (R2): OUs or security groups (distinguished names), not both.
    A DN without DC= components (`OU=Staff`) is relative to each customer's AD baseDn.

    Entra (R22, R23): `licensed` (default true) and/or `groups` (object ids or
    display names), `skus` to require particular licences, `includeGuests`, and for
    administrator imports `roles` (directory role names or roleTemplateIds)."""

    ous: tuple[LongText, ...] = Field(
        default=(),
        description="Active Directory (R2): users in these OUs and below; DNs, relative to baseDn without DC=.",
    )
    groups: tuple[LongText, ...] = Field(
        default=(),
        description="Members of these security groups: AD DNs (R2, R4, R5), or Entra object ids or display names (R22).",
    )
    include_nested_groups: bool | None = Field(
        default=None,
        description="Import members of nested groups too. Default: off for Active Directory "
        "(R6: reported, not imported), on for Entra (transitive members).",
    )
    licensed: bool | None = Field(
        default=None,
        description="Entra (R22): only users with at least one licence (default true for end users, "
        "false for administrators). false on an end-user import needs groups: every member of the groups.",
    )
    skus: tuple[LongText, ...] = Field(
        default=(),
        description="Entra: only users holding one of these licences (SKU part numbers such as SPE_E3, or skuIds).",
    )
    include_guests: bool = Field(
        default=False, description="Entra: import guests (userType Guest) too; left out by default."
    )
    roles: tuple[LongText, ...] = Field(
        default=(),
        description="Entra administrator imports (R23): holders of these directory roles "
        "(names such as Global Administrator, or roleTemplateIds); roles assigned to a group count for its members.",
    )
    include_eligible: bool = Field(
        default=False, description="With roles: PIM-eligible holders count too, not only active ones."
    )
    exclude: Exclude = Field(default=Exclude(), description="Left out even when selected.")

    def nested(self, entra: bool) -> bool:
        """Whether members of nested groups are selected (Entra default on, AD default off)."""
        return self.include_nested_groups if self.include_nested_groups is not None else entra

    def wants_license(self, admin: bool) -> bool:
        """Entra: end users need a licence unless `licensed: false`; administrators
        (by role, R23) only when `licensed: true` or skus ask for it."""
        if self.skus:
            return True
        return self.licensed if self.licensed is not None else not admin


class ImportOptions(Model):
    password_entry_matching: bool = Field(default=False, description="R12 (IT Glue or Hudu).")
    contact_matching: bool = Field(default=False, description="R14 (ConnectWise or Autotask).")
    password_remember: bool = Field(default=False, description="R15 flag.")
    welcome_email: bool = Field(default=False, description="R16: send once to new accounts.")
    self_serve: bool = Field(default=False, description="R17 flag.")


class Schedule(Model):
    interval_minutes: int | None = Field(
        default=None, ge=5, le=43_200, description="Default: 60 for Entra-only, 180 for AD (R9)."
    )


class ImportSettings(Model):
    """What to import and how; used by policies and by customer-level settings."""

    source: Source = Field(description="entra (Microsoft 365) or activeDirectory (on-premises).")
    password_sync: bool = Field(default=False, description="R3: AD users need a licensed Entra match.")
    selection: Selection = Field(default=Selection(), description="Who is imported (R2, R22, R23).")
    options: ImportOptions = Field(
        default=ImportOptions(), description="What is done for each account (R12-R17)."
    )
    schedule: Schedule = Field(default=Schedule(), description="How often the daemon syncs (R9).")
    safety: Safety | None = Field(default=None, description="Overrides Settings.safety.")
    record_fields: RecordFields = Field(
        default=RecordFields(),
        description="R25: which fields of linked records the directory owns (config/records.py).",
    )
    on_removal: OnRemoval = Field(
        default=OnRemoval.KEEP,
        description="R8: what becomes of a removed account's linked records: keep (default) or "
        "archive (password entry archived, PSA contact set inactive); never deleted.",
    )
    quiet_hours: tuple[QuietHours, ...] = Field(
        default=(), description="Run windows in which no writes are made (reads and plans still run)."
    )


class CustomerSpec(Model):
    paused: bool = Field(default=False, description="R10: planned, never applied.")
    directories: Directories = Field(
        default=Directories(), description="Where the customer's users are read from."
    )
    integrations: Integrations = Field(
        default=Integrations(), description="The customer's organization / company in each integration."
    )
    import_policy: Text | None = Field(default=None, description="End-user policy by name (R20).")
    admin_import_policy: Text | None = Field(default=None, description="Admin policy by name.")
    import_: ImportSettings | None = Field(
        default=None, alias="import", description="Customer-level settings when in no policy."
    )
    admin_import: ImportSettings | None = Field(
        default=None, description="Customer-level administrator import settings when in no AdminImportPolicy."
    )
    pins: tuple[Pin, ...] = Field(
        default=(), description="R18: the record to link where several match an account."
    )
    quiet_hours: tuple[QuietHours, ...] = Field(
        default=(), description="Run windows in which no writes are made (reads and plans still run)."
    )


# --- policies --------------------------------------------------------------------------


class AppliesTo(Model):
    customers: tuple[Text, ...] = Field(default=(), description="Member customers by name.")
    label_selector: LabelSelector | None = Field(
        default=None, description="And every customer whose labels match this selector."
    )


class PolicySpec(ImportSettings):
    applies_to: AppliesTo = Field(default=AppliesTo(), description="The customers this policy is for (R20).")
    paused: bool = Field(default=False, description="R10: members are planned, never applied.")


# --- documents -------------------------------------------------------------------------


class _Document(Model):
    api_version: Literal["reconciler.dev/v1"] = Field(description="Always reconciler.dev/v1.")
    metadata: Metadata = Field(description="Name and labels.")


class SettingsDoc(_Document):
    kind: Literal["Settings"] = Field(description="One per config directory: MSP-wide settings.")
    spec: SettingsSpec = Field(default=SettingsSpec(), description="MSP-wide settings.")


class CustomerDoc(_Document):
    kind: Literal["Customer"] = Field(description="One client of the MSP.")
    spec: CustomerSpec = Field(
        default=CustomerSpec(), description="The customer's directories, links and import."
    )


class ImportPolicyDoc(_Document):
    kind: Literal["ImportPolicy"] = Field(description="End-user import settings for many customers.")
    spec: PolicySpec = Field(description="End-user import settings shared by the member customers.")


class AdminImportPolicyDoc(_Document):
    kind: Literal["AdminImportPolicy"] = Field(
        description="Administrator import settings for many customers."
    )
    spec: PolicySpec = Field(description="Administrator import settings shared by the member customers.")


KINDS: dict[str, type[_Document]] = {
    "Settings": SettingsDoc,
    "Customer": CustomerDoc,
    "ImportPolicy": ImportPolicyDoc,
    "AdminImportPolicy": AdminImportPolicyDoc,
}

AnyDoc = SettingsDoc | CustomerDoc | ImportPolicyDoc | AdminImportPolicyDoc


def schema_file_name(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower() + ".schema.json"
