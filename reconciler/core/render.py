"""Pure core, render stage: a Plan as text (terraform-like), JSON, or Markdown.

All three share `change_lines`, so they never disagree. Plans carry no secret
values by construction (no secret field exists in any change); the renderers
only ever see plan data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from reconciler.core.plan import Change, ChangeKind, CustomerPlan, Plan, Status

SYMBOL = {
    ChangeKind.ADD: "+",
    ChangeKind.UPDATE: "~",
    ChangeKind.REMOVE: "-",
    ChangeKind.LINK: "=",
    ChangeKind.CREATE_RECORD: "+",
    ChangeKind.SEND_WELCOME: ">",
}
_COLOR = {"+": "32", "~": "33", "-": "31", "=": "36", ">": "35", "!": "1;31", "?": "33"}


def _v(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else f'"{value}"'


def describe(change: Change) -> str:
    why = f"({change.rule}: {change.reason})"
    k = change.kind
    if k is ChangeKind.ADD:
        return f"add account {change.label} {why}"
    if k is ChangeKind.UPDATE:
        return f"update account {change.label} {why}"
    if k is ChangeKind.REMOVE:
        return f"remove account {change.label} {why}"
    integration = change.integration.value if change.integration else "?"
    if k is ChangeKind.LINK:
        return f"link {change.label} to {integration} record {change.record_id} {why}"
    if k is ChangeKind.CREATE_RECORD and change.new_entry is not None:
        e = change.new_entry
        return f'create {integration} password entry "{e.name}" (username {e.username}, category {e.category}) for {change.label} {why}'
    if k is ChangeKind.CREATE_RECORD and change.new_contact is not None:
        c = change.new_contact
        return f'create {integration} contact "{c.first_name} {c.last_name}" <{c.email or "no email"}> for {change.label} {why}'
    to = change.email.to if change.email else "?"
    target = to if to == change.label else f"{to} for {change.label}"
    return f"send welcome email to {target} {why}"


def change_lines(change: Change) -> Iterator[tuple[str, str]]:
    """(symbol, text) lines for one change: the headline, then field diffs."""
    yield SYMBOL[change.kind], describe(change)
    for d in change.diffs:
        yield " ", f"    {d.name}: {_v(d.before)} -> {_v(d.after)}"


def customer_lines(cp: CustomerPlan) -> Iterator[tuple[str, str]]:
    for change in cp.changes:
        yield from change_lines(change)
    for c in cp.conflicts:
        yield "!", f"conflict: {c.label} in {c.integration.value}: {c.cause}; nothing linked or created (R18)"
        for cid, name, detail in c.candidates:
            yield " ", f'    candidate {cid} "{name}" ({detail})'
        yield " ", f"    resolve: add to spec.pins of customer {cp.customer}: {c.pin}"
    for w in cp.warnings:
        yield "?", f"warning: {w}"
    for n in cp.notes:
        yield " ", f"note: {n}"


def _status(cp: CustomerPlan) -> str:
    if cp.status is Status.OK:
        return (
            f"{len(cp.changes)} change{'s' if len(cp.changes) != 1 else ''}" if cp.changes else "no changes"
        )
    return f"{cp.status.value.upper()}: {cp.reason}"


def render_text(plan: Plan, color: bool = False) -> str:
    def paint(symbol: str, text: str) -> str:
        code = _COLOR.get(symbol)
        return f"\x1b[{code}m{text}\x1b[0m" if color and code else text

    out: list[str] = []
    for cp in plan.customers:
        lines = list(customer_lines(cp))
        if not lines and cp.status is Status.OK:
            continue
        out.append(
            paint(
                "!" if cp.status in (Status.REFUSED, Status.ERROR) else "",
                f"customer {cp.customer}: {_status(cp)}",
            )
        )
        out.extend(paint(sym, f"  {sym} {text}" if sym.strip() else f"    {text}") for sym, text in lines)
        out.append("")
    out.append(paint("", plan.summary().line()))
    return "\n".join(out) + "\n"


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n"


def render_markdown(plan: Plan, limit: int = 0) -> str:
    """Summary first, trouble prominent, per-customer details collapsed.
    `limit` > 0 trims the result to that many characters with a note where it was cut."""
    s = plan.summary()
    out = ["## reconciler plan", "", f"**{s.line()}**", ""]
    trouble = [cp for cp in plan.customers if cp.status in (Status.REFUSED, Status.ERROR) or cp.conflicts]
    if trouble:
        out.append("> [!WARNING]")
        for cp in trouble:
            if cp.status in (Status.REFUSED, Status.ERROR):
                out.append(f"> **{cp.customer}** {cp.status.value}: {_md(cp.reason)}")
            for c in cp.conflicts:
                out.append(
                    f"> **{cp.customer}** conflict: `{c.label}` in {c.integration.value}: {c.cause}; pin with `{c.pin}`"
                )
        out.append("")
    out += [
        "| customer | status | add | change | remove | link | create | welcome | conflicts |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cp in plan.customers:
        out.append(
            f"| {cp.customer} | {cp.status.value} | {cp.count(ChangeKind.ADD)} | {cp.count(ChangeKind.UPDATE)} | "
            f"{cp.count(ChangeKind.REMOVE)} | {cp.count(ChangeKind.LINK)} | {cp.count(ChangeKind.CREATE_RECORD)} | "
            f"{cp.count(ChangeKind.SEND_WELCOME)} | {len(cp.conflicts)} |"
        )
    out.append("")
    for cp in plan.customers:
        lines = list(customer_lines(cp))
        if not lines:
            continue
        out += [f"<details><summary>{cp.customer}: {_md(_status(cp))}</summary>", "", "```diff"]
        out += [f"{sym if sym in '+-' else ('!' if sym == '!' else ' ')} {text}" for sym, text in lines]
        out += ["```", "", "</details>", ""]
    text = "\n".join(out)
    if limit and len(text) > limit:
        note = (
            "\n\n_(plan cut here: it is longer than the comment limit; see the full plan in the artifact)_\n"
        )
        cut = text[: limit - len(note)]
        if cut.count("```") % 2:
            cut += "\n```"
        text = cut + note
    return text


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
