"""IT Glue: settings and declared facts (APIS.md section 4)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.config.base import Connection, OptionalHttpsUrl, Secret
from reconciler.integrations.facts import Budget, Facts
from reconciler.integrations.kinds import IntegrationKind


class ItGlueConnection(Connection):
    region: Literal["us", "eu", "au"] = "us"
    base_url: OptionalHttpsUrl = Field(default=None, description="Overrides the region's URL.")
    api_key: Secret
    requests_per_5_minutes: int = Field(default=3000, ge=1, le=1_000_000)
    page_size: int = Field(
        default=1000, ge=1, le=1000, description="page[size] when listing (IT Glue's maximum is 1000)."
    )
    rate_window_seconds: float = Field(
        default=300.0,
        gt=0,
        le=300,
        description="IT Glue's fixed rate-limit window: a 429 without Retry-After waits until it ends.",
    )


FACTS = Facts(
    kind=IntegrationKind.ITGLUE,
    title="IT Glue",
    settings=ItGlueConnection,
    link="itglueOrganizationId",
    link_description="IT Glue organization id (R12).",
    matching_keys=("username", "password-category-name"),
    record_shape="password (name, username, password-category-id, notes)",
    marker_field="notes",
    budget_of=lambda c: Budget(c.requests_per_5_minutes, 300.0, fixed_window=c.rate_window_seconds),
    msp_budget=Budget(1500, 300.0),  # half of IT Glue's 3,000 per 5 minutes (APIS.md 4)
    owner="organization",
    lists_organizations=True,
)
