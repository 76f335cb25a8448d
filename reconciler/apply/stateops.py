"""Apply stage: hand edits of managed state (`reconciler state rm|import|mv`).

Each edit is computed first as a `StateEdit` (the plan-like preview a person
confirms) and then committed in one batch that bumps the customer's serial, so a
plan saved before the edit is stale afterwards. Like `terraform state`, these
never touch a directory or an integration record:

- rm ACCOUNT: forget the account and its links; its welcome record stays as a
  tombstone, so it is not welcomed again if it returns (R16), unless
  `forget_welcome`.
- rm ACCOUNT --integration KIND: forget one link and remember the record as
  detached: neither its marker nor a match links it again (and nothing is created
  for the account there) until `state import`.
- import ACCOUNT KIND RECORD: adopt an existing record as the account's link;
  refused where a YAML pin decides that link (R18).
- mv ACCOUNT SOURCE TARGET: move an account between customers with its welcome
  status; a link is kept only when both customers link the same organization or
  company in that integration, else it is dropped and matched again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.model import Account, IntegrationKind, Link, ManagedState
from reconciler.errors import ReconcilerError
from reconciler.integrations.table import facts_of
from reconciler.state.api import StateStore

Op = Callable[[StateStore], None]


@dataclass(frozen=True)
class Step:
    """One line of the preview: `symbol` as in a plan (- removed, + added, ~ kept/changed)."""

    symbol: str
    customer: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {
            "action": {"-": "remove", "+": "add", "~": "keep"}[self.symbol],
            "customer": self.customer,
            "what": self.text,
        }


@dataclass
class StateEdit:
    command: str
    customers: tuple[str, ...]
    steps: list[Step] = field(default_factory=list)
    ops: dict[str, list[Op]] = field(default_factory=dict)  # per customer, run in one batch each

    def step(self, symbol: str, customer: str, text: str, op: Op | None = None) -> None:
        self.steps.append(Step(symbol, customer, text))
        if op is not None:
            self.ops.setdefault(customer, []).append(op)

    def preview(self) -> list[str]:
        return [f"  {s.symbol} {s.customer}: {s.text}" for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "customers": list(self.customers),
            "changes": [s.to_dict() for s in self.steps],
        }


def find_account(managed: ManagedState, customer: str, name: str) -> Account:
    """The managed account whose key or UPN (or sAMAccountName) is `name`."""
    if name in managed.accounts:
        return managed.accounts[name]
    low = name.lower()
    for account in managed.accounts.values():
        if account.upn.lower() == low or (account.sam_account_name or "").lower() == low:
            return account
    raise ReconcilerError(f"{customer}: no managed account {name!r} (see: reconciler state show {customer})")


def rm_account(customer: str, managed: ManagedState, name: str, forget_welcome: bool) -> StateEdit:
    account = find_account(managed, customer, name)
    key = account.key
    edit = StateEdit("rm", (customer,))
    edit.step("-", customer, f"account {account.upn}", lambda s: s.remove_account(customer, key))
    for (k, kind), link in sorted(managed.links.items()):
        if k == key:
            edit.step(
                "-",
                customer,
                f"link {account.upn} -> {kind.value} record {link.record_id} (the record is kept)",
            )
    for (k, kind), rid in sorted(managed.detached.items()):
        if k == key:
            edit.step("-", customer, f"detached {kind.value} record {rid} of {account.upn}",
                      _detach(customer, key, kind, None))  # fmt: skip
    welcome = managed.welcome.get(key)
    if welcome is not None and forget_welcome:
        edit.step("-", customer, f"welcome record ({welcome.value}): a returning {account.upn} is welcomed again",
                  lambda s: s.forget_welcome(customer, key))  # fmt: skip
    elif welcome is not None:
        edit.step(
            "~", customer, f"welcome record ({welcome.value}) kept: {account.upn} is not welcomed again (R16)"
        )
    return edit


def rm_link(customer: str, managed: ManagedState, name: str, kind: IntegrationKind) -> StateEdit:
    account = find_account(managed, customer, name)
    key = account.key
    link = managed.links.get((key, kind))
    if link is None:
        raise ReconcilerError(f"{customer}: {account.upn} has no {kind.value} link")
    rid = link.record_id
    edit = StateEdit("rm", (customer,))
    edit.step("-", customer, f"link {account.upn} -> {kind.value} record {rid} (the record is kept)",
              lambda s: s.remove_link(customer, key, kind))  # fmt: skip
    edit.step("+", customer, f"detached: record {rid} is not linked again, by marker or match, "
              f"until `reconciler state import`", lambda s: s.set_detached(customer, key, kind, rid))  # fmt: skip
    return edit


def import_link(
    eff: EffectiveCustomer, managed: ManagedState, name: str, kind: IntegrationKind, record_id: str
) -> StateEdit:
    customer = eff.name
    account = find_account(managed, customer, name)
    key = account.key
    pins = [p for p in eff.doc.spec.pins if p.integration is kind and p.account.lower() in _names(account)]
    if pins:
        raise ReconcilerError(
            f"{customer}: the YAML pins {account.upn}'s {kind.value} link to record {pins[0].record_id} (R18); "
            "change the pin instead"
        )
    edit = StateEdit("import", (customer,))
    old = managed.links.get((key, kind))
    if old is not None and old.record_id == record_id and (key, kind) not in managed.detached:
        raise ReconcilerError(
            f"{customer}: {account.upn} is already linked to {kind.value} record {record_id}"
        )
    if old is not None:
        edit.step("-", customer, f"link {account.upn} -> {kind.value} record {old.record_id}")
    edit.step("+", customer, f"link {account.upn} -> {kind.value} record {record_id}",
              lambda s: s.put_link(customer, Link(key, kind, record_id)))  # fmt: skip
    if (key, kind) in managed.detached:
        edit.step("-", customer, f"detached {kind.value} record {managed.detached[(key, kind)]}",
                  lambda s: s.set_detached(customer, key, kind, None))  # fmt: skip
    return edit


def move_account(
    source: EffectiveCustomer,
    src: ManagedState,
    target: EffectiveCustomer,
    dst: ManagedState,
    name: str,
) -> StateEdit:
    account = find_account(src, source.name, name)
    key = account.key
    if key in dst.accounts:
        raise ReconcilerError(
            f"{target.name}: already manages {account.upn}; remove one first (reconciler state rm)"
        )
    a, b = source.name, target.name
    edit = StateEdit("mv", (a, b))
    edit.step("-", a, f"account {account.upn}", lambda s: s.remove_account(a, key))
    edit.step("+", b, f"account {account.upn}", lambda s: s.put_account(b, account))
    welcome = src.welcome.get(key)
    if welcome is not None:
        edit.step("-", a, f"welcome record ({welcome.value})", lambda s: s.forget_welcome(a, key))
        edit.step("+", b, f"welcome record ({welcome.value}) moves with it (R16)",
                  lambda s: s.set_welcome(b, key, welcome))  # fmt: skip
    for (k, kind), link in sorted(src.links.items()):
        if k != key:
            continue
        same = _same_org(source, target, kind)
        if same is not None:
            edit.step("~", b, f"link {account.upn} -> {kind.value} record {link.record_id} "
                      f"(both customers link {kind.value} {same})", _put_link(b, link))  # fmt: skip
        else:
            edit.step("-", a, f"link {account.upn} -> {kind.value} record {link.record_id}: {b} is not linked "
                      f"to the same {kind.value} organization or company; matched again by the next plan")  # fmt: skip
    for (k, kind), rid in sorted(src.detached.items()):
        if k == key:
            edit.step(
                "-",
                a,
                f"detached {kind.value} record {rid}",
                _detach(a, key, kind, None),
            )
            if _same_org(source, target, kind) is not None:
                edit.step("+", b, f"detached {kind.value} record {rid}",
                          _detach(b, key, kind, rid))  # fmt: skip
    return edit


def _detach(customer: str, key: str, kind: IntegrationKind, rid: str | None) -> Op:
    return lambda s: s.set_detached(customer, key, kind, rid)


def _put_link(customer: str, link: Link) -> Op:
    return lambda s: s.put_link(customer, link)


def _same_org(source: EffectiveCustomer, target: EffectiveCustomer, kind: IntegrationKind) -> str | None:
    """The organization both customers link. One organization links one customer
    (validate refuses a second, #12), so after a tenant merge the organization has
    moved in the config: the source links none of this integration any more and the
    target links one. That is the organization its records are in."""
    facts = facts_of(kind)
    mine = facts.linked_id(source.doc.spec.integrations)
    theirs = facts.linked_id(target.doc.spec.integrations)
    if theirs is None or mine not in (None, theirs):
        return None
    return theirs


def _names(account: Account) -> set[str]:
    return {account.upn.lower(), (account.sam_account_name or "").lower()} - {""}


def commit(edit: StateEdit, store: StateStore) -> None:
    """Every customer's part in one batch that bumps its serial; the customers locked meanwhile."""
    locked: list[str] = []
    try:
        for customer in edit.customers:
            store.lock(customer, f"reconciler state {edit.command}")
            locked.append(customer)
        with store.batch():
            for customer in edit.customers:
                for op in edit.ops.get(customer, []):
                    op(store)
                store.bump_serial(customer)
    finally:
        for customer in locked:
            store.unlock(customer)
