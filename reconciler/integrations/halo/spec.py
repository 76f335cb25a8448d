"""Halo PSA: settings and declared facts (APIS.md section 9; R24).

Halo's own API documentation is not public: the facts come from maintained
open-source clients, and what they do not settle is marked (unconfirmed).
"""

from __future__ import annotations

from pydantic import Field

from reconciler.config.base import Connection, HttpsUrl, OptionalHttpsUrl, Secret
from reconciler.integrations.facts import Budget, Facts
from reconciler.integrations.kinds import IntegrationKind


class HaloConnection(Connection):
    """The MSP's Halo API application (Configuration > Integrations > Halo API): client
    credentials with the `all` scope."""

    base_url: HttpsUrl = Field(description="https://<instance>.halopsa.com; the API is at <baseUrl>/api.")
    auth_url: OptionalHttpsUrl = Field(
        default=None,
        description="The authorisation server (tokens from <authUrl>/token); default <baseUrl>/auth. "
        "GET <baseUrl>/api/authinfo names it.",
    )
    tenant: str | None = Field(
        default=None, min_length=1, description="Hosted instances: the tenant, sent as ?tenant= for tokens."
    )
    client_id: str = Field(min_length=1, description="The API application's client id.")
    client_secret: Secret
    scope: str = Field(
        default="all", description="Space-separated scopes; reading and creating users needs all."
    )
    page_size: int = Field(default=100, ge=1, le=1000, description="page_size when listing users.")
    requests_per_minute: int = Field(
        default=300, ge=1, description="Client-side budget (Halo's own limit is undocumented)."
    )
    site_name: str = Field(
        default="Main",
        min_length=1,
        description="The site new users go to when the client has several (a Halo user belongs to a site).",
    )


FACTS = Facts(
    kind=IntegrationKind.HALO,
    title="Halo PSA",
    settings=HaloConnection,
    link="haloClientId",
    link_description="Halo PSA client id (R14, R24).",
    matching_keys=("emailaddress", "firstname + surname"),
    record_shape="Users (name, firstname, surname, emailaddress, site_id, client_id, inactive, notes)",
    marker_field="notes",
    budget_of=lambda c: Budget(c.requests_per_minute, 60.0),
    owner="client",
)
