"""Pure core, render stage: the text of a saved plan (`plan -o`, CI's plan files).

The text is defined as `jsonlayout.dumps(plan.to_dict(), expand=4)`: the outer
levels indented, then one change per line with sorted keys. Built that way, a
plan of 200,000 changes spent most of its save building a dict per change and
setting up the JSON encoder for each (1.8 s of a 7 s `plan` at 100,000 accounts,
BENCHMARKS.md). Here the common kinds (account changes, links, record creates)
write their line straight from their fields, each string through the C string
encoder `json.dumps` itself uses; any other kind, and every other part of the
plan, takes the generic way. tests/core/test_planfile.py holds every kind, and a
generated plan, to the generic text byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from reconciler import jsonlayout
from reconciler.core.changes import _Change
from reconciler.core.model import Account
from reconciler.core.plan import (
    AddAccount,
    Change,
    CreateRecord,
    LinkRecord,
    Plan,
    RemoveAccount,
    UpdateAccount,
)

EXPAND = 4  # plan, customers, a customer, its changes: indented; a change: one line

_q = encode_basestring_ascii  # a str as JSON text, ensure_ascii like json.dumps
_ENCODE = json.JSONEncoder(sort_keys=True).encode
_SCALAR = {None: "null", True: "true", False: "false"}


def plan_text(plan: Plan) -> str:
    """Exactly `jsonlayout.dumps(plan.to_dict(), expand=4)`."""
    return "".join(plan_pieces(plan))


def plan_pieces(plan: Plan) -> list[str]:
    """`plan_text` in pieces, for `writelines`."""
    # the changes stay objects in the document; `_leaf` writes each as its line
    return jsonlayout.pieces(plan.to_dict(change=_same), EXPAND, _leaf)


def reference_text(plan: Plan) -> str:
    """The definition, every change through its dict (tests compare against it)."""
    return jsonlayout.dumps(plan.to_dict(), EXPAND)


def change_json(change: Change) -> str:
    """One change as its line of the saved plan: `json.dumps(change.to_dict(), sort_keys=True)`."""
    fast = _LINES.get(type(change))  # exact type: a subclass (RecreateRecord) has fields of its own
    return fast(change) if fast is not None else _ENCODE(change.to_dict())


def _same(change: Change) -> Change:
    return change


def _leaf(value: Any) -> str:
    fast = _LINES.get(type(value))
    if fast is not None:
        return fast(value)
    return _ENCODE(value.to_dict() if isinstance(value, _Change) else value)


def _v(value: Any) -> str:
    if type(value) is str:
        return _q(value)
    if value is None or type(value) is bool:
        return _SCALAR[value]
    return _ENCODE(value)


def _account(a: Account) -> str:
    sources = ", ".join([_q(s._value_) for s in a.sources])
    return (
        f'{{"account_class": {_q(a.account_class._value_)}, "ad_guid": {_v(a.ad_guid)}, '
        f'"display_name": {_v(a.display_name)}, "entra_id": {_v(a.entra_id)}, '
        f'"given_name": {_v(a.given_name)}, "key": {_q(a.key)}, "mail": {_v(a.mail)}, '
        f'"password_remember": {_v(a.password_remember)}, "password_sync": {_v(a.password_sync)}, '
        f'"sam_account_name": {_v(a.sam_account_name)}, "self_serve": {_v(a.self_serve)}, '
        f'"sources": [{sources}], "surname": {_v(a.surname)}, "upn": {_q(a.upn)}}}'
    )


def _tail(c: Change) -> str:
    """The keys after "kind" that every change has, in sorted order."""
    return f'"label": {_q(c.label)}, "reason": {_q(c.reason)}'


def _account_change(c: AddAccount | RemoveAccount) -> str:
    return (
        f'{{"account": {_account(c.account)}, "account_key": {_q(c.account_key)}, '
        f'"kind": {_q(c.kind._value_)}, {_tail(c)}, "rule": {_q(c.rule)}}}'
    )


def _update(c: UpdateAccount) -> str:
    diffs = ", ".join(
        [f'{{"after": {_v(d.after)}, "before": {_v(d.before)}, "field": {_q(d.name)}}}' for d in c.diffs]
    )
    return (
        f'{{"account": {_account(c.account)}, "account_key": {_q(c.account_key)}, '
        f'"diffs": [{diffs}], "kind": "update", {_tail(c)}, "rule": {_q(c.rule)}}}'
    )


def _link(c: LinkRecord) -> str:
    return (
        f'{{"account_key": {_q(c.account_key)}, "fingerprint": {_q(c.fingerprint)}, '
        f'"integration": {_q(c.integration._value_)}, "kind": "link", {_tail(c)}, '
        f'"record_id": {_q(c.record_id)}, "rule": {_q(c.rule)}}}'
    )


def _create(c: CreateRecord) -> str:
    request = c._own()["request"]  # the request's fields, as the plan format has them
    body = ", ".join([f"{_q(k)}: {_v(request[k])}" for k in sorted(request)])
    return (
        f'{{"account_key": {_q(c.account_key)}, "integration": {_q(c.integration._value_)}, '
        f'"kind": "create-record", {_tail(c)}, "request": {{{body}}}, "rule": {_q(c.rule)}}}'
    )


_LINES: dict[type, Callable[[Any], str]] = {
    AddAccount: _account_change,
    RemoveAccount: _account_change,
    UpdateAccount: _update,
    LinkRecord: _link,
    CreateRecord: _create,
}
