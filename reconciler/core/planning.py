"""Pure core, planning stage: desired vs managed state -> one customer's plan.

Accounts are diffed by key (dict lookups) and compared field by field. Matching
adds links, record creations and conflicts; new accounts owe a welcome email
(R16). Safety is part of planning: a plan that removes too much, or that comes
from a directory answering with no users at all, is refused unless overridden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from string import Formatter
from typing import Any

from reconciler.config.models import Safety, Source
from reconciler.config.resolve import EffectiveCustomer
from reconciler.config.values import one_line
from reconciler.core.desired import Desired, LiveDirectories, desired_accounts, person
from reconciler.core.drift import owned_fingerprint
from reconciler.core.guards import identity_guard, link_guard, update_guard
from reconciler.core.matching import (
    CREATE_CATEGORY,
    Decision,
    MatchResult,
    match_contacts,
    match_password_entries,
)
from reconciler.core.model import (
    Account,
    AccountClass,
    DirSource,
    IntegrationKind,
    ManagedState,
    NewContact,
    NewPasswordEntry,
    PasswordEntry,
    PsaContact,
    WelcomeEmail,
    WelcomeStatus,
    marker_for,
)
from reconciler.core.plan import (
    AddAccount,
    Change,
    ChangeKind,
    Conflict,
    CreateRecord,
    CustomerPlan,
    FieldDiff,
    LinkRecord,
    RecordRequest,
    RecreateRecord,
    RemoveAccount,
    SendWelcome,
    Skipped,
    Status,
    UpdateAccount,
)
from reconciler.core.records import record_archives, record_fields_of, record_updates
from reconciler.integrations.kinds import Role


@dataclass(frozen=True)
class CustomerLive:
    """What the providers read for one customer (None = not read / not configured)."""

    directories: LiveDirectories = field(default_factory=LiveDirectories)
    entries: tuple[PasswordEntry, ...] | None = None
    vault_kind: IntegrationKind | None = None
    contacts: tuple[PsaContact, ...] | None = None
    contacts_kind: IntegrationKind | None = None


@dataclass(frozen=True)
class PlanOptions:
    allow_mass_removal: bool = False
    welcome_subject: str = "Welcome, {display_name}"
    welcome_template: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    allow_mass_update: bool = False  # R25: updates beyond the safety threshold


def plan_customer(
    customer: EffectiveCustomer,
    live: CustomerLive,
    managed: ManagedState,
    options: PlanOptions,
    desired: Desired | None = None,
) -> CustomerPlan:
    """`desired`: the accounts of `live.directories` when the caller computed them already."""
    name = customer.name
    if desired is None:
        desired = desired_accounts(customer, live.directories)
    changes: list[Change] = []
    warnings: list[str] = [*_reader_warnings(live.directories), *desired.warnings]
    notes = _reader_notes(live.directories)
    skipped = tuple(
        Skipped(n.account_class.value, n.user, n.reason.value, n.rule, n.message, n.user_id)
        for n in desired.notes
    )
    managed = moved(managed, desired.accounts)

    kept = [desired.accounts[k] for k in sorted(desired.accounts)]
    changes.extend(_account_changes(kept, managed.accounts, _entra_rules(customer)))
    removed = {c.account_key for c in changes if c.kind is ChangeKind.REMOVE}

    conflicts: list[Conflict] = []
    enabled = {
        cls: b.settings.options
        for cls, b in ((AccountClass.END_USER, customer.end_user), (AccountClass.ADMIN, customer.admin))
        if b is not None
    }

    def with_option(option: str) -> list[Account]:
        classes = {cls for cls, opts in enabled.items() if getattr(opts, option)}
        if len(classes) == len(AccountClass):
            return kept
        return [a for a in kept if a.account_class in classes]

    def not_detached(accounts: list[Account], kind: IntegrationKind) -> list[Account]:
        """`state rm` of a link: neither linked again nor created until `state import`."""
        if not managed.detached:
            return accounts
        held = [a for a in accounts if (a.key, kind) in managed.detached]
        for a in held:
            warnings.append(
                f"{a.upn}: its {kind.value} link was removed with `reconciler state rm` (record "
                f"{managed.detached[(a.key, kind)]}); nothing is linked or created until `reconciler state import`"
            )
        return [a for a in accounts if (a.key, kind) not in managed.detached] if held else accounts

    pins = customer.doc.spec.pins
    vanished: list[str | None] = []  # link guard: answers missing our linked records (#12)
    owned = record_fields_of(customer)
    lookups: dict[IntegrationKind, _ById] = {}
    updates: list[Change] = []
    linked_records = 0
    if live.entries is not None and live.vault_kind is not None:
        results = match_password_entries(
            name,
            not_detached(with_option("password_entry_matching"), live.vault_kind),
            live.entries,
            managed.links,
            pins,
            live.vault_kind,
        )
        by_id = lookups[live.vault_kind] = _ById(live.entries)
        _integration_changes(name, results, changes, conflicts, warnings, managed, by_id)
        held = _linked(results)
        linked_records += len(held)
        updates += record_updates(name, held, live.vault_kind, by_id.get, owned)
        vanished.append(link_guard(customer.safety, live.vault_kind, managed.links.values(), live.entries))
    if live.contacts is not None and live.contacts_kind is not None:
        results = match_contacts(
            name,
            not_detached(with_option("contact_matching"), live.contacts_kind),
            live.contacts,
            managed.links,
            pins,
            live.contacts_kind,
        )
        by_id = lookups[live.contacts_kind] = _ById(live.contacts)
        _integration_changes(name, results, changes, conflicts, warnings, managed, by_id)
        held = _linked(results)
        linked_records += len(held)
        updates += record_updates(name, held, live.contacts_kind, by_id.get, owned)
        vanished.append(
            link_guard(customer.safety, live.contacts_kind, managed.links.values(), live.contacts)
        )
    changes.extend(updates)
    removals = [c for c in changes if isinstance(c, RemoveAccount)]
    if removals:  # R8 onRemoval: archive, applied before the accounts are forgotten
        getters = {kind: by_id.get for kind, by_id in lookups.items()}
        changes.extend(record_archives(customer, removals, managed.links, getters))

    adds = {c.account_key for c in changes if c.kind is ChangeKind.ADD}
    for account in with_option("welcome_email"):
        status = managed.welcome.get(account.key)
        # R16: once per account, ever: a returning account that was welcomed is not welcomed again
        owed = (account.key in adds and status is None) or status is WelcomeStatus.DUE
        if status is WelcomeStatus.PENDING:
            warnings.append(
                f"{account.upn}: a welcome email send was interrupted; it may or may not have arrived and is not resent (R16)"
            )
        elif owed and not account.mail:
            warnings.append(f"{account.upn}: no email address; no welcome email (R16)")
        elif owed and account.mail:
            changes.append(
                SendWelcome(
                    account.key,
                    account.upn,
                    "R16",
                    "new account, welcome email sent once",
                    render_welcome(name, account, options),
                )
            )

    plan_status, reason = _safety(customer, live.directories, managed, removed, options)
    refusals = [r for r in vanished if r]
    if plan_status is Status.OK and refusals and not options.allow_mass_removal:
        plan_status, reason = Status.REFUSED, "; ".join(refusals)
    mass_update = update_guard(customer.safety, linked_records, len(updates))
    if plan_status is Status.OK and mass_update and not options.allow_mass_update:
        plan_status, reason = Status.REFUSED, mass_update
    records: list[tuple[IntegrationKind, PasswordEntry | PsaContact]] = [
        *((e.integration, e) for e in live.entries or ()),
        *((c.integration, c) for c in live.contacts or ()),
    ]
    identity = identity_guard(name, managed, records)  # never overridden: see core/guards.py
    if identity is not None:
        plan_status, reason = Status.REFUSED, identity
    if plan_status is Status.OK and customer.paused:
        plan_status, reason = Status.PAUSED, "changes are planned but never applied while paused (R10)"
    return CustomerPlan(
        name,
        plan_status,
        managed.serial,
        tuple(changes),
        tuple(conflicts),
        tuple(warnings),
        tuple(notes),
        reason,
        skipped,
    )


def _reader_warnings(live: LiveDirectories) -> list[str]:
    return [w for snap in (live.entra, live.ad) if snap is not None for w in snap.warnings]


def _reader_notes(live: LiveDirectories) -> list[str]:
    if live.entra is None or live.entra.roles_read_at is None:
        return []
    at = datetime.fromtimestamp(live.entra.roles_read_at, UTC).isoformat(timespec="minutes")
    return [
        f"Entra directory roles as read at {at} (role assignments have no delta: they are read "
        "every fullSyncEveryHours, on import now and with --full-sync) (R23)"
    ]


def moved(managed: ManagedState, desired: dict[str, Account]) -> ManagedState:
    """A person who changes class (end user <-> admin) is a move, not a remove + add:
    their managed account, links and welcome status are carried to the new key, so
    the plan shows one update (`account_class` diff), no new record and no second
    welcome email."""
    gone = {person(k): k for k in managed.accounts if k not in desired}
    moves = {gone[person(k)]: k for k in desired if k not in managed.accounts and person(k) in gone}
    if not moves:
        return managed
    accounts = dict(managed.accounts)
    for old, new in moves.items():
        accounts[new] = replace(accounts.pop(old), key=new)
    links = {
        (moves.get(key, key), kind): replace(link, account_key=moves.get(key, key))
        for (key, kind), link in managed.links.items()
    }
    welcome = dict(managed.welcome)
    for old, new in moves.items():
        if old in welcome and new not in welcome:
            welcome[new] = welcome.pop(old)
    # lineage, adoptions, detached links and fingerprints come along (the identity guard
    # and the read decision look at them)
    detached = {(moves.get(key, key), kind): rid for (key, kind), rid in managed.detached.items()}
    prints = {(moves.get(key, key), kind): fp for (key, kind), fp in managed.fingerprints.items()}
    return replace(
        managed, accounts=accounts, links=links, welcome=welcome, detached=detached, fingerprints=prints
    )


def _add_rule(acct: Account, entra_rules: dict[AccountClass, str]) -> str:
    if acct.password_sync:
        return "R3"
    if acct.sources == (DirSource.ENTRA,):
        return entra_rules.get(acct.account_class, "R1")
    return "R2"


def _entra_rules(customer: EffectiveCustomer) -> dict[AccountClass, str]:
    """R23 for administrators by role, R22 for end users selected by group, licence
    or exclusion, R1 for the plain "every licensed user"."""
    out: dict[AccountClass, str] = {}
    for cls, binding in ((AccountClass.END_USER, customer.end_user), (AccountClass.ADMIN, customer.admin)):
        if binding is None or binding.settings.source is not Source.ENTRA:
            continue
        sel = binding.settings.selection
        plain = not (sel.groups or sel.skus or sel.roles or not sel.exclude.empty or sel.include_guests)
        out[cls] = "R23" if cls is AccountClass.ADMIN else ("R1" if plain else "R22")
    return out


def _account_changes(
    desired: list[Account], managed: dict[str, Account], entra_rules: dict[AccountClass, str] | None = None
) -> list[Change]:
    """Removals, then additions and updates; `desired` is sorted by key."""
    entra_rules = entra_rules or {}
    out: list[Change] = []
    for key in sorted(managed.keys() - {a.key for a in desired}):
        old = managed[key]
        out.append(RemoveAccount(key, old.upn, "R8", "no longer selected, licensed or enabled", old))
    for acct in desired:
        key = acct.key
        old_acct = managed.get(key)
        if old_acct is None:
            src = _add_rule(acct, entra_rules)
            out.append(AddAccount(key, acct.upn, src, "selected by the import settings", acct))
            continue
        if old_acct == acct:
            continue
        before, after = old_acct.fields(), acct.fields()
        diffs = tuple(FieldDiff(f, before[f], after[f]) for f in before if before[f] != after[f])
        if old_acct.account_class is not acct.account_class:
            move = FieldDiff(CLASS_FIELD, old_acct.account_class.value, acct.account_class.value)
            why = "moved between end user and admin; links and welcome status kept"
            out.append(UpdateAccount(key, acct.upn, "R7", why, acct, (move, *diffs)))
            continue
        if not diffs and old_acct.sources == acct.sources:
            continue
        if old_acct.sources != acct.sources:
            diffs = (
                *diffs,
                FieldDiff("sources", [s.value for s in old_acct.sources], [s.value for s in acct.sources]),
            )
        rule = _update_rule(diffs)
        out.append(UpdateAccount(key, acct.upn, rule, "directory or option changed", acct, diffs))
    return out


CLASS_FIELD = "account_class"  # an update with this diff moves the account from its old key


def moved_from(change: UpdateAccount) -> str | None:
    """The key an update moves the account from (a class change), or None."""
    for d in change.diffs:
        if d.name == CLASS_FIELD:
            return f"{d.before}/{person(change.account_key)}"
    return None


def _update_rule(diffs: tuple[FieldDiff, ...]) -> str:
    names = {d.name for d in diffs}
    if names == {"self_serve"}:
        return "R17"
    if names == {"password_remember"}:
        return "R15"
    if names & {"password_sync", "entra_id", "sources"}:
        return "R3"
    return "R1"


def _linked(results: list[MatchResult]) -> list[tuple[Account, str]]:
    """(account, record id) of every record an account keeps or gets linked to."""
    return [
        (r.account, r.record_id)
        for r in results
        if r.record_id is not None and r.decision in (Decision.KEEP, Decision.LINK)
    ]


class _ById:
    """Records by id, indexed on the first lookup (only plans that link need it)."""

    def __init__(self, records: Sequence[PasswordEntry | PsaContact]) -> None:
        self._records = records
        self._index: dict[str, PasswordEntry | PsaContact] | None = None

    def get(self, record_id: str) -> PasswordEntry | PsaContact | None:
        if self._index is None:
            self._index = {r.id: r for r in self._records}
        return self._index.get(record_id)


def _integration_changes(
    customer: str,
    results: list[MatchResult],
    changes: list[Change],
    conflicts: list[Conflict],
    warnings: list[str],
    managed: ManagedState,
    records: _ById,
) -> None:
    links = managed.links
    for r in results:
        acct, kind = r.account, r.integration
        if r.decision is Decision.LINK:
            assert r.record_id is not None
            record = records.get(r.record_id)
            fingerprint = owned_fingerprint(record) if record is not None else ""
            changes.append(LinkRecord(acct.key, acct.upn, r.rule, r.reason, kind, r.record_id, fingerprint))
        elif r.decision is Decision.CREATE:
            marker = marker_for(customer, acct.key)
            request: RecordRequest
            if kind.role is Role.VAULT:
                source = DirSource.AD if DirSource.AD in acct.sources else DirSource.ENTRA
                request = NewPasswordEntry(
                    acct.display_name or acct.upn, acct.upn, CREATE_CATEGORY[source], marker
                )
            else:
                first, last = _names(acct)
                if acct.mail is None:
                    warnings.append(
                        f"{acct.upn}: no email address; the new {kind.value} contact has none (R14)"
                    )
                request = NewContact(first, last, acct.mail, marker)
            # a linked record that vanished is re-created only as its own kind of change,
            # naming the old record, so it counts toward the link guard's threshold
            lost = links.get((acct.key, kind))
            if lost is not None:
                changes.append(
                    RecreateRecord(acct.key, acct.upn, r.rule, r.reason, kind, request, lost.record_id)
                )
            else:
                changes.append(CreateRecord(acct.key, acct.upn, r.rule, r.reason, kind, request))
        elif r.decision is Decision.CONFLICT:
            pin = f'{{account: {acct.upn}, integration: {kind.value}, recordId: "<one of: {", ".join(c.id for c in r.candidates)}>"}}'
            conflicts.append(
                Conflict(
                    acct.key,
                    acct.upn,
                    kind,
                    r.reason,
                    tuple((c.id, c.label, c.detail) for c in r.candidates),
                    pin,
                )
            )
        elif r.decision is Decision.MISSING_PIN:
            warnings.append(f"{acct.upn}: {r.reason}; nothing linked in {kind.value} (R18)")


def _names(acct: Account) -> tuple[str, str]:
    if acct.given_name and acct.surname:
        return acct.given_name, acct.surname
    words = (acct.display_name or acct.upn.split("@")[0]).split()
    return (words[0], " ".join(words[1:]) or words[0]) if words else (acct.upn, acct.upn)


def _safety(
    customer: EffectiveCustomer,
    live: LiveDirectories,
    managed: ManagedState,
    removed: set[str],
    options: PlanOptions,
) -> tuple[Status, str]:
    if not removed or options.allow_mass_removal:
        return Status.OK, ""
    existing = len(managed.accounts)
    empty = [
        label
        for label, snap in (("Entra", live.entra), ("Active Directory", live.ad))
        if snap is not None and not snap.users
    ]
    if empty:
        return Status.REFUSED, (
            f"{' and '.join(empty)} returned no users; refusing to remove {len(removed)} of {existing} accounts "
            "(use --allow-mass-removal if this is intended)"
        )
    refusal = removal_guard(customer.safety, existing, len(removed))
    return (Status.REFUSED, refusal) if refusal else (Status.OK, "")


def removal_guard(safety: Safety, existing: int, removing: int) -> str | None:
    """Why removing `removing` of `existing` accounts needs an override, or None.

    Removing every account is always refused (a dropped license SKU, a renamed group
    or a mistyped label can select nobody while the directory still answers); beyond
    that, more than `maxRemovalPercent` once a customer has `minExistingAccounts`."""
    if not removing:
        return None
    if removing >= existing:
        return (
            f"would remove all {existing} accounts: nothing is selected any more; "
            "use --allow-mass-removal if this is intended"
        )
    percent = 100.0 * removing / existing
    if existing >= safety.min_existing_accounts and percent > safety.max_removal_percent:
        return (
            f"would remove {removing} of {existing} accounts ({percent:.0f}% > {safety.max_removal_percent:g}% "
            "limit); use --allow-mass-removal if this is intended"
        )
    return None


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render_welcome(customer: str, account: Account, options: PlanOptions) -> WelcomeEmail:
    """R16: fill the template with the account's fields; unknown names become empty."""
    values = _Fields({k: v if v is not None else "" for k, v in account.fields().items()})
    values["customer"] = customer
    body = _format(options.welcome_template or "Welcome, {display_name}!\n", values)
    # a header is one line: a CR/LF or bidi control in a display name is folded away here,
    # so the plan shows the subject that is sent (the mailers fold again for older plans)
    subject = one_line(_format(options.welcome_subject, values))
    return WelcomeEmail(account.mail or "", subject, body, marker_for(customer, account.key))


def _format(template: str, values: _Fields) -> str:
    """str.format with only plain names (no attribute or index access in templates)."""
    out = []
    for literal, name, _spec, _conv in Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(str(values[name]) if name.isidentifier() else "{" + name + "}")
    return "".join(out)
