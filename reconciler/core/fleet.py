"""Pure core, planning stage: the fleet breaker (#12).

One bad label selector or policy edit touches every customer at once, each of
them below its own removal threshold. So when the config changes, every
customer whose effective settings changed is planned before any is applied, and
if more than min(5, max(2, ceil(10% of the fleet))) of those would remove at
least one account (or re-create a vanished record), all of them are held (exit 3;
"held by fleet breaker <digest>") until `--allow-fleet-removal` (a CLI plan/apply)
or `reconciler override --fleet <digest>` (the daemon). Directory churn alone
never trips it: only customers whose settings changed are counted.

The hold's digest names exactly what is held: the config digest and every held
customer's removals, so an override of a digest approves those removals and no
others, and a digest from before the config or the plans moved is refused.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.plan import Change, CustomerPlan, RecreateRecord, RemoveAccount, Status

SETTINGS_CURSOR = "fleet.settings"  # per customer: digest of the settings last applied
DIGEST_CHARS = 12  # how a hold's digest is shown (and the shortest prefix an override takes)


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


def removal_key(change: Change) -> str | None:
    """What an override approves: a removed account, or a vanished record to re-create."""
    if isinstance(change, RemoveAccount):
        return change.account_key
    if isinstance(change, RecreateRecord):
        return f"recreate {change.integration.value} {change.old_record_id} {change.account_key}"
    return None


def removal_keys(cplan: CustomerPlan) -> tuple[str, ...]:
    return tuple(sorted(k for k in map(removal_key, cplan.changes) if k is not None))


@dataclass(frozen=True)
class FleetHold:
    """A tripped breaker: which customers are held, with the removals each would make."""

    config_digest: str
    customers: Mapping[str, tuple[str, ...]]  # held customer -> its removal keys
    limit: int
    fleet: int
    digest: str = field(default="")

    def __post_init__(self) -> None:
        if not self.digest:
            body = json.dumps(
                [self.config_digest, sorted((c, list(k)) for c, k in self.customers.items())], sort_keys=True
            )
            object.__setattr__(self, "digest", hashlib.sha256(body.encode()).hexdigest()[:16])

    @property
    def short(self) -> str:
        return self.digest[:DIGEST_CHARS]

    @property
    def reason(self) -> str:
        return (
            f"held by fleet breaker {self.short}: {len(self.customers)} customers whose settings changed "
            f"would remove accounts (limit {self.limit} of a fleet of {self.fleet})"
        )

    def approves(self, customer: str, keys: Iterable[str]) -> bool:
        """Did this hold see exactly these removals (or fewer) of `customer`?"""
        seen = self.customers.get(customer)
        return seen is not None and set(keys) <= set(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "config_digest": self.config_digest,
            "customers": {c: list(k) for c, k in sorted(self.customers.items())},
            "limit": self.limit,
            "fleet": self.fleet,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FleetHold:
        customers = {str(c): tuple(str(k) for k in keys) for c, keys in dict(d["customers"]).items()}
        return cls(str(d["config_digest"]), customers, int(d["limit"]), int(d["fleet"]), str(d["digest"]))


def fleet_hold(
    plans: Iterable[CustomerPlan], changed: Iterable[str], fleet: int, config_digest: str
) -> FleetHold | None:
    """The hold when more changed customers would remove accounts than the fleet's limit."""
    changed_set = set(changed)
    removing = {
        cp.customer: keys
        for cp in plans
        if cp.customer in changed_set and cp.status is Status.OK and (keys := removal_keys(cp))
    }
    limit = fleet_limit(fleet)
    if len(removing) <= limit:
        return None
    return FleetHold(config_digest, removing, limit, fleet)


def fleet_breaker(
    plans: Iterable[CustomerPlan],
    changed: Iterable[str],
    fleet: int,
    config_digest: str,
    hint: str = "; use --allow-fleet-removal if this is intended",
) -> tuple[list[CustomerPlan], str | None]:
    """The plans with every changed customer that removes accounts held, when too many do;
    and why (None when the breaker did not trip)."""
    plans = list(plans)
    hold = fleet_hold(plans, changed, fleet, config_digest)
    if hold is None:
        return plans, None
    why = hold.reason + hint
    return [
        replace(cp, status=Status.REFUSED, reason=why) if cp.customer in hold.customers else cp
        for cp in plans
    ], why


def changed_customers(effs: Iterable[EffectiveCustomer], applied: Mapping[str, str | None]) -> list[str]:
    """Customers whose settings differ from those last applied (none known: not changed)."""
    out = []
    for eff in effs:
        before = applied.get(eff.name)
        if before is not None and before != settings_digest(eff):
            out.append(eff.name)
    return out
