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
    ConfigDict,
    Field,
    create_model,
    model_validator,
)

from reconciler.config.base import HTTPS_URL_PATTERN as HTTPS_URL_PATTERN
from reconciler.config.base import HttpsUrl, OptionalSecret, Secret
from reconciler.config.base import Model as Model
from reconciler.config.base import RecordId as RecordId
from reconciler.config.base import SecretRef as SecretRef
from reconciler.config.base import TlsOptions as TlsOptions
from reconciler.config.budgets import BUDGETS_DESCRIPTION, Budgets
from reconciler.config.records import OnRemoval, RecordFields
from reconciler.config.selectors import LabelSelector as LabelSelector
from reconciler.config.values import (
    ClientId,
    EmailAddress,
    FilePath,
    HostName,
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
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


# --- secrets ---------------------------------------------------------------------------


# --- shared pieces ---------------------------------------------------------------------


class Metadata(Model):
    name: str = Field(pattern=NAME_PATTERN, description="Unique name of this kind, DNS-label style.")
    labels: Labels = Field(
        default_factory=dict,
        description="key: value pairs that policies select customers by (appliesTo.labelSelector).",
    )


class Safety(Model):
    """Mass-removal guard: refuse plans removing more than `maxRemovalPercent` of a
    customer's existing accounts, when it has at least `minExistingAccounts`."""

    max_removal_percent: float = Field(
        default=30.0,
        ge=0,
        le=100,
        description="Refuse a plan that removes more than this share of the accounts.",
    )
    min_existing_accounts: int = Field(
        default=10,
        ge=0,
        le=1_000_000,
        description="The guard applies once a customer has at least this many accounts.",
    )


# --- Settings --------------------------------------------------------------------------


class StateSettings(Model):
    """Where state lives: an embedded SQLite file (default, one machine) or a
    PostgreSQL database shared by CI, people and daemon replicas."""

    backend: Literal["sqlite", "postgres"] = Field(
        default="sqlite",
        description="sqlite (a file, one machine) or postgres (shared by CI and daemon replicas).",
    )
    path: FilePath = Field(
        default=".reconciler/state.db", description="SQLite: relative to the config directory."
    )
    dsn: OptionalSecret = Field(
        default=None,
        description="PostgreSQL: connection string (a secret reference, e.g. {env: RECONCILER_STATE_DSN}).",
    )
    db_schema: str = Field(
        default="reconciler",
        alias="schema",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL: the schema holding reconciler's tables.",
    )
    namespace: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Keys every row, so config repositories sharing one database never see each "
        "other's state or locks. Default: this Settings' metadata.name.",
    )
    lease_seconds: int = Field(
        default=60, ge=15, le=3600, description="Customer lock lease; renewed every third of it."
    )

    @model_validator(mode="after")
    def _postgres_needs_dsn(self) -> StateSettings:
        if self.backend == "postgres" and self.dsn is None:
            raise ValueError("state.backend postgres needs state.dsn, e.g. {env: RECONCILER_STATE_DSN}")
        return self


class SnapshotSettings(Model):
    """Offline mode: read and write every directory and integration from files."""

    dir: FilePath = Field(description="Directory with one sub-directory per customer.")


class CertificateCredential(Model):
    private_key: Secret = Field(description="The certificate's private key (PEM), as a secret reference.")
    thumbprint: str = Field(
        pattern=r"^[0-9A-Fa-f]{40}$",
        description="SHA-1 thumbprint of the certificate uploaded to the app (40 hex digits).",
    )


