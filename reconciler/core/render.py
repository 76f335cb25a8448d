"""Pure core, render stage: a Plan as text (terraform-like), JSON, or Markdown.

All three share `change_lines`, so they never disagree. Plans carry no secret
values by construction (no secret field exists in any change); the renderers
only ever see plan data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from reconciler.core.model import NewContact, NewPasswordEntry
from reconciler.core.plan import (
    AddAccount,
    ArchiveRecord,
    Change,
    ChangeKind,
    CreateRecord,
    CustomerPlan,
    LinkRecord,
    Plan,
    RecreateRecord,
    RemoveAccount,
    SendWelcome,
    Status,
    UpdateAccount,
    UpdateRecord,
)
from reconciler.integrations.kinds import Role

SYMBOL = {
    ChangeKind.ADD: "+",
    ChangeKind.UPDATE: "~",
    ChangeKind.REMOVE: "-",
    ChangeKind.LINK: "=",
    ChangeKind.CREATE_RECORD: "+",
    ChangeKind.RECREATE_RECORD: "+",
    ChangeKind.UPDATE_RECORD: "~",
    ChangeKind.ARCHIVE_RECORD: "-",
    ChangeKind.SEND_WELCOME: ">",
}
_COLOR = {"+": "32", "~": "33", "-": "31", "=": "36", ">": "35", "!": "1;31", "?": "33"}


def _v(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else f'"{value}"'


def describe(change: Change) -> str:
    why = f"({change.rule}: {change.reason})"
    match change:
        case AddAccount():
            return f"add account {change.label} {why}"
        case UpdateAccount():
            return f"update account {change.label} {why}"
        case RemoveAccount():
            return f"remove account {change.label} {why}"
        case LinkRecord():
            return f"link {change.label} to {change.integration.value} record {change.record_id} {why}"
        case RecreateRecord(request=NewPasswordEntry() as e):
            return f're-create vanished {change.integration.value} record {change.old_record_id} as a new password entry "{e.name}" (username {e.username}, category {e.category}) for {change.label} {why}'
        case RecreateRecord(request=NewContact() as c):
            return f're-create vanished {change.integration.value} record {change.old_record_id} as a new contact "{c.first_name} {c.last_name}" <{c.email or "no email"}> for {change.label} {why}'
        case CreateRecord(request=NewPasswordEntry() as e):
            return f'create {change.integration.value} password entry "{e.name}" (username {e.username}, category {e.category}) for {change.label} {why}'
        case CreateRecord(request=NewContact() as c):
            return f'create {change.integration.value} contact "{c.first_name} {c.last_name}" <{c.email or "no email"}> for {change.label} {why}'
        case UpdateRecord():
            return f"update {change.integration.value} record {change.record_id} of {change.label} {why}"
        case ArchiveRecord():
            verb = "archive" if change.integration.role is Role.VAULT else "set inactive"
            return f"{verb} {change.integration.value} record {change.record_id} of {change.label} {why}"
        case SendWelcome():
            to = change.email.to
            target = to if to == change.label else f"{to} for {change.label}"
            return f"send welcome email to {target} {why}"
    raise AssertionError(f"unknown change {change!r}")


def change_lines(change: Change) -> Iterator[tuple[str, str]]:
    """(symbol, text) lines for one change: the headline, then field diffs."""
    yield SYMBOL[change.kind], describe(change)
    if isinstance(change, UpdateAccount | UpdateRecord):
        for d in change.diffs:
            yield " ", f"    {d.name}: {_v(d.before)} -> {_v(d.after)}"


REASON_WORDS = {
    "unlicensed": "unlicensed",
    "disabled": "disabled",
    "guest": "guest",
    "excluded": "excluded",
    "not-selected": "not in a selected group or role",
    "nested-only": "in a nested group only",
    "no-entra-match": "without a licensed Entra match",
    "admin-overlap": "imported as admin instead",
    "other": "other",
}


def skipped_summary(cp: CustomerPlan) -> str:
    """ "skipped 12 directory users: 8 unlicensed, 3 disabled, 1 guests"."""
    counts = cp.skipped_counts()
    parts = ", ".join(
        f"{n} {REASON_WORDS.get(reason, reason)}{'s' if reason == 'guest' and n != 1 else ''}"
        for reason, n in counts.items()
    )
    total = len(cp.skipped)
    return f"skipped {total} directory user{'s' if total != 1 else ''}: {parts}"


def newsworthy(cp: CustomerPlan) -> bool:
    """Changes, conflicts or warnings; notes and skipped users alone are not news."""
    return bool(cp.changes or cp.conflicts or cp.warnings)


def customer_lines(cp: CustomerPlan, verbose: bool = False) -> Iterator[tuple[str, str]]:
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
    for r in cp.reads:
        yield " ", f"read: {r.line()}"
    if cp.skipped:
        more = "" if verbose else " (--verbose names them)"
        yield " ", f"note: {skipped_summary(cp)}{more}"
        if verbose:
            for s in cp.skipped:
                yield " ", f"    {s.line()}"


def _status(cp: CustomerPlan) -> str:
    if cp.status is Status.OK:
        return (
            f"{len(cp.changes)} change{'s' if len(cp.changes) != 1 else ''}" if cp.changes else "no changes"
        )
    return f"{cp.status.value.upper()}: {cp.reason}"


def render_text(plan: Plan, color: bool = False, verbose: bool = False) -> str:
    def paint(symbol: str, text: str) -> str:
        code = _COLOR.get(symbol)
        return f"\x1b[{code}m{text}\x1b[0m" if color and code else text

    out: list[str] = []
    for cp in plan.customers:
        lines = list(customer_lines(cp, verbose))
        if cp.status is Status.OK and not (newsworthy(cp) or (verbose and lines)):
            continue  # only explanations: shown with --verbose
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


_COLUMNS = (
    (ChangeKind.ADD,),
    (ChangeKind.UPDATE,),
    (ChangeKind.REMOVE,),
    (ChangeKind.LINK,),
    (ChangeKind.CREATE_RECORD, ChangeKind.RECREATE_RECORD),
    (ChangeKind.SEND_WELCOME,),
)
_HEADS = ("add", "change", "remove", "link", "create", "welcome")
# shown only when some customer has them, so plans without them render as before
_RECORD_COLUMNS = (((ChangeKind.UPDATE_RECORD,), "update record"), ((ChangeKind.ARCHIVE_RECORD,), "archive"))
MARKDOWN_CUT_NOTE = "the full plan: `reconciler show PLANFILE`"


def render_markdown(plan: Plan, limit: int = 0, cut_note: str = MARKDOWN_CUT_NOTE) -> str:
    """Summary first, trouble (refusals, errors, conflicts) prominent, details collapsed.

    Customers with nothing to show are counted, not listed, so hundreds of quiet
    customers do not crowd out the ones that change. `limit` > 0 keeps the text
    within that many characters: it is cut at a line, open code and <details>
    blocks are closed, and a visible note says what was left out and `cut_note`.
    No timestamps: the same plan always renders the same text (golden files).
    """
    s = plan.summary()
    out = ["## reconciler plan", "", f"**{_md(s.line())}**", ""]
    trouble = [cp for cp in plan.customers if cp.status in (Status.REFUSED, Status.ERROR) or cp.conflicts]
    if trouble:
        out.append("> [!WARNING]")
        for cp in sorted(trouble, key=lambda cp: cp.status is Status.OK):
            if cp.status in (Status.REFUSED, Status.ERROR):
                out.append(
                    f"> **{cp.customer}** {cp.status.value}, nothing is applied for it: {_md(cp.reason)}"
                )
            for c in cp.conflicts:
                out.append(
                    f"> **{cp.customer}** conflict: {_code(c.label)} in {c.integration.value}: {_md(c.cause)}; "
                    f"resolve with a pin: {_code(c.pin)}"
                )
        out.append("")
    shown = [cp for cp in plan.customers if cp.status is not Status.OK or newsworthy(cp)]
    quiet = len(plan.customers) - len(shown)
    if shown:
        extra = [(kinds, head) for kinds, head in _RECORD_COLUMNS if any(cp.count(*kinds) for cp in shown)]
        columns = [*_COLUMNS[:5], *(kinds for kinds, _ in extra), _COLUMNS[5]]
        heads = [*_HEADS[:5], *(head for _, head in extra), _HEADS[5], "conflicts"]
        out += [
            f"| customer | status | {' | '.join(heads)} |",
            "|---|---|" + "---:|" * len(heads),
        ]
        for cp in shown:
            counts = [cp.count(*kinds) for kinds in columns] + [len(cp.conflicts)]
            out.append(f"| {cp.customer} | {cp.status.value} | {' | '.join(map(str, counts))} |")
        out.append("")
    if quiet:
        out += [f"{quiet} {'customer has' if quiet == 1 else 'customers have'} no changes.", ""]
    out += _reads_line(plan)
    for cp in shown:
        lines = [f"{sym if sym in '+-!' else ' '} {text}" for sym, text in customer_lines(cp, verbose=True)]
        if not lines:
            continue
        fence = code_fence(lines)
        out += [f"<details><summary>{cp.customer}: {_md(_status(cp))}</summary>", "", f"{fence}diff"]
        out += [*lines, fence, "", "</details>", ""]
    if limit and len("\n".join(out)) > limit:
        return _cut(out, limit, len(shown), cut_note)
    return "\n".join(out)


def _reads_line(plan: Plan) -> list[str]:
    """When the integrations were last listed in full: the oldest, and how many were not
    listed this run (quiet customers are not shown one by one)."""
    reads = [r for cp in plan.customers for r in cp.reads]
    if not reads:
        return []
    listed = sum(1 for r in reads if r.listed)
    return [
        f"Integrations: {listed} of {len(reads)} listed in full by this plan; {len(reads) - listed} not "
        "listed (links unchanged, proven again every verifyLinksEveryHours; each customer's details "
        "and `--format json` say when each was last listed in full).",
        "",
    ]


def _cut(lines: list[str], limit: int, total: int, cut_note: str) -> str:
    """The first lines that fit in `limit` with the blocks they open closed, then the note."""
    reserve = 400 + len(cut_note)  # closers and the note; the note's numbers are short
    kept: list[str] = []
    size = 0
    fence = ""
    details = False
    listed = 0
    for line in lines:
        if size + len(line) + 1 > limit - reserve:
            break
        kept.append(line)
        size += len(line) + 1
        if line.startswith("<details>"):
            details, listed = True, listed + 1
        elif line == "</details>":
            details = False
        elif fence and line == fence:
            fence = ""
        elif not fence and (m := re.fullmatch(r"(`{3,})diff", line)):
            fence = m.group(1)
    complete = listed - (1 if details else 0)
    if fence:
        kept.append(fence)
    if details:
        kept += ["", "</details>"]
    kept += [
        "",
        "> [!NOTE]",
        f"> Cut here: this plan is longer than {limit} characters; the details of "
        f"{total - complete} of {total} customers are not shown in full. {cut_note}",
        "",
    ]
    return "\n".join(kept)


def code_fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks inside, so no line can close it early."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _code(text: str) -> str:
    """Inline code that survives backticks in `text` (CommonMark code spans)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    tick = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{tick}{pad}{text}{pad}{tick}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
