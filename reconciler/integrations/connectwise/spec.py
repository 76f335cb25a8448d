"""ConnectWise Manage: settings and declared facts (APIS.md section 6)."""

from __future__ import annotations

from pydantic import Field

from reconciler.config.base import Connection, Secret
from reconciler.config.values import HostPort
from reconciler.integrations.facts import Budget, Facts
from reconciler.integrations.kinds import IntegrationKind


class ConnectWiseConnection(Connection):
    site: HostPort = Field(description="Host (and optional :port) of the API, e.g. api-na.myconnectwise.net.")
    codebase: str | None = Field(
        default=None,
        pattern=r"^/?[A-Za-z0-9_.-]{1,64}/?$",
        description="Looked up from the site when absent, e.g. v4_6_release/.",
    )
    company_id: str = Field(
        pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="The company id you sign in to ConnectWise with."
    )
    public_key: Secret
    private_key: Secret
    client_id: Secret
    api_version: str = Field(default="2022.1", pattern=r"^[0-9]{4}\.[0-9]{1,3}$")


FACTS = Facts(
    kind=IntegrationKind.CONNECTWISE,
    title="ConnectWise",
    settings=ConnectWiseConnection,
    link="connectwiseCompanyId",
    link_description="ConnectWise company record id (R14).",
    matching_keys=("communicationItems[Email].value", "firstName + lastName"),
    record_shape="company/contacts (firstName, lastName, company, communicationItems, integratorTags)",
    marker_field="integratorTags",
    # ConnectWise publishes no request budget; retries honour its 429 Retry-After (APIS.md 6)
    budget_of=lambda c: Budget(0, 0.0),
)