class GraphCredential(Model):
    """Exactly one of a client secret or a certificate."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    client_secret: OptionalSecret = Field(
        default=None, description="The app's client secret, as a secret reference."
    )
    certificate: CertificateCredential | None = Field(
        default=None, description="A certificate credential instead of a client secret."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> GraphCredential:
        if (self.client_secret is None) == (self.certificate is None):
            raise ValueError("credential needs exactly one of clientSecret or certificate")
        return self


class GraphConnection(TlsOptions):
    client_id: ClientId = Field(description="Application (client) id of the MSP's multi-tenant app.")
    credential: GraphCredential = Field(description="How the app signs in: a client secret or a certificate.")
    authority_host: HttpsUrl = Field(
        default="https://login.microsoftonline.com",
        description="Identity platform (https only): the client secret or assertion is sent to it.",
    )
    graph_url: HttpsUrl = Field(
        default="https://graph.microsoft.com",
        description="Microsoft Graph (https only): every request carries the bearer token; "
        "links on another scheme, host or port are never followed.",
    )
    full_sync_every_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 366,
        description="Read users, groups and roles in full this often; deltas between.",
    )
    max_concurrent_tenants: int = Field(
        default=8, ge=1, le=64, description="Tenants read from Graph at the same time."
    )


class SmtpConnection(TlsOptions):
    host: HostName = Field(description="The SMTP server's host name.")
    port: int = Field(default=587, ge=1, le=65535, description="587 for starttls, 465 for tls.")
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (upgrade on 587), tls (from the first byte) or none."
    )
    username: OptionalSecret = Field(default=None, description="Sign-in name, as a secret reference.")
    password: OptionalSecret = Field(default=None, description="Sign-in password, as a secret reference.")
    sender: EmailAddress = Field(description="From: address of welcome emails.")


class _Connections(Model):
    graph: GraphConnection | None = Field(
        default=None, description="The MSP's multi-tenant Entra app (Microsoft Graph)."
    )
    smtp: SmtpConnection | None = Field(default=None, description="Where welcome emails are sent (R16).")


# One block per integration of the table (`spec.connections.<kind>`), read through
# its Facts (`facts.connection(settings.connections)`), so adding one names it once.
if TYPE_CHECKING:
    Connections = _Connections
else:
    Connections = create_model(
        "Connections",
        __base__=_Connections,
        **{
            f.kind.value: (f.settings | None, Field(default=None, description=f"{f.title} connection."))
            for f in TABLE.values()
        },
    )


class Features(Model):
    password_manager: bool = Field(
        default=False, description="MSP-wide password manager feature (needed by R12, R15)."
    )


class WelcomeEmailSettings(Model):
    template: FilePath = Field(default="templates/welcome.txt", description="Relative to the config dir.")
    subject: Text = Field(
        default="Welcome, {display_name}",
        description="Subject line; the same {placeholders} as the template.",
    )


class DaemonTls(Model):
    """TLS of the daemon's listener: the certificate chain (PEM file) and its private key."""

    cert_file: FilePath = Field(description="Certificate chain, PEM, relative to the config directory.")
    key: Secret = Field(description="The certificate's private key (PEM), as a secret reference.")


class DaemonSettings(Model):
    """`reconciler daemon`: the listener, concurrency, jitter, retry and quarantine."""

    listen: str = Field(
        default="127.0.0.1:9465",
        pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):[0-9]{1,5}$",
        description="host:port of the HTTP listener (health, metrics, import now). Loopback unless you mean otherwise.",
    )
    token: OptionalSecret = Field(
        default=None,
        description="Bearer token required by the POST endpoints (import now, override); without it they are off.",
    )
    tls: DaemonTls | None = Field(
        default=None, description="Serve HTTPS with this certificate; needed for sign-in beyond loopback."
    )
    max_in_flight: int = Field(default=8, ge=1, le=256, description="Customers reconciled at the same time.")
    jitter_percent: float = Field(
        default=10.0,
        ge=0,
        le=50,
        description="Each run starts up to this share of its interval early or late.",
    )
    backoff_initial_seconds: float = Field(
        default=60.0, gt=0, le=86_400, description="Retry delay after a first failure."
    )
    backoff_max_seconds: float = Field(
        default=1800.0,
        gt=0,
        le=86_400,
        description="Longest retry delay (never beyond the customer's interval).",
    )
    quarantine_after_failures: int = Field(
        default=5, ge=1, le=1000, description="Consecutive failures after which a customer is quarantined."
    )
    quarantine_retry_minutes: int = Field(
        default=720, ge=5, le=43_200, description="Retry interval of a quarantined customer."
    )
    shutdown_grace_seconds: float = Field(
        default=20.0, ge=0, le=600, description="On SIGTERM, how long runs in flight may take to finish."
    )
    git_pull_interval_seconds: float = Field(
        default=60.0, ge=5, le=86_400, description="With --git: pull at most this often."
    )
    config_check_seconds: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="Look for edits of the config files (names, sizes, modification times) at most this often.",
    )


NOTIFICATION_EVENTS = (
    "run.failed",
    "run.recovered",
    "customer.blocked",
    "customer.quarantined",
    "conflict.opened",
    "conflict.resolved",
    "welcome.unsent",
    "budget.exhausted",
    "config.invalid",
    "fleet.held",
)


