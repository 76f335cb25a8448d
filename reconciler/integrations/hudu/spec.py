"""Hudu: settings and declared facts (APIS.md section 5)."""

from __future__ import annotations

from pydantic import Field

from reconciler.config.base import Connection, HttpsUrl, Secret
from reconciler.integrations.facts import Budget, Facts
from reconciler.integrations.kinds import IntegrationKind


class HuduConnection(Connection):
    base_url: HttpsUrl = Field(description="https://<instance>/api/v1")
    api_key: Secret
    requests_per_minute: int = Field(default=300, ge=1, le=1_000_000)
    page_size: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="page_size when listing; Hudu's maximum is unconfirmed and a smaller page is handled.",
    )
    rate_window_seconds: float = Field(
        default=60.0,
        gt=0,
        le=300,
        description="Hudu's fixed rate-limit window (unconfirmed): a 429 without Retry-After waits until it ends.",
    )


FACTS = Facts(
    kind=IntegrationKind.HUDU,
    title="Hudu",
    settings=HuduConnection,
    link="huduCompanyId",
    link_description="Hudu company id (R12).",
    matching_keys=("username", "password_type"),
    record_shape="asset_password (name, username, password_type, description, password)",
    marker_field="description",
    budget_of=lambda c: Budget(c.requests_per_minute, 60.0, fixed_window=c.rate_window_seconds),
    msp_budget=Budget(150, 60.0),  # half of Hudu's 300 per minute (APIS.md 5)
    lists_organizations=True,
)
