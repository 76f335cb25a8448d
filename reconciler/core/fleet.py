"""Pure core, planning stage: the fleet breaker (#12).

One bad label selector or policy edit touches every customer at once, each of
them below its own removal threshold. So when the config changes, every
customer whose effective settings changed is planned before any is applied, and
if more than min(5, max(2, ceil(10% of the fleet))) of those would remove at
least one account, all of them are held (exit 3; "held by fleet breaker
<digest>") until `--allow-fleet-removal`. Directory churn alone never trips it:
only customers whose settings changed are counted.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import replace

from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.plan import ChangeKind, CustomerPlan, Status

SETTINGS_CURSOR = "fleet.settings"  # per customer: digest of the settings last applied


def settings_digest(eff: EffectiveCustomer) -> str:
    """A digest of everything that decides a customer's plan besides live data."""
    parts = {
        "customer": eff.doc.spec.model_dump(mode="json"),
        "end_user": eff.end_user.settings.model_dump(mode="json") if eff.end_user else None,
        "admin": eff.admin.settings.model_dump(mode="json") if eff.admin else None,
        "safety": eff.safety.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def fleet_limit(fleet: int) -> int:
    return min(5, max(2, math.ceil(0.10 * fleet)))


def fleet_breaker(
    plans: Iterable[CustomerPlan],
    changed: Iterable[str],
    fleet: int,
    config_digest: str,
) -> tuple[list[CustomerPlan], str | None]:
    """The plans with every changed customer that removes accounts held, when too many do;
    and why (None when the breaker did not trip)."""
    plans = list(plans)
    changed_set = set(changed)
    removing = [
        cp.customer
        for cp in plans
        if cp.customer in changed_set and cp.status is Status.OK and cp.count(ChangeKind.REMOVE)
    ]
    limit = fleet_limit(fleet)
    if len(removing) <= limit:
        return plans, None
    why = (
        f"held by fleet breaker {config_digest[:12]}: {len(removing)} customers whose settings changed "
        f"would remove accounts (limit {limit} of a fleet of {fleet}); use --allow-fleet-removal if this is intended"
    )
    held = set(removing)
    return [
        replace(cp, status=Status.REFUSED, reason=why) if cp.customer in held else cp for cp in plans
    ], why


def changed_customers(effs: Iterable[EffectiveCustomer], applied: Mapping[str, str | None]) -> list[str]:
    """Customers whose settings differ from those last applied (none known: not changed)."""
    out = []
    for eff in effs:
        before = applied.get(eff.name)
        if before is not None and before != settings_digest(eff):
            out.append(eff.name)
    return out
