"""Pure core, explain: the whole decision for one person of one customer.

Which directories know the person (by UPN, mail, proxy address,
sAMAccountName or object id), which import settings (policy or customer) and
rule selected or dropped them, the Entra account used for password sync and how
it was matched (immutableId, UPN or SMTP, R3), the account we manage for them,
and what the plan does in each integration (linked, record created, conflict
with the candidates, R12-R18). Built from the same data and functions as the
plan, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.config.models import Source
from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.desired import EntraIndex, desired_accounts, person
from reconciler.core.model import AccountClass, DirectorySnapshot, DirectoryUser, ManagedState
from reconciler.core.plan import ArchiveRecord, CreateRecord, CustomerPlan, LinkRecord, UpdateRecord
from reconciler.core.planning import CustomerLive


@dataclass
class Explanation:
    customer: str
    query: str
    found: list[dict[str, Any]] = field(default_factory=list)  # directory users
    policies: list[dict[str, Any]] = field(default_factory=list)  # per account class
    decisions: list[dict[str, Any]] = field(default_factory=list)  # imported or why not
    entra_match: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)  # managed now
    integrations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `explain --format json` (inside the CLI's format-2 envelope)."""
        return {**self.__dict__, "imported": any(d["outcome"].startswith("imported") for d in self.decisions)}

    def lines(self) -> list[str]:
        out = [f"{self.query} in customer {self.customer}:"]
        if not self.found:
            out.append("  not found in any directory the customer's selection reads")
        for f in self.found:
            extra = f", {f['dn']}" if f.get("dn") else ""
            out.append(f"  found in {f['directory']}: {f['upn']} (id {f['id']}{extra}) {f['state']}")
        for p in self.policies:
            out.append(f"  {p['class']} import: {p['origin']} (source {p['source']})")
        for d in self.decisions:
            out.append(f"  {d['class']}: {d['outcome']} ({d['rule']}: {d['reason']})")
        for m in self.entra_match:
            out.append(f"  password sync (R3): {m['ad_upn']} -> Entra {m['entra_upn']} by {m['by']}")
        for a in self.accounts:
            out.append(f"  managed account {a['key']} (welcome email: {a['welcome'] or 'none'})")
        for i in self.integrations:
            out.append(
                f"  {i['integration']}: {i['outcome']}" + (f" ({i['reason']})" if i.get("reason") else "")
            )
            for c in i.get("candidates", ()):
                out.append(f'      candidate {c["id"]} "{c["name"]}" ({c["detail"]})')
        return out


def _matches(user: DirectoryUser, q: str) -> bool:
    q = q.strip().casefold()
    keys = [user.upn, user.mail, user.sam_account_name, user.id, user.primary_smtp]
    keys += [a.partition(":")[2] for a in user.proxy_addresses]
    return any(k is not None and k.casefold() == q for k in keys)


def _state(user: DirectoryUser) -> str:
    bits = ["enabled" if user.enabled else "disabled"]
    if user.source.value == "entra":
        bits.append("licensed" if user.licensed else "unlicensed")
        if user.guest:
            bits.append("guest")
    return "(" + ", ".join(bits) + ")"


