"""Autotask PSA: settings and declared facts (APIS.md section 7)."""

from __future__ import annotations

from pydantic import Field

from reconciler.config.base import Connection, HttpsUrl, OptionalHttpsUrl, Secret
from reconciler.integrations.facts import Budget, Facts
from reconciler.integrations.kinds import IntegrationKind


class AutotaskConnection(Connection):
    username: Secret
    secret: Secret
    integration_code: Secret
    zone_url: OptionalHttpsUrl = Field(default=None, description="Skips zone discovery when set.")
    zone_discovery_url: HttpsUrl = Field(
        default="https://webservices.autotask.net/ATServicesRest/",
        description="Where the API user's zone is looked up (a simulator in tests and the sandbox).",
    )
    requests_per_hour: int = Field(
        default=10000,
        ge=1,
        le=1_000_000,
        description="Client-side budget, shared by every customer on this API user.",
    )


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
