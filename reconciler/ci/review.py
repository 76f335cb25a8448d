"""CI edge, pure part: does a fresh plan still do what the reviewed plan did?

A saved plan is bound to the config digest and the state serials it was made
from. When the reviewed plan of a pull request is stale by the time it is
merged (another change was applied first, or the base branch moved), apply
plans again; if the new plan makes exactly the same changes for the same
customers with the same outcome, it is what people approved and may be applied.
Otherwise it needs a new review. Conflicts, warnings and notes change nothing
and are not compared; timestamps, digests and serials are what staleness means
and are ignored here.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.plan import CustomerPlan, Plan
from reconciler.core.render import describe


def _outcome(cp: CustomerPlan) -> tuple[str, list[dict[str, Any]]]:
    return cp.status.value, [c.to_dict() for c in cp.changes]


def plan_differences(reviewed: Plan, fresh: Plan) -> list[str]:
    """What differs, one line each, for a person to read; empty when the plans do the same."""
    before = {cp.customer: cp for cp in reviewed.customers}
    after = {cp.customer: cp for cp in fresh.customers}
    out: list[str] = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            out.append(f"{name}: {'only in the new plan' if old is None else 'not in the new plan'}")
            continue
        if _outcome(old) == _outcome(new):
            continue
        found = len(out)
        if old.status is not new.status:
            out.append(f"{name}: status {old.status.value} -> {new.status.value}")
        old_changes = {describe(c): c.to_dict() for c in old.changes}
        new_changes = {describe(c): c.to_dict() for c in new.changes}
        out += [f"{name}: no longer: {d}" for d in old_changes if d not in new_changes]
        out += [f"{name}: new: {d}" for d in new_changes if d not in old_changes]
        out += [
            f"{name}: changed: {d}"
            for d in old_changes
            if d in new_changes and old_changes[d] != new_changes[d]
        ]
        if len(out) == found:
            out.append(f"{name}: the same changes in another order")
    return out