class NotificationTarget(Model):
    """Where the daemon tells people about problems (issue 18): one per chat channel,
    mailbox or receiver. Events are deduplicated per customer and cause; a reminder
    follows at most every `remindEveryHours`, and one message when it resolves."""

    name: str = Field(pattern=NAME_PATTERN, description="Names the target in logs and state.")
    type: Literal[
        "teams", "slack", "email", "webhook", "connectwise-ticket", "autotask-ticket", "halo-ticket"
    ] = Field(
        description="teams: a Workflows webhook (Adaptive Card); slack: an incoming webhook; "
        "email: a digest through connections.smtp; webhook: JSON signed the Standard Webhooks way; "
        "connectwise-ticket: one service ticket per customer and cause, in the customer's "
        "ConnectWise company, noted while it lasts and closed when it resolves; autotask-ticket: "
        "the same in the customer's Autotask company; halo-ticket: the same in the customer's "
        "Halo client."
    )
    url: OptionalSecret = Field(default=None, description="teams, slack, webhook: the webhook URL.")
    secret: OptionalSecret = Field(
        default=None, description="webhook: the signing secret (whsec_ + base64, or any text)."
    )
    to: list[EmailAddress] = Field(default_factory=list, description="email: the digest's recipients.")
    events: list[Literal[NOTIFICATION_EVENTS]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Events this target wants; empty: all."
    )
    min_severity: Literal["info", "warning", "error"] = Field(
        default="warning", description="Events below this severity are not sent here."
    )
    remind_every_hours: float = Field(
        default=24.0, ge=0.1, le=24 * 366, description="Reminder while a problem lasts."
    )
    digest_minutes: float = Field(
        default=60.0, ge=1, le=43_200, description="email: one digest at most this often."
    )
    board_id: int | None = Field(default=None, ge=1, description="connectwise-ticket: the service board.")
    queue_id: int | None = Field(default=None, ge=1, description="autotask-ticket: the queue (queueID).")
    priority_id: int | None = Field(default=None, ge=1, description="autotask-ticket: the priority.")
    ticket_type_id: int | None = Field(
        default=None, ge=1, description="halo-ticket: the ticket type (tickettype_id) of new tickets."
    )
    status_id: int | None = Field(
        default=None,
        ge=1,
        description="Status of a new ticket (connectwise, halo: the default if absent; autotask: required).",
    )
    closed_status_id: int | None = Field(
        default=None, ge=1, description="The status that closes a ticket when its cause resolves."
    )

    @model_validator(mode="after")
    def _needs(self) -> NotificationTarget:
        if self.type in ("teams", "slack", "webhook") and self.url is None:
            raise ValueError(f"a {self.type} target needs url (a secret reference)")
        if self.type == "webhook" and self.secret is None:
            raise ValueError("a webhook target needs secret (a secret reference) to sign with")
        if self.type == "email" and not self.to:
            raise ValueError("an email target needs to: [addresses]")
        if self.type == "connectwise-ticket" and (self.board_id is None or self.closed_status_id is None):
            raise ValueError("a connectwise-ticket target needs boardId and closedStatusId")
        if self.type == "halo-ticket" and (self.ticket_type_id is None or self.closed_status_id is None):
            raise ValueError("a halo-ticket target needs ticketTypeId and closedStatusId")
        needed = (self.queue_id, self.status_id, self.priority_id, self.closed_status_id)
        if self.type == "autotask-ticket" and None in needed:
            raise ValueError(
                "an autotask-ticket target needs queueId, statusId, priorityId and closedStatusId"
            )
        return self


class SettingsSpec(Model):
    state: StateSettings = Field(
        default=StateSettings(), description="Where state lives (SQLite or PostgreSQL)."
    )
    snapshot: SnapshotSettings | None = Field(
        default=None, description="Offline mode: read and write every system from files in this directory."
    )
    features: Features = Field(default=Features(), description="MSP-wide features (R12, R15).")
    safety: Safety = Field(default=Safety(), description="Default removal guard; a policy may set its own.")
    connections: Connections = Field(
        default=Connections(),
        description="How to reach Graph, SMTP and the integrations (credentials as secret references).",
    )
    welcome_email: WelcomeEmailSettings = Field(
        default=WelcomeEmailSettings(), description="Template and subject of the welcome email (R16)."
    )
    apply_batch_size: int = Field(
        default=500, ge=1, le=100_000, description="Changes applied and committed to state per batch (R11)."
    )
    verify_links_every_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 366,
        description="Between these full reads an unchanged customer's integrations are not listed; "
        "each full read proves every linked record still exists (shortened per customer by up to 10%).",
    )
    daemon: DaemonSettings = Field(
        default=DaemonSettings(), description="`reconciler daemon`: listener, concurrency, retries."
    )
    secret_dirs: tuple[FilePath, ...] = Field(
        default=(),
        description="Directories outside the config directory that {file: ...} secrets may be read "
        "from (absolute, or relative to the config directory), e.g. /run/secrets. Nothing else is.",
    )
    notifications: list[NotificationTarget] = Field(
        default_factory=list, description="Chat, email and webhook targets of the daemon's alerts."
    )
    quiet_hours: tuple[QuietHours, ...] = Field(
        default=(), description="Run windows in which no writes are made (reads and plans still run)."
    )
    budgets: Budgets = Field(default_factory=dict, description=BUDGETS_DESCRIPTION)


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
