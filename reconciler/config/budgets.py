"""Config stage: Settings `spec.budgets`, the MSP-wide request budget of each integration.

A budget is a share of the vendor's own limit that every customer and every
process of the MSP on this state spends together (a ledger in the state store).
The defaults leave most of each vendor's limit to the MSP's other tools; each
integration's `Facts.msp_budget` declares its default (IT Glue 1,500 per 5
minutes, Hudu 150 per minute, Autotask 3,000 per hour; ConnectWise and Halo
unlimited). An entry here replaces the default:

    budgets:
      autotask: {requests: 2000, windowSeconds: 3600}
      connectwise: {requests: 600, windowSeconds: 60}
      hudu: {unlimited: true}
"""

from __future__ import annotations

from pydantic import Field, model_validator

from reconciler.config.base import Model
from reconciler.integrations.kinds import IntegrationKind


class BudgetSetting(Model):
    """`requests` per `windowSeconds` (a sliding window), or `unlimited: true`."""

    requests: int | None = Field(
        default=None, ge=1, le=10_000_000, description="Requests allowed in any window of windowSeconds."
    )
    window_seconds: float | None = Field(
        default=None, gt=0, le=86_400, description="The window, in seconds (e.g. 300, 3600)."
    )
    unlimited: bool = Field(default=False, description="No MSP-wide budget for this integration.")

    @model_validator(mode="after")
    def _either(self) -> BudgetSetting:
        if self.unlimited and (self.requests is not None or self.window_seconds is not None):
            raise ValueError("a budget is either unlimited: true or requests with windowSeconds, not both")
        if not self.unlimited and (self.requests is None or self.window_seconds is None):
            raise ValueError("a budget needs both requests and windowSeconds (or unlimited: true)")
        return self


Budgets = dict[IntegrationKind, BudgetSetting]

BUDGETS_DESCRIPTION = (
    "MSP-wide request budget per integration, shared by every customer and process on this state "
    "(defaults: itglue 1500 per 300 s, hudu 150 per 60 s, autotask 3000 per 3600 s; "
    "connectwise and halo unlimited)."
)
