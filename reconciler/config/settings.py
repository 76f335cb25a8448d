"""Config stage: the Settings document's spec as pydantic models (one per MSP).

State, snapshot mode, connections to Graph / SMTP / every integration of the
table, features, the welcome email, the daemon, notification targets, quiet
hours and request budgets. `models.py` re-exports these for the other kinds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import (
    ConfigDict,
    Field,
    create_model,
    model_validator,
)

from reconciler.config.base import HttpsUrl, Model, OptionalSecret, Secret, TlsOptions
from reconciler.config.budgets import BUDGETS_DESCRIPTION, Budgets
from reconciler.config.values import (
    ClientId,
    EmailAddress,
    FilePath,
    HostName,
    Text,
)
from reconciler.config.windows import QuietHours
from reconciler.integrations.table import TABLE

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


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