def explain(
    customer: EffectiveCustomer, live: CustomerLive, managed: ManagedState, plan: CustomerPlan, query: str
) -> Explanation:
    out = Explanation(customer.name, query)
    dirs = live.directories
    people: list[DirectoryUser] = []
    for label, snap in (("Entra", dirs.entra), ("Active Directory", dirs.ad)):
        for u in (snap or DirectorySnapshot(())).users:
            if _matches(u, query):
                people.append(u)
                out.found.append(
                    {
                        "directory": label,
                        "upn": u.upn,
                        "id": u.id,
                        "dn": u.dn,
                        "state": _state(u),
                        "enabled": u.enabled,
                        "licensed": u.licensed if u.source.value == "entra" else None,
                        "guest": u.guest,
                    }
                )
    ids = {u.id.lower() for u in people}
    for cls, binding in ((AccountClass.END_USER, customer.end_user), (AccountClass.ADMIN, customer.admin)):
        if binding is not None:
            out.policies.append(
                {"class": cls.value, "origin": binding.origin, "source": binding.settings.source.value}
            )
    desired = desired_accounts(customer, dirs)
    keys: set[str] = set()
    for key, acct in sorted(desired.accounts.items()):
        if (acct.entra_id or "").lower() in ids or (acct.ad_guid or "").lower() in ids:
            keys.add(key)
            rule = "R3" if acct.password_sync else ("R22" if acct.ad_guid is None else "R2")
            out.decisions.append(
                {
                    "class": acct.account_class.value,
                    "outcome": f"imported as {key}",
                    "rule": rule,
                    "reason": "selected",
                }
            )
    for n in desired.notes:
        if n.user_id.lower() in ids or n.user.casefold() == query.strip().casefold():
            out.decisions.append(
                {
                    "class": n.account_class.value,
                    "outcome": "not imported",
                    "rule": n.rule,
                    "reason": n.message,
                }
            )
    if not out.decisions and people:
        out.decisions.append(
            {
                "class": "-",
                "outcome": "not seen by any selection",
                "rule": "R2/R22",
                "reason": "outside the selected OUs, groups and roles",
            }
        )
    _entra_match(customer, dirs.entra, people, out)
    persons = {person(k) for k in keys}
    for key, acct in sorted(managed.accounts.items()):
        if (
            key in keys
            or person(key) in persons
            or (acct.entra_id or "").lower() in ids
            or (acct.ad_guid or "").lower() in ids
        ):
            keys.add(key)
            out.accounts.append(
                {"key": key, "welcome": managed.welcome.get(key, None) and managed.welcome[key].value}
            )
    for (key, kind), link in sorted(managed.links.items()):
        if key in keys:
            out.integrations.append(
                {"integration": kind.value, "outcome": f"linked to record {link.record_id}", "reason": "kept"}
            )
    for change in plan.changes:
        if change.account_key not in keys:
            continue
        if isinstance(change, LinkRecord):
            out.integrations.append(
                {
                    "integration": change.integration.value,
                    "outcome": f"will link record {change.record_id}",
                    "reason": f"{change.rule}: {change.reason}",
                }
            )
        elif isinstance(change, CreateRecord):
            out.integrations.append(
                {
                    "integration": change.integration.value,
                    "outcome": "will create a record",
                    "reason": f"{change.rule}: {change.reason}",
                }
            )
        elif isinstance(change, UpdateRecord | ArchiveRecord):
            what = (
                "will update " + ", ".join(f"{d.name} {d.before!r} -> {d.after!r}" for d in change.diffs)
                if isinstance(change, UpdateRecord)
                else "will archive (or set inactive)"
            )
            out.integrations.append(
                {
                    "integration": change.integration.value,
                    "outcome": f"{what} on record {change.record_id}",
                    "reason": f"{change.rule}: {change.reason}",
                }
            )
    for c in plan.conflicts:
        if c.account_key in keys:
            out.integrations.append(
                {
                    "integration": c.integration.value,
                    "outcome": "conflict: nothing linked or created (R18)",
                    "reason": c.cause,
                    "candidates": [{"id": i, "name": n, "detail": d} for i, n, d in c.candidates],
                    "pin": c.pin,
                }
            )
    return out


def _entra_match(
    customer: EffectiveCustomer,
    entra: DirectorySnapshot | None,
    people: list[DirectoryUser],
    out: Explanation,
) -> None:
    syncing = any(
        b is not None and b.settings.source is Source.ACTIVE_DIRECTORY and b.settings.password_sync
        for b in (customer.end_user, customer.admin)
    )
    if not syncing or entra is None:
        return
    index = EntraIndex(u for u in entra.users if u.licensed and u.enabled)
    for u in people:
        if u.source.value != "ad":
            continue
        hit, by = index.match_how(u)
        out.entra_match.append(
            {
                "ad_upn": u.upn,
                "entra_upn": hit.upn if hit else "(none)",
                "entra_id": hit.id if hit else None,
                "by": by,
            }
        )
