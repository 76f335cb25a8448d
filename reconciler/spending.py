"""Orchestration: the MSP-wide request budgets (#16) a run spends, wired to the state.

`open_budgets` puts the state's ledger (`state.ledger`) behind
`providers.budget.Budgets` with the limits Settings gives; `listing_needs` and
`apply_needs` are the estimates a customer's first request to each integration
reserves (see `providers.budget` for why).
"""

from __future__ import annotations

import threading
from typing import Any

from reconciler.config import ConfigSet
from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.model import IntegrationKind
from reconciler.core.plan import CustomerPlan, LinkRecord
from reconciler.integrations.table import TABLE
from reconciler.providers.budget import Budgets, limits_of, listing_need
from reconciler.state.api import StateStore
from reconciler.state.backend import namespace_of
from reconciler.state.ledger import open_ledger


def open_budgets(
    config: ConfigSet, store: StateStore, wait_seconds: float = 0.0, stop: threading.Event | None = None
) -> Budgets | None:
    """The budgets of `config` on `store`'s ledger; None offline (a snapshot spends nothing)
    or when no integration has a budget."""
    spec = config.settings_doc.spec
    limits = limits_of(spec)
    if spec.snapshot is not None or not limits:
        return None
    ledger = open_ledger(store, namespace_of(config))
    if ledger is None:
        return None
    return Budgets(ledger, limits, wait_seconds=wait_seconds, stop=stop)


def listing_needs(config: ConfigSet, eff: EffectiveCustomer, accounts: int) -> dict[IntegrationKind, int]:
    """What reading the customer's linked integrations takes: their listing pages for
    `accounts` records (the state's count: one record per account at most) and a lookup."""
    links = eff.doc.spec.integrations
    connections = config.settings_doc.spec.connections
    out: dict[IntegrationKind, int] = {}
    for kind, facts in TABLE.items():
        if facts.linked_id(links) is None:
            continue
        out[kind] = listing_need(kind, facts.connection(connections), accounts)
    return out


def apply_needs(cplan: CustomerPlan) -> dict[IntegrationKind, int]:
    """What applying `cplan` writes to each integration (one request per record written),
    plus a lookup or two (categories, a record an unknown outcome may have made)."""
    out: dict[IntegrationKind, int] = {}
    for change in cplan.changes:
        kind: Any = getattr(change, "integration", None)
        if isinstance(kind, IntegrationKind) and not isinstance(change, LinkRecord):
            out[kind] = out.get(kind, 2) + 1
    return out
