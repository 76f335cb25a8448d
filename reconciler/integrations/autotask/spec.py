"""Autotask PSA: settings and declared facts (APIS.md section 7)."""

from __future__ import annotations

from pydantic import Field, field_validator

from reconciler.config.base import (
    HTTPS_URL_PATTERN,
    SecretRef,
    TlsOptions,
    https_base_url,
    refuse_literal_secret,
)
from reconciler.integrations.facts import Budget, Facts
from reconciler.integrations.kinds import IntegrationKind


class AutotaskConnection(TlsOptions):
    username: SecretRef
    secret: SecretRef
    integration_code: SecretRef
    zone_url: str | None = Field(
        default=None,
        json_schema_extra={"pattern": HTTPS_URL_PATTERN},
        description="Skips zone discovery when set.",
    )
    zone_discovery_url: str = Field(
        default="https://webservices.autotask.net/ATServicesRest/",
        json_schema_extra={"pattern": HTTPS_URL_PATTERN},
        description="Where the API user's zone is looked up (a simulator in tests and the sandbox).",
    )
    requests_per_hour: int = Field(
        default=10000,
        ge=1,
        le=1_000_000,
        description="Client-side budget, shared by every customer on this API user.",
    )

    _literal = field_validator("username", "secret", "integration_code", mode="before")(refuse_literal_secret)
    _https = field_validator("zone_url", "zone_discovery_url", mode="after")(https_base_url)


FACTS = Facts(
    kind=IntegrationKind.AUTOTASK,
    title="Autotask",
    settings=AutotaskConnection,
    link="autotaskCompanyId",
    link_description="Autotask company id (R14).",
    matching_keys=("emailAddress / emailAddress2 / emailAddress3", "firstName + lastName"),
    record_shape="Contacts (companyID, firstName, lastName, emailAddress, isActive, note)",
    marker_field="note",
    # 10,000 requests an hour per database, 3 concurrent per endpoint (APIS.md 7)
    budget_of=lambda c: Budget(c.requests_per_hour, 3600.0, concurrent=3),
    # 3,000 of the database's 10,000 per rolling hour, which every integration of the MSP
    # shares and whose overrun suspends the whole tenant (APIS.md 7)
    msp_budget=Budget(3000, 3600.0),
)
